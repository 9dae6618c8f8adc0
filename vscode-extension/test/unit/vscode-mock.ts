/**
 * A small in-memory stand-in for the `vscode` module, enough for the extension's glue.
 * Tests reach the fakes through `mock` (documents, shown messages, applied edits, ...).
 */
import { vi } from 'vitest';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class Disposable {
  constructor(private readonly fn: () => unknown = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query: string,
    readonly fragment: string,
  ) {}
  static parse(value: string): Uri {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!m) throw new Error(`bad uri ${value}`);
    return new Uri(m[1], m[2] ?? '', decodeURIComponent(m[3] ?? ''), m[4] ?? '', m[5] ?? '');
  }
  static file(path: string): Uri {
    return new Uri('file', '', path, '', '');
  }
  static from(c: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(c.scheme, c.authority ?? '', c.path ?? '', c.query ?? '', c.fragment ?? '');
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    const segments = base.path.split('/');
    for (const part of parts) {
      if (part === '..') segments.pop();
      else segments.push(part);
    }
    return new Uri(base.scheme, base.authority, segments.join('/'), '', '');
  }
  get fsPath(): string {
    return this.path;
  }
  with(c: Partial<{ scheme: string; path: string; query: string }>): Uri {
    return new Uri(c.scheme ?? this.scheme, this.authority, c.path ?? this.path, c.query ?? this.query, this.fragment);
  }
  toString(): string {
    const auth = this.scheme === 'file' || this.authority ? `//${this.authority}` : '';
    const path = this.path
      .split('/')
      .map((s) => encodeURIComponent(s))
      .join('/');
    return `${this.scheme}:${auth}${path}${this.query ? `?${this.query}` : ''}${this.fragment ? `#${this.fragment}` : ''}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: number | Position, b: number | Position, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c as number, d as number);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  constructor(anchor: Position, active: Position) {
    super(anchor, active);
  }
  get anchor(): Position {
    return this.start;
  }
  get active(): Position {
    return this.end;
  }
}

export class WorkspaceEdit {
  readonly entries: { uri: Uri; range: Range; newText: string }[] = [];
  readonly created: Uri[] = [];
  createFile(uri: Uri): void {
    this.created.push(uri);
  }
  replace(uri: Uri, range: Range, newText: string): void {
    this.entries.push({ uri, range, newText });
  }
  insert(uri: Uri, pos: Position, newText: string): void {
    this.entries.push({ uri, range: new Range(pos, pos), newText });
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: { title: string; command: string; arguments?: unknown[]; tooltip?: string },
  ) {}
}

export const OverviewRulerLane = { Left: 1, Center: 2, Right: 4, Full: 7 } as const;

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export class CancellationError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'Canceled';
  }
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  private cancelled = false;
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: (l: Listener<void>) => this.emitter.event(l),
  };
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum TextEditorRevealType {
  Default = 0,
  InCenter = 1,
  InCenterIfOutsideViewport = 2,
}

// ---- documents -------------------------------------------------------------

function offsetAt(text: string, line: number, character: number): number {
  const lines = text.split('\n');
  let off = 0;
  for (let i = 0; i < Math.min(line, lines.length); i++) off += lines[i].length + 1;
  if (line >= lines.length) return text.length;
  return Math.min(off + Math.min(character, lines[line].replace(/\r$/, '').length), text.length);
}

