/**
 * StarCoder Chat's logic on the extension side: asks `starcoder/chat` with the conversation
 * and its chips, streams the answer into it, stops it, keeps the chips sized, and hands
 * code blocks to the editor (Copy, Insert at cursor, Apply through the edit path).
 */
import * as vscode from 'vscode';
import { WorkDoneProgress } from 'vscode-languageclient';
import type { EditFlow, EditOutcome } from '../commands/edit';
import type { Host } from '../commands/host';
import { errorMessage } from '../commands/messages';
import { Generation, isCancellation, newToken } from '../commands/stream';
import { fromRange } from '../preview';
import { REQ_CHAT, REQ_CHAT_CONTEXT, progressText } from '../protocol';
import { editorChips, fileChip, selectionChip } from './chips';
import { Chip, Conversation, Store, Turn, chipId } from './conversation';
import { ChatParams, ChatResult, describeDropped, parseChatResult, parseContextSizes } from './protocol';

/** The question Explain Selection starts a chat with (the selection attached). */
export const EXPLAIN_QUESTION = 'Explain what this code does.';
/** How long a stopped request may take to confirm before the view moves on. */
const STOP_WAIT_MS = 5000;

export type ChatOutcome =
  | { status: 'answered'; result: ChatResult }
  | { status: 'stopped'; text: string; elapsedMs: number }
  | { status: 'error'; message: string }
  | { status: 'busy' }
  | { status: 'unavailable' };

export type ChatChange = { kind: 'state' } | { kind: 'partial'; index: number; text: string } | { kind: 'focus'; text?: string };

export class ChatController implements vscode.Disposable {
  readonly conversation: Conversation;
  /** Milliseconds from Enter to the first answer text drawn in the view (newest last). */
  readonly firstTokenMs: number[] = [];
  /** Milliseconds from ask() to the first answer text reaching the extension (newest last). */
  readonly hostFirstTokenMs: number[] = [];

