/**
 * Diff preview of a proposed edit, live while the model writes, then Accept / Reject.
 *
 * The proposed text lives in a read-only virtual document (`starcoder-preview:`) shown in a
 * diff editor against the real document. Accept applies the server's edit with a version
 * check (an edit computed for an older version of the document is refused, never merged
 * blindly); Reject leaves the document exactly as it was.
 */
import * as vscode from 'vscode';
import type { EditResult, Range as LspRange, TextEdit } from './protocol';
import { applyEdits, insertedRange, streamingPreview } from './text';

export const PREVIEW_SCHEME = 'starcoder-preview';
export const CTX_PREVIEW_ACTIVE = 'starcoder.previewActive';

export type Decision = 'accept' | 'reject';

export type AcceptOutcome =
  | { applied: true; range?: LspRange }
  | { applied: false; reason: 'conflict' | 'failed' | 'empty'; message: string };

/** Serves the proposed text of each preview. */
export class PreviewContentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  set(uri: vscode.Uri, text: string): void {
    if (this.contents.get(uri.toString()) === text) return;
    this.contents.set(uri.toString(), text);
    this.emitter.fire(uri);
  }

  get(uri: vscode.Uri): string | undefined {
    return this.contents.get(uri.toString());
  }

  delete(uri: vscode.Uri): void {
    this.contents.delete(uri.toString());
  }

  dispose(): void {
    this.emitter.dispose();
    this.contents.clear();
  }
}

/** The edits of `result` that target `uri`, and the version they were computed for. */
export function editsFor(result: EditResult, uri: string): { edits: TextEdit[]; version: number | null } {
  const edits: TextEdit[] = [];
  let version: number | null = result.version;
  for (const change of result.edit?.documentChanges ?? []) {
    if (sameUri(change.textDocument.uri, uri)) {
      edits.push(...change.edits);
      if (change.textDocument.version !== null) version = change.textDocument.version;
    }
  }
  for (const [key, list] of Object.entries(result.edit?.changes ?? {})) {
    if (sameUri(key, uri)) edits.push(...list);
  }
  return { edits, version };
}

/** URIs from the server may be encoded differently (`%3A` vs `:`): compare them parsed. */
export function sameUri(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return vscode.Uri.parse(a).toString() === vscode.Uri.parse(b).toString();
  } catch {
    return false;
  }
}

let counter = 0;

/** One proposed edit being previewed. */
export class PreviewSession implements vscode.Disposable {
  private uri: vscode.Uri;
  readonly original: string;
  readonly originalVersion: number;
  private result: EditResult | undefined;
  private decided = false;
  private resolveDecision!: (d: Decision) => void;
  readonly decision: Promise<Decision>;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  /** Fires once the final proposal (from the server's reply) is shown. */
  readonly onDidBecomeReady = this.readyEmitter.event;

