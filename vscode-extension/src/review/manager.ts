/**
 * The inline reviews in progress (one per document): routes document changes to them, draws
 * them, offers Accept / Reject code lenses on every hunk (and Accept All / Reject All), and
 * keeps the context keys the keybindings use.
 */
import * as vscode from 'vscode';
import type { Range as LspRange } from '../protocol';
import { ReviewDecorations, regionLine } from './decorations';
import type { Region } from './hunks';
import { Decision, ReviewSession } from './session';

export const CTX_REVIEW_ACTIVE = 'starcoder.reviewActive';
export const CMD_ACCEPT_CHANGE = 'starcoder.acceptChange';
export const CMD_REJECT_CHANGE = 'starcoder.rejectChange';
export const CMD_ACCEPT_ALL = 'starcoder.acceptEdit';
export const CMD_REJECT_ALL = 'starcoder.rejectEdit';
export const CMD_CANCEL = 'starcoder.cancelGeneration';

export class ReviewManager implements vscode.Disposable, vscode.CodeLensProvider {
  private readonly sessions = new Map<string, ReviewSession>();
  private latest: ReviewSession | undefined;
  private readonly decorations = new ReviewDecorations();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.disposables.push(
      vscode.languages.registerCodeLensProvider([{ scheme: 'file' }, { scheme: 'untitled' }], this),
      vscode.workspace.onDidChangeTextDocument((event) => this.sessions.get(event.document.uri.toString())?.onDocumentChange(event)),
      vscode.workspace.onDidCloseTextDocument((document) => this.sessions.get(document.uri.toString())?.closed()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.redrawAll()),
    );
  }

  /** The review begun last, while it lasts. */
  get active(): ReviewSession | undefined {
    return this.latest && !this.latest.isFinished ? this.latest : undefined;
  }

  sessionFor(uri: vscode.Uri | string): ReviewSession | undefined {
    const session = this.sessions.get(uri.toString());
    return session && !session.isFinished ? session : undefined;
  }

  /** Starts reviewing an edit of `range` in `document` (a review already there is aborted). */
  begin(document: vscode.TextDocument, range: LspRange, mode: 'edit' | 'generate'): ReviewSession {
    const key = document.uri.toString();
    const previous = this.sessions.get(key);
    if (previous && !previous.isFinished) void previous.abort();
    const session = new ReviewSession({ document, range, mode });
    this.sessions.set(key, session);
    this.latest = session;
    const subscription = session.onDidChange(() => this.refresh(session));
    void session.done.then(() => {
      subscription.dispose();
      if (this.sessions.get(key) === session) this.sessions.delete(key);
      this.refresh(session);
    });
    this.refresh(session);
    return session;
  }

  /** Accept or Reject one hunk: the one given (code lens), else the one at the cursor. */
  async decideChange(decision: Decision, uri?: string, id?: number): Promise<boolean> {
    const editor = vscode.window.activeTextEditor;
    const session = uri ? this.sessionFor(uri) : editor ? this.sessionFor(editor.document.uri) : this.active;
    if (!session || !session.isLaidOut) return false;
    const region = id !== undefined ? session.pending.find((r) => r.id === id) : this.regionAtCursor(session, editor);
    if (!region) return false;
    return session.decide([region.id], decision);
  }

  /** Accept All / Reject All: the review in the active editor, else the last begun. */
  async decideAll(decision: Decision, uri?: string): Promise<boolean> {
    const editor = vscode.window.activeTextEditor;
    const session = (uri ? this.sessionFor(uri) : undefined) ?? (editor ? this.sessionFor(editor.document.uri) : undefined) ?? this.active;
    if (!session || !session.isLaidOut) return false;
    return session.decide('all', decision);
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const session = this.sessionFor(document.uri);
    if (!session) return [];
    const uri = document.uri.toString();
    const lenses: vscode.CodeLens[] = [];
    const block = session.streaming ?? session.rewriting;
    if (!session.isLaidOut) {
      const line = block ? document.positionAt(block.start).line : 0;
      const at = new vscode.Range(line, 0, line, 0);
      lenses.push(new vscode.CodeLens(at, { title: '$(loading~spin) StarCoder is writing…', command: '' }));
      lenses.push(new vscode.CodeLens(at, { title: 'Cancel', command: CMD_CANCEL }));
      return lenses;
    }
    session.pending.forEach((region, index) => {
      const line = regionLine(document, region);
      const at = new vscode.Range(line, 0, line, 0);
      lenses.push(new vscode.CodeLens(at, { title: '$(check) Accept', tooltip: 'Keep the new lines (Ctrl+Alt+Shift+Y at the cursor)', command: CMD_ACCEPT_CHANGE, arguments: [uri, region.id] }));
      lenses.push(new vscode.CodeLens(at, { title: '$(close) Reject', tooltip: 'Keep the old lines (Ctrl+Alt+Shift+N at the cursor)', command: CMD_REJECT_CHANGE, arguments: [uri, region.id] }));
      if (index === 0 && session.pending.length > 1) {
        lenses.push(new vscode.CodeLens(at, { title: 'Accept All', tooltip: 'Ctrl+Alt+Y', command: CMD_ACCEPT_ALL, arguments: [uri] }));
        lenses.push(new vscode.CodeLens(at, { title: 'Reject All', tooltip: 'Ctrl+Alt+N', command: CMD_REJECT_ALL, arguments: [uri] }));
      }
    });
    return lenses;
  }

  private regionAtCursor(session: ReviewSession, editor: vscode.TextEditor | undefined): Region | undefined {
    const pending = session.pending;
    if (!editor || editor.document !== session.document) return pending[0];
    const cursor = editor.document.offsetAt(editor.selection.active);
    return pending.find((r) => cursor >= r.start && cursor <= r.start + r.oldLength + r.newLength) ?? pending.find((r) => r.start >= cursor) ?? pending[pending.length - 1];
  }

  private refresh(session: ReviewSession): void {
    const current = this.sessions.get(session.document.uri.toString());
    this.decorations.show(session.document, current === session ? session : current);
    this.lensesChanged.fire();
    const active = [...this.sessions.values()].some((s) => !s.isFinished);
    void vscode.commands.executeCommand('setContext', CTX_REVIEW_ACTIVE, active);
  }

  private redrawAll(): void {
    for (const session of this.sessions.values()) this.decorations.show(session.document, session);
  }

  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
    for (const d of this.disposables) d.dispose();
    this.decorations.dispose();
    this.lensesChanged.dispose();
  }
}
