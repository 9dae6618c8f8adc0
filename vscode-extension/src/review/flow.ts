/**
 * An edit reviewed inline (`starcoder.preview: "inline"`): the answer streams into the
 * document, then the server's edit is laid out hunk by hunk and the flow waits until every
 * hunk is accepted or rejected (code lenses, keybindings, Accept All / Reject All).
 */
import * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient';
import type { EditOutcome, EditRequest } from '../commands/edit';
import type { Host } from '../commands/host';
import { shorten } from '../commands/messages';
import { readEditReply } from '../commands/reply';
import { editLabel, editParams } from '../commands/request';
import { Generation, streamRequest } from '../commands/stream';
import type { CommandArgs } from '../commands/target';
import { EditResult, REQ_EDIT } from '../protocol';
import type { ReviewSummary } from './session';

export async function runInlineReview(
  host: Host,
  generation: Generation,
  client: BaseLanguageClient,
  req: EditRequest,
  args: CommandArgs,
  offerRetry: (message: string) => void,
): Promise<EditOutcome> {
  const document = await vscode.workspace.openTextDocument(req.uri);
  const label = editLabel(req);
  // A review already open on this document ends first (its text out of the document).
  await host.reviews.sessionFor(document.uri)?.abort();
  const review = host.reviews.begin(document, req.range, req.mode);
  // A selection would grow over the lines the review inserts after it: leave the cursor.
  const at = new vscode.Position(req.range.start.line, req.range.start.character);
  for (const editor of vscode.window.visibleTextEditors) {
    if (editor.document === document) editor.selection = new vscode.Selection(at, at);
  }
  const source = new vscode.CancellationTokenSource();
  generation.set(source);
  let hint: vscode.Disposable | undefined;
  try {
    // The edit for the version the review began on: the streamed text in the document is
    // ours, and the review moves the edit through the user's own changes.
    const reply = await streamRequest<unknown>(host, client, REQ_EDIT, editParams(req, false), `StarCoder: ${shorten(label)}`, (text) => review.stream(text), source);
    generation.set(undefined);
    const read = await readEditReply(host, reply, () => review.abort(), offerRetry);
    if ('status' in read) return read;
    const result = read;
    const shown = await review.show(result);
    if (shown.status === 'empty') {
      const why = result.message ? ` (${result.message})` : '';
      void vscode.window.showInformationMessage(`StarCoder: the model proposed no change${why}.`);
      return { status: 'empty', result };
    }
    if (shown.status === 'conflict') {
      offerRetry(shown.message);
      return { status: 'conflict', result, message: shown.message };
    }
    const count = `${shown.hunks} change${shown.hunks === 1 ? '' : 's'}`;
    hint = vscode.window.setStatusBarMessage(`StarCoder: ${count} to review — Accept / Reject on each, Ctrl+Alt+Y / Ctrl+Alt+N for all`);
    if (args.decision) void review.decide('all', args.decision);
    return outcomeOf(result, await review.done);
  } finally {
    hint?.dispose();
    generation.release(source);
    source.dispose();
    if (!review.isFinished) await review.abort();
  }
}

function outcomeOf(result: EditResult, summary: ReviewSummary): EditOutcome {
  if (summary.accepted && !summary.rejected && !summary.takenOver && !summary.aborted) return { status: 'accepted', result };
  if (!summary.accepted && !summary.takenOver) return { status: 'rejected', result };
  return { status: 'partial', result, accepted: summary.accepted, rejected: summary.rejected, takenOver: summary.takenOver };
}