  constructor(
    private readonly provider: PreviewContentProvider,
    readonly document: vscode.TextDocument,
    readonly range: LspRange,
    readonly mode: 'edit' | 'generate',
    public title: string,
  ) {
    this.original = document.getText();
    this.originalVersion = document.version;
    this.uri = vscode.Uri.from({
      scheme: PREVIEW_SCHEME,
      path: document.uri.path || '/untitled',
      query: `preview=${++counter}`,
    });
    this.provider.set(this.proposedUri, this.original);
    this.decision = new Promise<Decision>((resolve) => (this.resolveDecision = resolve));
    // Closing the diff editor before deciding counts as Reject.
    this.disposables.push(
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        if (this.decided) return;
        if (e.closed.some((tab) => this.isOurTab(tab)) && !this.findTabs().length) this.decide('reject');
      }),
    );
  }

  /** The virtual document holding the proposed text (it changes when the diff is retitled). */
  get proposedUri(): vscode.Uri {
    return this.uri;
  }

  /** Shows the diff again under `title` (e.g. with what the tests said); the old tab closes. */
  async retitle(title: string): Promise<void> {
    const old = this.uri;
    const oldTabs = this.findTabs();
    this.title = title;
    this.uri = old.with({ query: `preview=${++counter}` });
    this.provider.set(this.uri, this.provider.get(old) ?? this.original);
    if (oldTabs.length) {
      await this.show();
      try {
        await vscode.window.tabGroups.close(oldTabs, true);
      } catch {
        // already closed
      }
    }
    this.provider.delete(old);
  }

  get isReady(): boolean {
    return this.result !== undefined;
  }

  get isDecided(): boolean {
    return this.decided;
  }

  /** The proposed document text shown right now. */
  get proposedText(): string {
    return this.provider.get(this.proposedUri) ?? this.original;
  }

  get editResult(): EditResult | undefined {
    return this.result;
  }

  async show(): Promise<void> {
    await vscode.commands.executeCommand('vscode.diff', this.document.uri, this.proposedUri, this.title, {
      preview: false,
      preserveFocus: false,
    } satisfies vscode.TextDocumentShowOptions);
  }

  /** Shows the text generated so far (the full text, as `$/progress` reports it). */
  stream(textSoFar: string): void {
    if (this.result || this.decided) return;
    const text = textSoFar ? streamingPreview(this.original, this.range, textSoFar, this.mode) : this.original;
    this.provider.set(this.proposedUri, text);
  }

  /** Shows the server's final edit. Returns false when it changes nothing. */
  finish(result: EditResult): boolean {
    this.result = result;
    const { edits } = editsFor(result, this.document.uri.toString());
    let proposed = this.original;
    try {
      proposed = applyEdits(this.original, edits);
    } catch {
      proposed = this.original;
    }
    this.provider.set(this.proposedUri, proposed);
    this.readyEmitter.fire();
    return proposed !== this.original;
  }

  decide(decision: Decision): void {
    if (this.decided) return;
    this.decided = true;
    this.resolveDecision(decision);
  }

  /**
   * Applies the server's edit if the document is still at the version it was computed for.
   * Uses `workspace.applyEdit`, so Undo reverts it in one step.
   */
  async accept(): Promise<AcceptOutcome> {
    const result = this.result;
    if (!result) return { applied: false, reason: 'failed', message: 'the edit is not ready yet' };
    const uri = this.document.uri;
    const { edits, version } = editsFor(result, uri.toString());
    if (!edits.length) return { applied: false, reason: 'empty', message: 'the model proposed no change' };
    const doc = await vscode.workspace.openTextDocument(uri);
    const expected = version ?? this.originalVersion;
    if (doc.isClosed || doc.version !== expected || doc.getText() !== this.original) {
      return {
        applied: false,
        reason: 'conflict',
        message: `the document changed since the edit was generated (version ${doc.version}, edit for version ${expected})`,
      };
    }
    const wsEdit = new vscode.WorkspaceEdit();
    for (const edit of edits) {
      wsEdit.replace(uri, toRange(edit.range), edit.newText);
    }
    const ok = await vscode.workspace.applyEdit(wsEdit);
    if (!ok) {
      const now = await vscode.workspace.openTextDocument(uri);
      if (now.version !== expected) {
        return { applied: false, reason: 'conflict', message: 'the document changed while the edit was applied' };
      }
      return { applied: false, reason: 'failed', message: 'VS Code refused the edit' };
    }
    const single = edits.length === 1 ? edits[0] : undefined;
    return { applied: true, range: single ? insertedRange(single.range.start, single.newText) : undefined };
  }

  private isOurTab(tab: vscode.Tab): boolean {
    const input = tab.input;
    return input instanceof vscode.TabInputTextDiff && input.modified.toString() === this.proposedUri.toString();
  }

  private findTabs(): vscode.Tab[] {
    return vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => this.isOurTab(tab));
  }

  /** Closes the diff editor. */
  async close(): Promise<void> {
    const tabs = this.findTabs();
    if (tabs.length) {
      try {
        await vscode.window.tabGroups.close(tabs, true);
      } catch {
        // already closed
      }
    }
  }

  dispose(): void {
    this.decide('reject');
    for (const d of this.disposables) d.dispose();
    this.readyEmitter.dispose();
    this.provider.delete(this.proposedUri);
  }
}

export function toRange(range: LspRange): vscode.Range {
  return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}

export function fromRange(range: vscode.Range): LspRange {
  return {
    start: { line: range.start.line, character: range.start.character },
    end: { line: range.end.line, character: range.end.character },
  };
}

/** Keeps track of the preview being decided (one at a time) and the context key. */
export class PreviewManager implements vscode.Disposable {
  readonly provider = new PreviewContentProvider();
  private current: PreviewSession | undefined;
  private readonly registration: vscode.Disposable;
  private readonly emitter = new vscode.EventEmitter<PreviewSession | undefined>();
  readonly onDidChangeActive = this.emitter.event;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, this.provider);
  }

  get active(): PreviewSession | undefined {
    return this.current;
  }

  begin(document: vscode.TextDocument, range: LspRange, mode: 'edit' | 'generate', title: string): PreviewSession {
    if (this.current && !this.current.isDecided) this.current.decide('reject');
    const session = new PreviewSession(this.provider, document, range, mode, title);
    this.current = session;
    void vscode.commands.executeCommand('setContext', CTX_PREVIEW_ACTIVE, true);
    this.emitter.fire(session);
    return session;
  }

  end(session: PreviewSession): void {
    session.dispose();
    if (this.current === session) {
      this.current = undefined;
      void vscode.commands.executeCommand('setContext', CTX_PREVIEW_ACTIVE, false);
      this.emitter.fire(undefined);
    }
  }

  /** Accept or Reject from a command (editor title button, keybinding, palette). */
  decide(decision: Decision): boolean {
    const session = this.current;
    if (!session || session.isDecided) return false;
    if (decision === 'accept' && !session.isReady) return false;
    session.decide(decision);
    return true;
  }

  dispose(): void {
    if (this.current) this.current.dispose();
    this.registration.dispose();
    this.provider.dispose();
    this.emitter.dispose();
  }
}