export class FakeDocument {
  version = 1;
  isClosed = false;
  languageId = 'python';
  constructor(
    readonly uri: Uri,
    public text: string,
  ) {}
  getText(range?: Range): string {
    if (!range) return this.text;
    return this.text.slice(offsetAt(this.text, range.start.line, range.start.character), offsetAt(this.text, range.end.line, range.end.character));
  }
  offsetAt(position: Position): number {
    return offsetAt(this.text, position.line, position.character);
  }
  positionAt(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    const before = this.text.slice(0, clamped);
    const line = before.split('\n').length - 1;
    return new Position(line, clamped - (before.lastIndexOf('\n') + 1));
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  /** Applies edits (descending order) and bumps the version, like a user typing; fires
   * onDidChangeTextDocument with the changes (offsets on the text before the edit). */
  edit(entries: { range: Range; newText: string }[]): void {
    const sorted = [...entries].sort((a, b) => offsetAt(this.text, b.range.start.line, b.range.start.character) - offsetAt(this.text, a.range.start.line, a.range.start.character));
    const contentChanges: { range: Range; rangeOffset: number; rangeLength: number; text: string }[] = [];
    for (const e of sorted) {
      const s = offsetAt(this.text, e.range.start.line, e.range.start.character);
      const t = offsetAt(this.text, e.range.end.line, e.range.end.character);
      contentChanges.push({ range: e.range, rangeOffset: s, rangeLength: t - s, text: e.newText });
      this.text = this.text.slice(0, s) + e.newText + this.text.slice(t);
    }
    this.version += 1;
    mock.changeEmitter.fire({ document: this, contentChanges, reason: undefined });
  }
}

export class FakeEditor {
  selection: Selection;
  readonly decorations = new Map<unknown, Range[]>();
  constructor(readonly document: FakeDocument) {
    this.selection = new Selection(new Position(0, 0), new Position(0, 0));
  }
  revealRange = vi.fn();
  edit = vi.fn(async (fn: (b: { insert(p: Position, t: string): void; replace(r: Range, t: string): void }) => void) => {
    const entries: { range: Range; newText: string }[] = [];
    fn({ insert: (p, t) => entries.push({ range: new Range(p, p), newText: t }), replace: (r, t) => entries.push({ range: r, newText: t }) });
    this.document.edit(entries);
    return true;
  });
  setDecorations(type: unknown, ranges: Range[]): void {
    this.decorations.set(type, ranges);
  }
}

interface Message {
  kind: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
  resolve: (choice: string | undefined) => void;
}

export const mock = {
  documents: new Map<string, FakeDocument>(),
  messages: [] as Message[],
  executed: [] as { command: string; args: unknown[] }[],
  commands: new Map<string, (...args: any[]) => unknown>(),
  providers: new Map<string, { provideTextDocumentContent(uri: Uri): string; onDidChange?: unknown }>(),
  applyEditResult: true as boolean,
  applied: [] as WorkspaceEdit[],
  config: {} as Record<string, unknown>,
  progress: [] as { title?: string; messages: string[]; cancel: () => void }[],
  statusItems: [] as any[],
  tabs: [] as { input: unknown }[],
  tabsEmitter: new EventEmitter<{ opened: unknown[]; closed: unknown[]; changed: unknown[] }>(),
  quickPicks: [] as any[],
  /** showQuickPick calls, and the label it answers with (undefined: dismissed). */
  shownPicks: [] as { items: any[]; options: any }[],
  pickAnswer: undefined as string | undefined,
  clipboard: '',
  webviewProviders: new Map<string, any>(),
  activeEditorEmitter: new EventEmitter<any>(),
  selectionEmitter: new EventEmitter<any>(),
  changeEmitter: new EventEmitter<any>(),
  closeEmitter: new EventEmitter<any>(),
  codeLensProviders: [] as any[],
  statusMessages: [] as string[],
  configUpdates: [] as { key: string; value: unknown; target: unknown }[],
  /** Raw settings per target, for inspect(): key -> { globalValue, workspaceValue }. */
  inspected: {} as Record<string, { globalValue?: unknown; workspaceValue?: unknown }>,
  /** Answer for the next message with buttons (undefined: never answered). */
  autoAnswer: undefined as string | undefined,
  reset(): void {
    this.documents.clear();
    this.messages = [];
    this.executed = [];
    this.commands.clear();
    this.providers.clear();
    this.applyEditResult = true;
    this.applied = [];
    this.config = {};
    this.progress = [];
    this.statusItems = [];
    this.tabs = [];
    this.quickPicks = [];
    this.shownPicks = [];
    this.pickAnswer = undefined;
    this.clipboard = '';
    this.webviewProviders.clear();
    this.codeLensProviders = [];
    this.statusMessages = [];
    this.configUpdates = [];
    this.inspected = {};
    this.changeEmitter = new EventEmitter<any>();
    this.closeEmitter = new EventEmitter<any>();
    this.autoAnswer = undefined;
    window.activeTextEditor = undefined;
    window.visibleTextEditors = [];
  },
  addDocument(uri: string, text: string): FakeDocument {
    const doc = new FakeDocument(Uri.parse(uri), text);
    this.documents.set(doc.uri.toString(), doc);
    return doc;
  },
  openEditor(doc: FakeDocument): FakeEditor {
    const editor = new FakeEditor(doc);
    window.activeTextEditor = editor as any;
    window.visibleTextEditors = [editor as any];
    return editor;
  },
};

function showMessage(kind: Message['kind']) {
  return (text: string, ...items: any[]): Promise<string | undefined> => {
    const buttons = items.filter((i) => typeof i === 'string');
    return new Promise((resolve) => {
      mock.messages.push({ kind, text, items: buttons, resolve });
      if (mock.autoAnswer !== undefined && buttons.includes(mock.autoAnswer)) resolve(mock.autoAnswer);
      else if (!buttons.length) resolve(undefined);
    });
  };
}

export const window = {
  onDidChangeActiveTextEditor: (l: Listener<any>) => mock.activeEditorEmitter.event(l),
  onDidChangeTextEditorSelection: (l: Listener<any>) => mock.selectionEmitter.event(l),
  registerWebviewViewProvider: vi.fn((id: string, provider: any) => {
    mock.webviewProviders.set(id, provider);
    return new Disposable(() => mock.webviewProviders.delete(id));
  }),
  activeTextEditor: undefined as any,
  visibleTextEditors: [] as any[],
  showInformationMessage: vi.fn(showMessage('info')),
  showWarningMessage: vi.fn(showMessage('warning')),
  showErrorMessage: vi.fn(showMessage('error')),
  createStatusBarItem: vi.fn((..._args: unknown[]) => {
    const item = { text: '', tooltip: '', name: '', command: '', backgroundColor: undefined, show: vi.fn(), hide: vi.fn(), dispose: vi.fn() };
    mock.statusItems.push(item);
    return item;
  }),
  createTextEditorDecorationType: vi.fn((options: unknown) => ({ options, dispose: vi.fn() })),
  setStatusBarMessage: vi.fn((text: string) => {
    mock.statusMessages.push(text);
    return new Disposable();
  }),
  onDidChangeVisibleTextEditors: (l: Listener<unknown>) => new EventEmitter<unknown>().event(l),
  createOutputChannel: vi.fn(() => ({ info: vi.fn(), warn: vi.fn(), error: vi.fn(), appendLine: vi.fn(), show: vi.fn(), dispose: vi.fn() })),
  withProgress: vi.fn(async (options: { title?: string }, task: (progress: any, token: any) => Promise<unknown>) => {
    const source = new CancellationTokenSource();
    const entry = { title: options.title, messages: [] as string[], cancel: () => source.cancel() };
    mock.progress.push(entry);
    return task({ report: (v: { message?: string }) => v.message && entry.messages.push(v.message) }, source.token);
  }),
  showTextDocument: vi.fn(async (docOrUri: any) => {
    const doc = docOrUri instanceof Uri ? mock.documents.get(docOrUri.toString()) : docOrUri;
    const editor = new FakeEditor(doc);
    window.activeTextEditor = editor;
    return editor;
  }),
  showQuickPick: vi.fn(async (items: any[], options?: any) => {
    mock.shownPicks.push({ items, options });
    return items.find((i) => i.label === mock.pickAnswer);
  }),
  createQuickPick: vi.fn(() => {
    const accept = new EventEmitter<void>();
    const hide = new EventEmitter<void>();
    const change = new EventEmitter<string>();
    const pick: any = {
      items: [],
      selectedItems: [],
      activeItems: [],
      value: '',
      onDidAccept: accept.event,
      onDidHide: hide.event,
      onDidChangeValue: change.event,
      show: vi.fn(),
      hide: vi.fn(() => hide.fire()),
      dispose: vi.fn(),
      // test helpers
      type(value: string) {
        pick.value = value;
        change.fire(value);
        pick.activeItems = pick.items.slice(0, 1);
      },
      accept() {
        pick.selectedItems = pick.activeItems;
        accept.fire();
      },
      cancel() {
        hide.fire();
      },
    };
    mock.quickPicks.push(pick);
    return pick;
  }),
  tabGroups: {
    get all() {
      return [{ tabs: mock.tabs }];
    },
    onDidChangeTabs: (l: Listener<any>) => mock.tabsEmitter.event(l),
    close: vi.fn(async (tabs: any) => {
      const list = Array.isArray(tabs) ? tabs : [tabs];
      mock.tabs = mock.tabs.filter((t) => !list.includes(t));
      mock.tabsEmitter.fire({ opened: [], closed: list, changed: [] });
      return true;
    }),
  },
};

export const env = {
  clipboard: { writeText: vi.fn(async (text: string) => void (mock.clipboard = text)) },
  openExternal: vi.fn(async () => true),
};

export const workspace = {
  workspaceFolders: undefined as any,
  get textDocuments() {
    return [...mock.documents.values()];
  },
  asRelativePath: (uri: Uri) => uri.path.replace(/^\/ws\//, ''),
  openTextDocument: vi.fn(async (uri: Uri) => {
    const doc = mock.documents.get(uri.toString());
    if (doc) return doc;
    const provider = mock.providers.get(uri.scheme);
    if (provider) return new FakeDocument(uri, provider.provideTextDocumentContent(uri));
    throw new Error(`no document ${uri.toString()}`);
  }),
  applyEdit: vi.fn(async (edit: WorkspaceEdit) => {
    mock.applied.push(edit);
    if (!mock.applyEditResult) return false;
    for (const uri of edit.created) if (!mock.documents.has(uri.toString())) mock.addDocument(uri.toString(), '');
    const byDoc = new Map<string, { range: Range; newText: string }[]>();
    for (const e of edit.entries) {
      const key = e.uri.toString();
      byDoc.set(key, [...(byDoc.get(key) ?? []), e]);
    }
    for (const [key, entries] of byDoc) mock.documents.get(key)?.edit(entries);
    return true;
  }),
  registerTextDocumentContentProvider: vi.fn((scheme: string, provider: any) => {
    mock.providers.set(scheme, provider);
    return new Disposable(() => mock.providers.delete(scheme));
  }),
  getConfiguration: vi.fn((section?: string) => ({
    get: (key: string, def?: unknown) => {
      const full = section ? `${section}.${key}` : key;
      return full in mock.config ? mock.config[full] : def;
    },
    inspect: (key: string) => {
      const full = section ? `${section}.${key}` : key;
      return { key: full, ...(mock.inspected[full] ?? {}) };
    },
    update: vi.fn(async (key: string, value: unknown, target: unknown) => {
      const full = section ? `${section}.${key}` : key;
      mock.configUpdates.push({ key: full, value, target });
      mock.config[full] = value;
    }),
  })),
  onDidChangeConfiguration: vi.fn(() => new Disposable()),
  fs: {
    stat: vi.fn(async (uri: Uri) => {
      if (!mock.documents.has(uri.toString())) throw new Error(`no file ${uri.toString()}`);
      return { type: 1 };
    }),
    delete: vi.fn(async (uri: Uri) => {
      mock.documents.delete(uri.toString());
    }),
  },
  onDidChangeTextDocument: (l: Listener<any>) => mock.changeEmitter.event(l),
  onDidCloseTextDocument: (l: Listener<any>) => mock.closeEmitter.event(l),
};

export const languages = {
  registerCodeLensProvider: vi.fn((_selector: unknown, provider: unknown) => {
    mock.codeLensProviders.push(provider);
    return new Disposable(() => (mock.codeLensProviders = mock.codeLensProviders.filter((p) => p !== provider)));
  }),
};

export const commands = {
  executeCommand: vi.fn(async (command: string, ...args: unknown[]) => {
    mock.executed.push({ command, args });
    if (command === 'vscode.diff') {
      mock.tabs.push({ input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
      return undefined;
    }
    const fn = mock.commands.get(command);
    return fn ? fn(...args) : undefined;
  }),
  registerCommand: vi.fn((id: string, fn: (...args: any[]) => unknown) => {
    mock.commands.set(id, fn);
    return new Disposable(() => mock.commands.delete(id));
  }),
};

export const extensions = {
  getExtension: vi.fn(() => undefined),
};
