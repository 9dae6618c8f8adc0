/**
 * The user-facing flows: edit with an instruction, generate from a comment, explain.
 *
 * Each request streams: the server reports the full text generated so far in `$/progress`
 * (work-done token sent in the params); the text shows in the diff preview as it arrives,
 * and the progress notification's Cancel sends `$/cancelRequest`, which stops the model.
 */
import * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient';
import { WorkDoneProgress } from 'vscode-languageclient';
import { InstructionHistory } from './history';
import { PreviewContentProvider, PreviewManager, fromRange, toRange } from './preview';
import {
  CMD_EDIT,
  CMD_EXPLAIN,
  CMD_GENERATE,
  EditArgs,
  EditResult,
  ExplainResult,
  Range as LspRange,
  REQ_EDIT,
  REQ_EXPLAIN,
  isRange,
  parseEditResult,
  parseExplainResult,
  progressText,
} from './protocol';

export const EXPLAIN_SCHEME = 'starcoder-explain';
export const CTX_GENERATING = 'starcoder.generating';
/** Documents the server sees (the client's document selector). */
export const SUPPORTED_SCHEMES = ['file', 'untitled'];

/** What the flows need from the rest of the extension. */
export interface Host {
  /** The running client (started on demand); undefined when the server is unavailable. */
  client(): Promise<BaseLanguageClient | undefined>;
  previews: PreviewManager;
  history: InstructionHistory;
  log(message: string): void;
  showOutput(): void;
  /** Whether to show the diff before applying (`starcoder.preview`). */
  previewEnabled(): boolean;
  /** Latest tokens/s from `starcoder/status`, for the progress message. */
  tokensPerSecond(): number | undefined;
  /** What the model is doing before text arrives (downloading 42%, loading), if anything. */
  modelActivity?(): string | undefined;
}

export interface EditRequest {
  uri: vscode.Uri;
  range: LspRange;
  instruction?: string;
  mode: 'edit' | 'generate';
}

export type EditOutcome =
  | { status: 'accepted'; result: EditResult; range?: LspRange }
  | { status: 'rejected'; result: EditResult }
  | { status: 'cancelled'; elapsedMs: number }
  | { status: 'empty'; result?: EditResult }
  | { status: 'conflict'; result: EditResult; message: string }
  | { status: 'error'; message: string }
  | { status: 'unavailable' }
  | { status: 'dismissed' };

export type ExplainOutcome =
  | { status: 'shown'; markdown: string; uri: string }
  | { status: 'cancelled'; elapsedMs: number }
  | { status: 'error'; message: string }
  | { status: 'unavailable' }
  | { status: 'dismissed' };

/** Optional argument of the client commands (keybindings, tests, other extensions). */
export interface CommandArgs {
  instruction?: string;
  uri?: string;
  range?: LspRange;
  /** Overrides `starcoder.preview` (false: apply without the diff). */
  preview?: boolean;
  /** Decide the preview without asking (tests, scripted use). */
  decision?: 'accept' | 'reject';
}

let tokenCounter = 0;
function newToken(kind: string): string {
  return `starcoder-${kind}-${Date.now().toString(36)}-${++tokenCounter}`;
}

