import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('vscode-languageclient', () => ({ WorkDoneProgress: { type: { method: '$/progress' } } }));

import * as vscode from 'vscode';
import { Commands } from '../../src/commands';
import type { Host } from '../../src/commands/host';
import { InstructionHistory } from '../../src/history';
import { PreviewManager } from '../../src/preview';
import type { TextEdit } from '../../src/protocol';
import { ReviewManager, migratePreviewSetting, previewMode } from '../../src/review';
import {
  Change,
  Hunk,
  afterDecision,
  decisionEdits,
  hunksFromEdits,
  layout,
  placement,
  rebaseHunks,
  streamDisplay,
  trackChange,
} from '../../src/review/hunks';
import { VersionedEdits } from '../../src/review/versioned';
import { applyEdits } from '../../src/text';
import { fakeClient } from './fake-client';
import { ConfigurationTarget, FakeDocument, Position, Selection, mock } from './vscode-mock';

const edit = (line: number, endLine: number, newText: string, endChar = 0): TextEdit => ({
  range: { start: { line, character: 0 }, end: { line: endLine, character: endChar } },
  newText,
});

/** Applies offset edits (on one text) from the last to the first. */
function applyOffsets(text: string, edits: { offset: number; length: number; text: string }[]): string {
  for (const e of [...edits].sort((a, b) => b.offset - a.offset)) text = text.slice(0, e.offset) + e.text + text.slice(e.offset + e.length);
  return text;
}

const ORIGINAL = 'def f():\n    a = 1\n    b = 2\n    return a\n\nprint(f())\n';
const EDITS = [edit(1, 2, '    a = 10\n'), edit(3, 4, '    return a + b\n')];

