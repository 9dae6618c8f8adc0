/**
 * "Edit Selection…" and "Generate From Comment": ask for an instruction, stream the model's
 * text into the review (`starcoder.preview`: inline in the editor, hunk by hunk, see
 * review/flow.ts; or a diff preview), then Accept / Reject; a refused (stale) edit offers
 * Retry. With the preview off the edit applies at once.
 */
import * as vscode from 'vscode';
import { type PreviewSession, toRange } from '../preview';
import { EditResult, Range as LspRange, REQ_EDIT } from '../protocol';
import { previewMode, runInlineReview } from '../review';
import type { Host } from './host';
import { basename, errorMessage, shorten } from './messages';
import { readEditReply } from './reply';
import { editLabel, editParams } from './request';
import { Generation, streamRequest } from './stream';
import { CommandArgs, resolveTarget } from './target';

export interface EditRequest {
  uri: vscode.Uri;
  range: LspRange;
  instruction?: string;
  mode: 'edit' | 'generate';
  /** Code to use as the answer (chat's Apply): the server makes the edit without the model. */
  answer?: string;
}

export type EditOutcome =
  | { status: 'accepted'; result: EditResult; range?: LspRange }
  | { status: 'rejected'; result: EditResult }
  /** Inline review: some hunks accepted, others rejected (or edited by the user). */
  | { status: 'partial'; result: EditResult; accepted: number; rejected: number; takenOver: number }
  | { status: 'cancelled'; elapsedMs: number }
  | { status: 'empty'; result?: EditResult }
  | { status: 'conflict'; result: EditResult; message: string }
  | { status: 'error'; message: string }
  | { status: 'unavailable' }
  | { status: 'dismissed' };

export class EditFlow {
  /** The last outcome (for tests and the status menu). */
  lastEdit: EditOutcome | undefined;

  constructor(
    private readonly host: Host,
    private readonly generation: Generation,
  ) {}

  /** Asks for an instruction, offering the recent ones. Undefined when dismissed. */
  async askInstruction(placeholder?: string): Promise<string | undefined> {
    const recent = this.host.history.recent();
    const pick = vscode.window.createQuickPick<vscode.QuickPickItem>();
    pick.title = 'StarCoder: Edit Selection';
    pick.placeholder = placeholder ?? 'Describe the change, e.g. "add type hints" (recent instructions below)';
    pick.matchOnDescription = false;
    pick.ignoreFocusOut = true;
    const recentItems: vscode.QuickPickItem[] = recent.map((label) => ({ label, description: 'recent' }));
    pick.items = recentItems;
    pick.onDidChangeValue((value) => {
      const typed = value.trim();
      const matching = recentItems.filter((item) => item.label.toLowerCase().includes(typed.toLowerCase()));
      pick.items = typed && !recent.includes(typed) ? [{ label: typed, description: 'new instruction', alwaysShow: true }, ...matching] : matching;
    });
    const result = await new Promise<string | undefined>((resolve) => {
      pick.onDidAccept(() => {
        const chosen = pick.selectedItems[0]?.label ?? pick.activeItems[0]?.label ?? pick.value;
        resolve(chosen?.trim() || pick.value.trim() || undefined);
        pick.hide();
      });
      pick.onDidHide(() => resolve(undefined));
      pick.show();
    });
    pick.dispose();
    return result;
  }

  /** "StarCoder: Edit Selection…" */
  async editSelection(args: CommandArgs = {}): Promise<EditOutcome> {
    const target = await resolveTarget(args);
    if (!target) return { status: 'dismissed' };
    let instruction = args.instruction?.trim();
    if (!instruction) {
      instruction = await this.askInstruction();
      if (!instruction) return { status: 'dismissed' };
    }
    await this.host.history.add(instruction);
    return this.runEdit({ uri: target.uri, range: target.range, instruction, mode: 'edit' }, args);
  }

  /** "StarCoder: Generate From Comment" */
  async generateFromComment(args: CommandArgs = {}): Promise<EditOutcome> {
    const target = await resolveTarget(args);
    if (!target) return { status: 'dismissed' };
    return this.runEdit({ uri: target.uri, range: target.range, instruction: args.instruction?.trim() || undefined, mode: 'generate' }, args);
  }