function isCancellation(err: unknown): boolean {
  if (err instanceof vscode.CancellationError) return true;
  const e = err as { code?: number; name?: string; message?: string } | undefined;
  // RequestCancelled (-32800), ServerCancelled (-32802)
  return e?.code === -32800 || e?.code === -32802 || e?.name === 'Canceled' || /cancel/i.test(e?.message ?? '');
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function shorten(text: string, max = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A short progress line: lines written so far and speed. */
export function progressMessage(textSoFar: string | undefined, tokensPerSecond: number | undefined): string {
  if (!textSoFar) return 'waiting for the model…';
  const lines = textSoFar.split('\n').length;
  const speed = tokensPerSecond ? `, ${tokensPerSecond.toFixed(1)} tok/s` : '';
  return `writing: ${lines} line${lines === 1 ? '' : 's'}${speed}`;
}

/** Runs a request with work-done streaming, a cancellable progress notification and a cancel timeout. */
export async function streamRequest<T>(
  host: Host,
  client: BaseLanguageClient,
  method: string,
  params: EditArgs,
  title: string,
  onText: (text: string) => void,
  cancelSource: vscode.CancellationTokenSource,
): Promise<{ ok: true; value: T } | { ok: false; cancelled: true; elapsedMs: number } | { ok: false; cancelled: false; error: unknown }> {
  const token = newToken(method.replace(/\W/g, ''));
  let latest: string | undefined;
  const started = Date.now();
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, uiToken) => {
      const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'end') return;
        const text = progressText(value);
        if (text === undefined) return;
        latest = text;
        onText(text);
        progress.report({ message: progressMessage(latest, host.tokensPerSecond()) });
      });
      progress.report({ message: 'waiting for the model…' });
      let shownActivity: string | undefined;
      const activityTimer = setInterval(() => {
        if (latest !== undefined) return;
        const activity = host.modelActivity?.();
        if (activity && activity !== shownActivity) {
          shownActivity = activity;
          progress.report({ message: activity });
        }
      }, 250);
      const cancelOnUi = uiToken.onCancellationRequested(() => cancelSource.cancel());
      try {
        const request = client.sendRequest<T>(method, { ...params, workDoneToken: token }, cancelSource.token);
        // Once cancelled, wait a little for the server to confirm, not forever.
        const cancelled = new Promise<'cancelled'>((resolve) => {
          cancelSource.token.onCancellationRequested(() => setTimeout(() => resolve('cancelled'), 5000));
        });
        const value = await Promise.race([request, cancelled]);
        if (value === 'cancelled' || cancelSource.token.isCancellationRequested) {
          request.catch(() => undefined);
          return { ok: false as const, cancelled: true as const, elapsedMs: Date.now() - started };
        }
        return { ok: true as const, value: value as T };
      } catch (err) {
        if (cancelSource.token.isCancellationRequested || isCancellation(err)) {
          return { ok: false as const, cancelled: true as const, elapsedMs: Date.now() - started };
        }
        return { ok: false as const, cancelled: false as const, error: err };
      } finally {
        clearInterval(activityTimer);
        sub.dispose();
        cancelOnUi.dispose();
      }
    },
  );
}

export class Commands implements vscode.Disposable {
  private running: vscode.CancellationTokenSource | undefined;
  readonly explainDocs = new PreviewContentProvider();
  private readonly disposables: vscode.Disposable[] = [];
  private explainCounter = 0;
  /** The last outcome of each flow (for tests and the status menu). */
  lastEdit: EditOutcome | undefined;