describe('hunks: the text arithmetic', () => {
  it('lays each new text after its old one; Reject all gives the original, Accept all the edit', () => {
    const hunks = hunksFromEdits(ORIGINAL, EDITS);
    expect(hunks.map((h) => [h.oldText, h.newText])).toEqual([
      ['    a = 1\n', '    a = 10\n'],
      ['    return a\n', '    return a + b\n'],
    ]);
    const { inserts, regions } = layout(hunks);
    const review = applyOffsets(ORIGINAL, inserts);
    expect(review).toBe('def f():\n    a = 1\n    a = 10\n    b = 2\n    return a\n    return a + b\n\nprint(f())\n');
    expect(applyOffsets(review, decisionEdits(regions, 'reject'))).toBe(ORIGINAL);
    expect(applyOffsets(review, decisionEdits(regions, 'accept'))).toBe(applyEdits(ORIGINAL, EDITS));
    // One of each: accept the first, then reject the second in what is left.
    const first = applyOffsets(review, decisionEdits([regions[0]], 'accept'));
    const left = afterDecision(regions, new Set([regions[0].id]), 'accept');
    expect(applyOffsets(first, decisionEdits(left, 'reject'))).toBe(ORIGINAL.replace('a = 1\n', 'a = 10\n'));
  });

  it.each([
    ['LF', 'x = 1\ny = 2'],
    ['CRLF', 'x = 1\r\ny = 2'],
  ])('a last line without a line break is never glued to its replacement (%s)', (_name, text) => {
    const hunks = hunksFromEdits(text, [edit(1, 1, 'y = 3', 5)]);
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    expect(hunks[0]).toMatchObject({ oldText: `${eol}y = 2`, newText: `${eol}y = 3` });
    const { inserts, regions } = layout(hunks);
    const review = applyOffsets(text, inserts);
    expect(review).toBe(`x = 1${eol}y = 2${eol}y = 3`);
    expect(applyOffsets(review, decisionEdits(regions, 'reject'))).toBe(text);
    expect(applyOffsets(review, decisionEdits(regions, 'accept'))).toBe(`x = 1${eol}y = 3`);
  });

  it('pure insertions and deletions, and edits that change nothing', () => {
    const hunks = hunksFromEdits(ORIGINAL, [edit(0, 0, '# new\n'), edit(2, 3, ''), edit(5, 6, 'print(f())\n')]);
    expect(hunks.map((h) => [h.start, h.oldText, h.newText])).toEqual([
      [0, '', '# new\n'],
      [19, '    b = 2\n', ''],
    ]);
    const { inserts, regions } = layout(hunks);
    const review = applyOffsets(ORIGINAL, inserts);
    expect(applyOffsets(review, decisionEdits(regions, 'accept'))).toBe('# new\ndef f():\n    a = 1\n    return a\n\nprint(f())\n');
    expect(applyOffsets(review, decisionEdits(regions, 'reject'))).toBe(ORIGINAL);
    expect(() => hunksFromEdits(ORIGINAL, [edit(0, 2, 'x\n'), edit(1, 3, 'y\n')])).toThrow(/overlapping/);
  });

  it('touching deletions are merged into one', () => {
    const regions = [
      { id: 0, start: 0, oldLength: 4, newLength: 0 },
      { id: 1, start: 4, oldLength: 3, newLength: 2 },
    ];
    expect(decisionEdits(regions, 'accept')).toEqual([{ offset: 0, length: 7, text: '' }]);
    expect(decisionEdits(regions, 'reject')).toEqual([{ offset: 7, length: 2, text: '' }]);
  });

  it('rebases hunks through the user changes, and refuses where they touch', () => {
    const hunks: Hunk[] = hunksFromEdits(ORIGINAL, EDITS);
    const moved = rebaseHunks(hunks, [{ offset: 0, removed: 0, text: 'import os\n' }]);
    expect(moved?.map((h) => h.start)).toEqual([hunks[0].start + 10, hunks[1].start + 10]);
    const after = rebaseHunks(hunks, [{ offset: ORIGINAL.length, removed: 0, text: '# end\n' }]);
    expect(after?.map((h) => h.start)).toEqual(hunks.map((h) => h.start));
    expect(rebaseHunks(hunks, [{ offset: hunks[0].start + 4, removed: 1, text: 'z' }])).toBeUndefined();
  });

  it('follows the user: before, after, in the old text, in the new text, across', () => {
    const region = { id: 0, start: 10, oldLength: 5, newLength: 6 };
    expect(placement(region, { offset: 2, removed: 0, text: 'ab' })).toBe('before');
    expect(trackChange(region, { offset: 2, removed: 0, text: 'ab' })).toMatchObject({ start: 12 });
    expect(placement(region, { offset: 21, removed: 0, text: 'x' })).toBe('after');
    expect(trackChange(region, { offset: 11, removed: 1, text: '' })).toMatchObject({ oldLength: 4, newLength: 6 });
    expect(trackChange(region, { offset: 15, removed: 0, text: 'xy' })).toMatchObject({ oldLength: 5, newLength: 8 });
    expect(trackChange(region, { offset: 13, removed: 4, text: '' })).toBeUndefined();
  });

  it('shows the streamed code without the fences around it', () => {
    expect(streamDisplay('```python\ndef f():\n    pass\n```\nDone.', '\n')).toBe('def f():\n    pass');
    expect(streamDisplay('x = 1\ny = 2```', '\r\n')).toBe('x = 1\r\ny = 2');
    expect(streamDisplay('echo ```x```\n', '\n')).toBe('echo ```x```');
  });
});