  async runEdit(req: EditRequest, args: CommandArgs): Promise<EditOutcome> {
    const outcome = await this.runEditInner(req, args);
    this.lastEdit = outcome;
    this.host.log(`edit ${req.mode} ${req.uri.toString()}: ${outcome.status}${'message' in outcome ? ` (${outcome.message})` : ''}`);
    return outcome;
  }

  private async runEditInner(req: EditRequest, args: CommandArgs): Promise<EditOutcome> {
    const client = await this.host.client();
    if (!client) return { status: 'unavailable' };
    this.generation.cancel();
    const mode = args.preview !== undefined ? previewMode(args.preview) : this.host.previewMode();
    if (mode === 'inline') {
      return runInlineReview(this.host, this.generation, client, req, args, (message) => void this.offerRetry(req, args, message));
    }
    const document = await vscode.workspace.openTextDocument(req.uri);
    const usePreview = mode === 'diff';
    const label = editLabel(req);
    const session = this.host.previews.begin(document, req.range, req.mode, `${basename(req.uri)} ↔ StarCoder: ${shorten(label, 40)}`);
    const source = new vscode.CancellationTokenSource();
    this.generation.set(source);
    try {
      if (usePreview) await session.show();
      const reply = await streamRequest<unknown>(
        this.host,
        client,
        REQ_EDIT,
        editParams(req),
        `StarCoder: ${shorten(label)}`,
        (text) => session.stream(text),
        source,
      );
      this.generation.set(undefined);
      const read = await readEditReply(this.host, reply, () => session.close(), (message) => void this.offerRetry(req, args, message));
      if ('status' in read) return read;
      const result = read;
      const changes = session.finish(result);
      if (!changes) {
        await session.close();
        const why = result.message ? ` (${result.message})` : '';
        void vscode.window.showInformationMessage(`StarCoder: the model proposed no change${why}.`);
        return { status: 'empty', result };
      }
      let decision: 'accept' | 'reject';
      if (!usePreview) decision = 'accept';
      else if (args.decision) decision = args.decision;
      else decision = await this.askDecision(session, result);
      if (decision === 'reject') {
        await session.close();
        return { status: 'rejected', result };
      }
      const accepted = await session.accept();
      await session.close();
      if (accepted.applied) {
        await this.reveal(document.uri, accepted.range);
        return { status: 'accepted', result, range: accepted.range };
      }
      if (accepted.reason === 'empty') return { status: 'empty', result };
      void this.offerRetry(req, args, accepted.message);
      return { status: 'conflict', result, message: accepted.message };
    } finally {
      this.generation.release(source);
      source.dispose();
      this.host.previews.end(session);
    }
  }

  /** Accept / Reject: a notification, the diff editor's title buttons or the keybindings. */
  private async askDecision(session: PreviewSession, result: EditResult): Promise<'accept' | 'reject'> {
    const stats = result.stats;
    const parts: string[] = [];
    if (stats.completion_tokens) parts.push(`${stats.completion_tokens} tokens`); // 0: chat's Apply, no model
    if (stats.completion_tokens && typeof stats.tokens_per_second === 'number') parts.push(`${stats.tokens_per_second.toFixed(1)} tok/s`);
    const speed = parts.length ? ` (${parts.join(', ')})` : '';
    const note = vscode.window
      .showInformationMessage(`StarCoder: review the proposed edit${speed}.`, 'Accept', 'Reject')
      .then((choice) => {
        if (choice === 'Accept') session.decide('accept');
        else if (choice === 'Reject') session.decide('reject');
      });
    void note;
    return session.decision;
  }

  private async offerRetry(req: EditRequest, args: CommandArgs, message: string): Promise<void> {
    const choice = await vscode.window.showWarningMessage(`StarCoder: the edit was not applied: ${message}.`, 'Retry');
    if (choice === 'Retry') await this.runEdit(req, { ...args, decision: undefined });
  }

  private async reveal(uri: vscode.Uri, range: LspRange | undefined): Promise<void> {
    try {
      const editor = await vscode.window.showTextDocument(uri, { preview: false });
      if (range) {
        const r = toRange(range);
        editor.selection = new vscode.Selection(r.start, r.end);
        editor.revealRange(r, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      }
    } catch (err) {
      this.host.log(`could not reveal ${uri.toString()}: ${errorMessage(err)}`);
    }
  }
}