  constructor(private readonly host: Host) {
    this.disposables.push(vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, this.explainDocs));
  }

  dispose(): void {
    this.cancel();
    this.explainDocs.dispose();
    for (const d of this.disposables) d.dispose();
  }

  get isGenerating(): boolean {
    return this.running !== undefined;
  }

  /** Stops the generation in progress, if any. */
  cancel(): boolean {
    if (!this.running) return false;
    this.running.cancel();
    return true;
  }

  private setRunning(source: vscode.CancellationTokenSource | undefined): void {
    this.running = source;
    void vscode.commands.executeCommand('setContext', CTX_GENERATING, source !== undefined);
  }

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
    const target = await this.target(args);
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
    const target = await this.target(args);
    if (!target) return { status: 'dismissed' };
    return this.runEdit({ uri: target.uri, range: target.range, instruction: args.instruction?.trim() || undefined, mode: 'generate' }, args);
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
    return this.runEdit(
      {
        uri: vscode.Uri.parse(uriText),
        range: range ?? (await this.target({ uri: uriText }))?.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        instruction: arg.instruction,
        mode,
      },
      {},
    );
  }

  private async target(args: CommandArgs): Promise<{ uri: vscode.Uri; range: LspRange; document: vscode.TextDocument } | undefined> {
    if (args.uri) {
      const uri = vscode.Uri.parse(args.uri);
      const document = await vscode.workspace.openTextDocument(uri);
      const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString());
      const range = args.range ?? (editor ? fromRange(editor.selection) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } });
      return { uri, range, document };
    }
    const editor = vscode.window.activeTextEditor;
    if (!editor || !SUPPORTED_SCHEMES.includes(editor.document.uri.scheme)) {
      void vscode.window.showInformationMessage('StarCoder: open a file and select the code first.');
      return undefined;
    }
    return { uri: editor.document.uri, range: args.range ?? fromRange(editor.selection), document: editor.document };
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
    if (this.running) {
      this.running.cancel();
    }
    const document = await vscode.workspace.openTextDocument(req.uri);
    const usePreview = args.preview ?? this.host.previewEnabled();
    const label = req.mode === 'generate' ? 'generate from comment' : (req.instruction ?? 'edit');
    const session = this.host.previews.begin(document, req.range, req.mode, `${basename(req.uri)} ↔ StarCoder: ${shorten(label, 40)}`);
    const source = new vscode.CancellationTokenSource();
    this.setRunning(source);
    try {
      if (usePreview) await session.show();
      const params: EditArgs = { uri: req.uri.toString(), range: req.range };
      if (req.instruction) params.instruction = req.instruction;
      if (req.mode === 'generate') params.mode = 'generate';
      const reply = await streamRequest<unknown>(
        this.host,
        client,
        REQ_EDIT,
        params,
        `StarCoder: ${shorten(label)}`,
        (text) => session.stream(text),
        source,
      );
      this.setRunning(undefined);
      if (!reply.ok) {
        await session.close();
        if (reply.cancelled) return { status: 'cancelled', elapsedMs: reply.elapsedMs };
        const message = errorMessage(reply.error);
        void this.showError(`StarCoder: the edit failed: ${message}`);
        return { status: 'error', message };
      }
      let result: EditResult;
      try {
        result = parseEditResult(reply.value);
      } catch (err) {
        await session.close();
        const message = errorMessage(err);
        void this.showError(`StarCoder: ${message}`);
        return { status: 'error', message };
      }
      if (!result.edit && result.reason === 'conflict') {
        await session.close();
        const message = result.message ?? 'the document changed while the model was writing';
        void this.offerRetry(req, args, message);
        return { status: 'conflict', result, message };
      }
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
      if (this.running === source) this.setRunning(undefined);
      source.dispose();
      this.host.previews.end(session);
    }
  }

  /** Accept / Reject: a notification, the diff editor's title buttons or the keybindings. */
  private async askDecision(session: import('./preview').PreviewSession, result: EditResult): Promise<'accept' | 'reject'> {
    const stats = result.stats;
    const parts: string[] = [];
    if (typeof stats.completion_tokens === 'number') parts.push(`${stats.completion_tokens} tokens`);
    if (typeof stats.tokens_per_second === 'number') parts.push(`${stats.tokens_per_second.toFixed(1)} tok/s`);
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

  private async showError(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Show Output');
    if (choice === 'Show Output') this.host.showOutput();
  }

  /** "StarCoder: Explain Selection": Markdown in a preview panel, streamed. */
  async explain(args: CommandArgs = {}): Promise<ExplainOutcome> {
    const target = await this.target(args);
    if (!target) return { status: 'dismissed' };
    const client = await this.host.client();
    if (!client) return { status: 'unavailable' };
    const uri = vscode.Uri.from({ scheme: EXPLAIN_SCHEME, path: `/StarCoder explanation ${++this.explainCounter}.md` });
    const header = `# Explanation of ${basename(target.uri)}\n\n`;
    this.explainDocs.set(uri, `${header}_The model is writing…_\n`);
    const source = new vscode.CancellationTokenSource();
    this.setRunning(source);
    const shown = this.showMarkdown(uri);
    try {
      const reply = await streamRequest<unknown>(
        this.host,
        client,
        REQ_EXPLAIN,
        { uri: target.uri.toString(), range: target.range },
        `StarCoder: explaining ${basename(target.uri)}`,
        (text) => this.explainDocs.set(uri, header + text),
        source,
      );
      if (!reply.ok) {
        if (reply.cancelled) {
          this.explainDocs.set(uri, `${this.explainDocs.get(uri) ?? header}\n\n_Cancelled._\n`);
          return { status: 'cancelled', elapsedMs: reply.elapsedMs };
        }
        const message = errorMessage(reply.error);
        this.explainDocs.set(uri, `${header}_Failed: ${message}_\n`);
        void this.showError(`StarCoder: explaining failed: ${message}`);
        return { status: 'error', message };
      }
      let result: ExplainResult;
      try {
        result = parseExplainResult(reply.value);
      } catch (err) {
        return { status: 'error', message: errorMessage(err) };
      }
      this.explainDocs.set(uri, header + result.value);
      await shown;
      return { status: 'shown', markdown: result.value, uri: uri.toString() };
    } finally {
      if (this.running === source) this.setRunning(undefined);
      source.dispose();
    }
  }

  private async showMarkdown(uri: vscode.Uri): Promise<void> {
    try {
      await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
    } catch {
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
    }
  }
}

export function basename(uri: vscode.Uri): string {
  const parts = uri.path.split('/');
  return parts[parts.length - 1] || uri.toString();
}

export { CMD_EDIT, CMD_GENERATE, CMD_EXPLAIN };