describe('starcoder.preview', () => {
  it('reads modes, and booleans as they used to be', () => {
    expect(previewMode('inline')).toBe('inline');
    expect(previewMode('diff')).toBe('diff');
    expect(previewMode('off')).toBe('off');
    expect(previewMode(true)).toBe('diff');
    expect(previewMode(false)).toBe('off');
    expect(previewMode(undefined)).toBe('inline');
    expect(previewMode('bogus')).toBe('inline');
  });

  it('rewrites boolean settings as strings', async () => {
    mock.reset();
    mock.inspected['starcoder.preview'] = { globalValue: false, workspaceValue: true };
    const changed = await migratePreviewSetting(vscode.workspace.getConfiguration('starcoder'));
    expect(mock.configUpdates).toEqual([
      { key: 'starcoder.preview', value: 'off', target: ConfigurationTarget.Global },
      { key: 'starcoder.preview', value: 'diff', target: ConfigurationTarget.Workspace },
    ]);
    expect(changed).toHaveLength(2);
    mock.reset();
    mock.inspected['starcoder.preview'] = { globalValue: 'inline' };
    expect(await migratePreviewSetting(vscode.workspace.getConfiguration('starcoder'))).toEqual([]);
  });
});

// ---- the inline flow, on the fake editor --------------------------------------------------

const URI = 'file:///ws/r.py';

type Handler = (params: any, report: (text: string) => void, token: vscode.CancellationToken) => Promise<unknown>;

/** The shared fake client, for handlers that only look at the params. */
function reviewClient(handler: Handler) {
  return fakeClient((_method, params, token, report) => handler(params, report, token));
}

function result(version: number, edits = EDITS) {
  return {
    edit: { documentChanges: [{ textDocument: { uri: URI, version }, edits }] },
    text: 'x',
    instruction: 'i',
    range: { start: { line: 0, character: 0 }, end: { line: 4, character: 0 } },
    mode: 'edit',
    version,
    stats: {},
  };
}

let doc: FakeDocument;
let reviews: ReviewManager;

function host(client: unknown): Host {
  const store = new Map<string, unknown>();
  return {
    client: async () => client as any,
    previews: new PreviewManager(),
    reviews,
    history: new InstructionHistory({ get: (k, d) => (store.has(k) ? (store.get(k) as any) : d), update: async (k, v) => void store.set(k, v) }),
    log: vi.fn(),
    showOutput: vi.fn(),
    previewMode: () => 'inline',
    tokensPerSecond: () => undefined,
  };
}

function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timeout')) : setTimeout(tick, 5));
    tick();
  });
}

function lenses() {
  return mock.codeLensProviders.flatMap((p) => p.provideCodeLenses(doc)) as vscode.CodeLens[];
}

beforeEach(() => {
  mock.reset();
  doc = mock.addDocument(URI, ORIGINAL);
  const editor = mock.openEditor(doc);
  editor.selection = new Selection(new Position(0, 0), new Position(4, 0));
  reviews = new ReviewManager();
});

/** Starts an inline edit whose server streams `streamed`, waits (optionally doing `during`),
 * then answers with `answer`; resolves once the review is laid out. */
async function startReview(answer: () => unknown, during?: () => void) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const client = reviewClient(async (params, report) => {
    expect(params.rebase).toBe(false);
    report('```python\ndef f():\n    a = 10');
    await waitFor(() => doc.text.includes('    a = 10\n'));
    seen.push(doc.text);
    during?.();
    await gate;
    return answer();
  });
  const commands = new Commands(host(client));
  const pending = commands.editSelection({ instruction: 'change it' });
  await waitFor(() => seen.length > 0);
  release();
  return { pending, seen };
}

