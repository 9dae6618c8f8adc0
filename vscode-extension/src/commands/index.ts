/**
 * The user-facing flows, as extension.ts registers them: edit with an instruction, generate
 * from a comment (edit.ts), each streamed (stream.ts), and explain (explain.ts, which opens
 * a chat). This class holds what they share, the one generation that runs at a time, and
 * routes the server's code actions.
 */
import * as vscode from 'vscode';
import type { ChatController } from '../chat/controller';
import { CMD_EXPLAIN, CMD_GENERATE, isRange } from '../protocol';
import { EditFlow, EditOutcome } from './edit';
import { ExplainFlow, ExplainOutcome } from './explain';
import type { Host } from './host';
import { Generation } from './stream';
import { CommandArgs, resolveTarget } from './target';

export class Commands implements vscode.Disposable {
  /** The one generation that runs at a time (edits, explanations, chat answers). */
  readonly generation = new Generation();
  readonly edits: EditFlow;
  readonly explanations: ExplainFlow;

  constructor(readonly host: Host) {
    this.edits = new EditFlow(host, this.generation);
    this.explanations = new ExplainFlow(host);
  }

  /** Explanations open as the first turn of this chat. */
  attachChat(chat: ChatController): void {
    this.explanations.chat = chat;
  }

  dispose(): void {
    this.cancel();
  }

  /** The last outcome of the edit flow (for tests and the status menu). */
  get lastEdit(): EditOutcome | undefined {
    return this.edits.lastEdit;
  }

  get isGenerating(): boolean {
    return this.generation.running !== undefined;
  }

  /** Stops the generation in progress, if any. */
  cancel(): boolean {
    return this.generation.cancel();
  }

  /** "StarCoder: Edit Selection…" */
  editSelection(args: CommandArgs = {}): Promise<EditOutcome> {
    return this.edits.editSelection(args);
  }

  /** "StarCoder: Generate From Comment" */
  generateFromComment(args: CommandArgs = {}): Promise<EditOutcome> {
    return this.edits.generateFromComment(args);
  }

  /** "StarCoder: Explain Selection" */
  explain(args: CommandArgs = {}): Promise<ExplainOutcome> {
    return this.explanations.explain(args);
  }

  /** The server's code actions (`starcoder.edit` / `starcoder.generate`), run through the preview. */
  async fromServerCommand(command: string, rawArgs: unknown[]): Promise<EditOutcome | ExplainOutcome> {
    const arg = (rawArgs[0] ?? {}) as { uri?: string; range?: unknown; instruction?: string };
    const uriText = typeof arg.uri === 'string' ? arg.uri : vscode.window.activeTextEditor?.document.uri.toString();
    if (!uriText) return { status: 'dismissed' };
    const range = isRange(arg.range) ? arg.range : undefined;
    if (command === CMD_EXPLAIN) return this.explain({ uri: uriText, range });
    const mode = command === CMD_GENERATE ? 'generate' : 'edit';
    if (mode === 'edit' && !arg.instruction) return this.editSelection({ uri: uriText, range });
    if (mode === 'edit' && arg.instruction) await this.host.history.add(arg.instruction);
    return this.edits.runEdit(
      {
        uri: vscode.Uri.parse(uriText),
        range: range ?? (await resolveTarget({ uri: uriText }))?.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        instruction: arg.instruction,
        mode,
      },
      {},
    );
  }
}