  private source: vscode.CancellationTokenSource | undefined;
  private lastEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  private sizing: ReturnType<typeof setTimeout> | undefined;
  private readonly emitter = new vscode.EventEmitter<ChatChange>();
  readonly onDidChange = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly host: Host,
    private readonly generation: Generation,
    private readonly edits: EditFlow,
    store: Store | undefined,
    /** Shows the chat view (the view registers it). */
    public reveal: () => Promise<void> = async () => undefined,
    /** Whether the chat view is on screen (the view registers it). */
    public isVisible: () => boolean = () => true,
  ) {
    this.conversation = new Conversation(store);
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor) this.lastEditor = editor;
        this.followEditor();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === vscode.window.activeTextEditor) this.followEditor();
      }),
    );
  }

  dispose(): void {
    this.stop();
    if (this.sizing) clearTimeout(this.sizing);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.emitter.dispose();
  }

  get streaming(): boolean {
    return this.source !== undefined;
  }

  private changed(change: ChatChange = { kind: 'state' }): void {
    this.emitter.fire(change);
  }

  /** Shows the conversation again (after it was changed from outside, e.g. restored). */
  refresh(): void {
    this.changed();
  }

  /** While a new chat is empty and its chips untouched, they follow the active editor
   * (only while the view is on screen: no requests for a chat nobody looks at). */
  followEditor(): void {
    if (!this.conversation.isEmpty || this.conversation.chipsChosen || !this.isVisible()) return;
    const editor = vscode.window.activeTextEditor ?? this.lastEditor;
    const chips = editorChips(editor);
    if (chips.map(chipId).join('|') === this.conversation.chips.map(chipId).join('|')) return;
    this.conversation.setChips(chips);
    this.changed();
    this.sizeChips();
  }

  // ---- asking --------------------------------------------------------------------------------

  async ask(question: string): Promise<ChatOutcome> {
    const text = question.trim();
    if (!text) return { status: 'error', message: 'empty question' };
    if (this.streaming) return { status: 'busy' };
    const source = new vscode.CancellationTokenSource();
    this.source = source;
    this.generation.set(source);
    const params: ChatParams = { messages: this.conversation.messagesFor(text), context: this.conversation.context() };
    const user: Turn = { role: 'user', content: text };
    const answer: Turn = { role: 'assistant', content: '', status: 'streaming' };
    this.conversation.turns.push(user, answer);
    this.conversation.chipsChosen = true;
    const index = this.conversation.turns.length - 1;
    this.changed();
    const started = Date.now();
    try {
      const outcome = await this.request(params, answer, index, source);
      if (outcome.status === 'answered') this.finish(answer, outcome.result);
      else if (outcome.status === 'stopped') answer.status = 'stopped';
      else {
        answer.status = 'error';
        answer.notice = outcome.status === 'unavailable' ? 'The StarCoder server is not running (see the StarCoder output).' : `Failed: ${(outcome as { message: string }).message}`;
      }
      if (outcome.status === 'stopped') return { status: 'stopped', text: answer.content, elapsedMs: Date.now() - started };
      return outcome;
    } finally {
      this.source = undefined;
      this.generation.release(source);
      source.dispose();
      this.changed();
      await this.conversation.save();
    }
  }

  private async request(params: ChatParams, answer: Turn, index: number, source: vscode.CancellationTokenSource): Promise<ChatOutcome> {
    const client = await this.host.client();
    if (!client) return { status: 'unavailable' };
    if (source.token.isCancellationRequested) return { status: 'stopped', text: '', elapsedMs: 0 };
    const token = newToken('chat');
    const started = performance.now();
    let first = true;
    const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
      // Reports carry the answer so far; begin's message is the server's "waiting…".
      const text = value.kind === 'report' ? progressText(value) : undefined;
      if (text === undefined || source.token.isCancellationRequested) return;
      if (first && text) {
        first = false;
        this.hostFirstTokenMs.push(performance.now() - started);
      }
      answer.content = text;
      this.changed({ kind: 'partial', index, text });
    });
    try {
      const request = client.sendRequest<unknown>(REQ_CHAT, { ...params, workDoneToken: token }, source.token);
      const stopped = new Promise<'stopped'>((resolve) => source.token.onCancellationRequested(() => setTimeout(() => resolve('stopped'), STOP_WAIT_MS)));
      const value = await Promise.race([request, stopped]);
      if (value === 'stopped' || source.token.isCancellationRequested) {
        request.catch(() => undefined);
        return { status: 'stopped', text: answer.content, elapsedMs: 0 };
      }
      return { status: 'answered', result: parseChatResult(value) };
    } catch (err) {
      if (source.token.isCancellationRequested || isCancellation(err)) return { status: 'stopped', text: answer.content, elapsedMs: 0 };
      return { status: 'error', message: errorMessage(err) };
    } finally {
      sub.dispose();
    }
  }

  private finish(answer: Turn, result: ChatResult): void {
    answer.content = result.text;
    answer.status = undefined;
    const paths = new Map(result.context.map((c) => [c.uri, c.path]));
    answer.notice = describeDropped(result.dropped, (uri) => paths.get(uri) ?? vscode.workspace.asRelativePath(vscode.Uri.parse(uri), false));
    for (const [i, chip] of this.conversation.chips.entries()) {
      const sent = result.context[i];
      if (sent && sent.uri === chip.uri) this.conversation.chips[i] = { ...chip, tokens: sent.tokens, estimated: false };
    }
  }

  /** Stops the answer being written (the server stops the model). */
  stop(): boolean {
    if (!this.source) return false;
    this.source.cancel();
    return true;
  }

  async newChat(): Promise<void> {
    this.stop();
    this.conversation.clear();
    this.followEditor();
    this.changed();
    await this.conversation.save();
  }

  /** "Ask StarCoder about selection": the view, with the file and selection attached. */
  async askAboutSelection(editor: vscode.TextEditor | undefined = vscode.window.activeTextEditor): Promise<void> {
    if (editor) this.lastEditor = editor;
    const chips = editorChips(editor);
    if (this.conversation.isEmpty) this.conversation.setChips(chips);
    else for (const chip of chips) this.conversation.addChip(chip);
    this.conversation.chipsChosen = true;
    await this.reveal();
    this.changed();
    this.changed({ kind: 'focus' });
    this.sizeChips();
  }

  /** Explain Selection: a new chat whose first turn explains the selected code. */
  async explain(uri: vscode.Uri, range: vscode.Range): Promise<ChatOutcome> {
    await this.newChat();
    this.conversation.setChips([selectionChip(uri, range) ?? fileChip(uri)]);
    this.conversation.chipsChosen = true;
    await this.reveal();
    return this.ask(EXPLAIN_QUESTION);
  }

  addOpenFile(uri: string): void {
    this.conversation.addChip(fileChip(vscode.Uri.parse(uri)));
    this.changed();
    this.sizeChips();
  }

  removeChip(id: string): void {
    this.conversation.removeChip(id);
    this.changed();
  }

  recordFirstToken(ms: number): void {
    this.firstTokenMs.push(ms);
    this.host.log(`chat: first answer text in the view ${Math.round(ms)} ms after Enter`);
  }

  /** Asks the server for the chips' sizes in tokens (soon, once for a burst of changes). */
  sizeChips(): void {
    if (this.sizing) clearTimeout(this.sizing);
    this.sizing = setTimeout(() => void this.sizeNow(), 150);
  }

  async sizeNow(): Promise<void> {
    this.sizing = undefined;
    const chips = [...this.conversation.chips];
    if (!chips.length) return;
    const client = await this.host.client();
    if (!client) return;
    try {
      const sizes = parseContextSizes(await client.sendRequest(REQ_CHAT_CONTEXT, { context: this.conversation.context() }));
      const byId = new Map(chips.map((c, i) => [chipId(c), sizes[i]]));
      this.conversation.chips = this.conversation.chips.map((c): Chip => {
        const size = byId.get(chipId(c));
        return size ? { ...c, tokens: size.tokens, estimated: size.estimated, missing: !size.open } : c;
      });
      this.changed();
    } catch (err) {
      this.host.log(`chat: sizing the context failed: ${errorMessage(err)}`);
    }
  }

  // ---- code blocks ------------------------------------------------------------------------------

  private editor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor ?? this.lastEditor;
    if (editor && !editor.document.isClosed) return editor;
    void vscode.window.showInformationMessage('StarCoder: open a file and select the code to apply this to.');
    return undefined;
  }

  /** Apply to selection: the block is the answer of an edit of the selection, so it gets
   * the same minimal, versioned edit and the review the user chose (`starcoder.preview`:
   * inline hunks, the diff, or none). */
  async apply(code: string): Promise<EditOutcome> {
    const editor = this.editor();
    if (!editor) return { status: 'dismissed' };
    return this.edits.runEdit({ uri: editor.document.uri, range: fromRange(editor.selection), mode: 'edit', answer: code }, {});
  }

  async insert(code: string): Promise<boolean> {
    const editor = this.editor();
    if (!editor) return false;
    const at = editor.selection.active;
    return editor.edit((builder) => builder.insert(at, code));
  }

  async copy(code: string): Promise<void> {
    await vscode.env.clipboard.writeText(code);
  }
}