describe('inline review', () => {
  it('streams below the target, then Accept one hunk and Reject another', async () => {
    const { pending, seen } = await startReview(() => result(1));
    // While streaming: the answer so far sits under the target, the target is untouched.
    expect(seen[0]).toBe('def f():\n    a = 1\n    b = 2\n    return a\ndef f():\n    a = 10\n\nprint(f())\n');
    await waitFor(() => reviews.sessionFor(URI)?.isLaidOut === true);
    expect(doc.text).toBe('def f():\n    a = 1\n    a = 10\n    b = 2\n    return a\n    return a + b\n\nprint(f())\n');
    const titles = lenses().map((l) => l.command?.title);
    expect(titles).toEqual(['$(check) Accept', '$(close) Reject', 'Accept All', 'Reject All', '$(check) Accept', '$(close) Reject']);
    expect(lenses().map((l) => l.range.start.line)).toEqual([1, 1, 1, 1, 4, 4]);
    // Deleted lines decorated, new lines highlighted.
    const editor = vscode.window.activeTextEditor as any;
    const drawn = [...editor.decorations.entries()].map(([type, ranges]: [any, any[]]) => [type.options.textDecoration ?? 'inserted', ranges.map((r) => r.start.line)]);
    expect(drawn).toContainEqual(['line-through', [1, 4]]);
    expect(drawn).toContainEqual(['inserted', [2, 5]]);
    const [acceptFirst, , , , , rejectSecond] = lenses();
    expect(acceptFirst.command!.command).toBe('starcoder.acceptChange');
    await reviews.decideChange('accept', ...(acceptFirst.command!.arguments as [string, number]));
    await reviews.decideChange('reject', ...(rejectSecond.command!.arguments as [string, number]));
    const outcome = await pending;
    expect(outcome).toMatchObject({ status: 'partial', accepted: 1, rejected: 1 });
    expect(doc.text).toBe(ORIGINAL.replace('a = 1\n', 'a = 10\n'));
    expect(lenses()).toEqual([]);
    expect(mock.statusMessages[0]).toContain('2 changes to review');
  });

  it('Reject All restores the document byte for byte', async () => {
    const { pending } = await startReview(() => result(1));
    await waitFor(() => reviews.sessionFor(URI)?.isLaidOut === true);
    expect(await reviews.decideAll('reject')).toBe(true);
    expect((await pending).status).toBe('rejected');
    expect(doc.text).toBe(ORIGINAL);
  });

  it('Accept All gives exactly the server edit', async () => {
    const { pending } = await startReview(() => result(1));
    await waitFor(() => reviews.sessionFor(URI)?.isLaidOut === true);
    await reviews.decideAll('accept');
    expect((await pending).status).toBe('accepted');
    expect(doc.text).toBe(applyEdits(ORIGINAL, EDITS));
  });

  it('typing elsewhere while the model writes: the edit moves past it', async () => {
    const { pending } = await startReview(
      () => result(1),
      () => doc.edit([{ range: new vscode.Range(8, 0, 8, 0), newText: '# typed\n' }]),
    );
    await waitFor(() => reviews.sessionFor(URI)?.isLaidOut === true);
    // During the review too.
    doc.edit([{ range: new vscode.Range(0, 0, 0, 0), newText: 'import os\n' }]);
    await reviews.decideAll('accept');
    expect((await pending).status).toBe('accepted');
    expect(doc.text).toBe(`import os\n${applyEdits(ORIGINAL, EDITS)}# typed\n`);
  });

  it('typing in the code being rewritten refuses the edit and offers Retry', async () => {
    const { pending } = await startReview(
      () => result(1),
      () => doc.edit([{ range: new vscode.Range(1, 4, 1, 4), newText: 'mine_' }]),
    );
    const outcome = await pending;
    expect(outcome.status).toBe('conflict');
    expect(doc.text).toBe(ORIGINAL.replace('    a = 1', '    mine_a = 1'));
    await waitFor(() => mock.messages.some((m) => m.items.includes('Retry')));
  });

  it('editing across a hunk takes it over: it stays as the user left it', async () => {
    const { pending } = await startReview(() => result(1));
    await waitFor(() => reviews.sessionFor(URI)?.isLaidOut === true);
    // Join the old and the new line of the first hunk.
    doc.edit([{ range: new vscode.Range(1, 9, 2, 4), newText: '' }]);
    await reviews.decideAll('reject');
    expect(await pending).toMatchObject({ status: 'partial', takenOver: 1, rejected: 1 });
    expect(doc.text).toBe('def f():\n    a = 1a = 10\n    b = 2\n    return a\n\nprint(f())\n');
  });

  it('Cancel while streaming takes the streamed text out again', async () => {
    const ref: { commands?: Commands } = {};
    const client = reviewClient(async (_params, report, token) => {
      report('def f():\n    a = 10');
      await waitFor(() => doc.text.includes('a = 10'));
      ref.commands!.cancel();
      if (!token.isCancellationRequested) await new Promise((resolve) => token.onCancellationRequested(() => resolve(undefined)));
      throw new vscode.CancellationError();
    });
    ref.commands = new Commands(host(client));
    const outcome = await ref.commands.editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('cancelled');
    expect(doc.text).toBe(ORIGINAL);
    expect(reviews.active).toBeUndefined();
  });

  it('an edit for another version is not shown', async () => {
    const { pending } = await startReview(() => result(7));
    const outcome = await pending;
    expect(outcome.status).toBe('conflict');
    expect(doc.text).toBe(ORIGINAL);
  });

  it('no change proposed: says so and leaves the document as it was', async () => {
    const { pending } = await startReview(() => result(1, []));
    expect((await pending).status).toBe('empty');
    expect(doc.text).toBe(ORIGINAL);
  });

  it('decision in the arguments decides every hunk (scripted use)', async () => {
    const client = reviewClient(async () => result(1));
    const outcome = await new Commands(host(client)).editSelection({ instruction: 'x', decision: 'accept' });
    expect(outcome.status).toBe('accepted');
    expect(doc.text).toBe(applyEdits(ORIGINAL, EDITS));
  });
});

describe('versioned edits: ours told apart from the user\'s', () => {
  const userEdit = () => doc.edit([{ range: new vscode.Range(0, 0, 0, 0), newText: '#' }]);
  function setUp() {
    const seen: Change[][] = [];
    const edits = new VersionedEdits(doc as any, (changes) => seen.push(changes), () => undefined);
    const sub = vscode.workspace.onDidChangeTextDocument((e) => edits.onDocumentChange(e as any));
    return { edits, seen, sub };
  }
  const ours = (commit: () => void = () => undefined) => ({ changes: [{ offset: 4, length: 1, text: 'F' }], commit });

  it('our change arriving after applyEdit resolved is still ours', async () => {
    const { edits, seen } = setUp();
    vi.mocked(vscode.workspace.applyEdit).mockImplementationOnce(async (edit: any) => {
      setTimeout(() => doc.edit(edit.entries), 0); // the event comes later
      return true;
    });
    let committed = false;
    expect(await edits.run(() => ours(() => (committed = true)))).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(committed).toBe(true);
    expect(doc.text.startsWith('def F()')).toBe(true);
    expect(seen).toEqual([]);
    userEdit();
    expect(seen).toEqual([[{ offset: 0, removed: 0, text: '#' }]]);
  });

  it('the user typing first: ours refused (as VS Code refuses a stale version), theirs reported', async () => {
    const { edits, seen } = setUp();
    vi.mocked(vscode.workspace.applyEdit).mockImplementationOnce(async () => {
      userEdit();
      return false;
    });
    let committed = false;
    expect(await edits.run(() => ours(() => (committed = true)))).toBe(false);
    expect(committed).toBe(false);
    expect(seen).toEqual([[{ offset: 0, removed: 0, text: '#' }]]);
  });

  it('the user typing right after ours, before it resolved: only theirs is reported', async () => {
    const { edits, seen } = setUp();
    vi.mocked(vscode.workspace.applyEdit).mockImplementationOnce(async (edit: any) => {
      doc.edit(edit.entries);
      userEdit();
      return true;
    });
    expect(await edits.run(() => ours())).toBe(true);
    expect(seen).toEqual([[{ offset: 0, removed: 0, text: '#' }]]);
    expect(doc.text.startsWith('#def F()')).toBe(true);
  });

  it('an edit built on a version it did not see is not sent', async () => {
    const { edits } = setUp();
    doc.version += 1; // a change the listener never saw
    expect(await edits.run(() => ours())).toBe(false);
    expect(mock.applied).toEqual([]);
  });
});
