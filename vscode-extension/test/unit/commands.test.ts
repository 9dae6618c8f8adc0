import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('vscode-languageclient', () => ({ WorkDoneProgress: { type: { method: '$/progress' } } }));

import * as vscode from 'vscode';
import { ChatController, EXPLAIN_QUESTION } from '../../src/chat/controller';
import { Commands } from '../../src/commands';
import type { Host } from '../../src/commands/host';
import { shorten } from '../../src/commands/messages';
import { progressMessage } from '../../src/commands/stream';
import { InstructionHistory } from '../../src/history';
import { PREVIEW_SCHEME, PreviewManager } from '../../src/preview';
import { ReviewManager } from '../../src/review';
import { FakeDocument, Position, Selection, mock } from './vscode-mock';
import { fakeClient } from './fake-client';

function makeHost(client: unknown, over: Partial<Host> = {}) {
  const store = new Map<string, unknown>();
  const history = new InstructionHistory({ get: (k, d) => (store.has(k) ? (store.get(k) as any) : d), update: async (k, v) => void store.set(k, v) });
  const previews = new PreviewManager();
  const host: Host = {
    client: async () => client as any,
    previews,
    reviews: new ReviewManager(),
    history,
    log: vi.fn(),
    showOutput: vi.fn(),
    previewMode: () => 'diff',
    tokensPerSecond: () => 25,
    ...over,
  };
  return host;
}

const URI = 'file:///ws/a.py';
const ORIGINAL = 'def f():\n    return 1\n\nprint(f())\n';
const NEW_BODY = 'def f() -> int:\n    return 1\n';

function editResult(version: number, over: Record<string, unknown> = {}) {
  return {
    edit: {
      documentChanges: [{ textDocument: { uri: URI, version }, edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } }, newText: NEW_BODY }] }],
    },
    text: NEW_BODY,
    instruction: 'add return types',
    range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } },
    mode: 'edit',
    version,
    stats: { tokens_per_second: 33.3 },
    ...over,
  };
}

let doc: FakeDocument;

beforeEach(() => {
  mock.reset();
  doc = mock.addDocument(URI, ORIGINAL);
  const editor = mock.openEditor(doc);
  editor.selection = new Selection(new Position(0, 0), new Position(1, 12));
});

function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timeout')) : setTimeout(tick, 5));
    tick();
  });
}

describe('Edit Selection', () => {
  it('streams into the preview, then Accept applies the versioned edit', async () => {
    const seen: string[] = [];
    const ref: { host?: Host } = {};
    const client = fakeClient(async (method, params, _t, report) => {
      expect(method).toBe('starcoder/edit');
      expect(params).toMatchObject({ uri: URI, instruction: 'add return types', range: { start: { line: 0, character: 0 }, end: { line: 1, character: 12 } } });
      expect(typeof params.workDoneToken).toBe('string');
      report('def f() -> int:');
      seen.push(ref.host!.previews.active!.proposedText);
      return editResult(1);
    });
    const host = makeHost(client);
    ref.host = host;
    const commands = new Commands(host);
    mock.autoAnswer = 'Accept';
    const outcome = await commands.editSelection({ instruction: 'add return types' });
    expect(outcome.status).toBe('accepted');
    expect(seen[0]).toBe('def f() -> int:\n\nprint(f())\n');
    expect(doc.text).toBe('def f() -> int:\n    return 1\n\nprint(f())\n');
    expect(mock.executed.some((e) => e.command === 'vscode.diff' && (e.args[1] as vscode.Uri).scheme === PREVIEW_SCHEME)).toBe(true);
    expect(mock.progress[0].title).toContain('add return types');
    expect(mock.progress[0].messages.some((m) => /1 line, 25\.0 tok\/s/.test(m))).toBe(true);
    expect(host.history.recent()).toEqual(['add return types']);
    expect(mock.tabs).toHaveLength(0); // diff closed
    expect(host.previews.active).toBeUndefined();
    expect(outcome.status === 'accepted' && outcome.range).toEqual({ start: { line: 0, character: 0 }, end: { line: 2, character: 0 } });
  });

  it('Reject leaves the document exactly as it was', async () => {
    const host = makeHost(fakeClient(async () => editResult(1)));
    const commands = new Commands(host);
    mock.autoAnswer = 'Reject';
    const outcome = await commands.editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('rejected');
    expect(doc.text).toBe(ORIGINAL);
    expect(doc.version).toBe(1);
    expect(mock.applied).toHaveLength(0);
  });

  it('the accept/reject commands decide too, and closing the diff rejects', async () => {
    const host = makeHost(fakeClient(async () => editResult(1)));
    const commands = new Commands(host);
    const pending = commands.editSelection({ instruction: 'x' });
    await waitFor(() => host.previews.active?.isReady === true);
    expect(host.previews.decide('accept')).toBe(true);
    expect((await pending).status).toBe('accepted');

    doc.text = ORIGINAL;
    const pending2 = commands.editSelection({ instruction: 'y' });
    await waitFor(() => host.previews.active?.isReady === true);
    await vscode.window.tabGroups.close(mock.tabs as any);
    expect((await pending2).status).toBe('rejected');
  });

  it('an edit for an older version is refused and Retry is offered', async () => {
    const host = makeHost(
      fakeClient(async () => {
        doc.edit([{ range: new vscode.Range(3, 0, 3, 0), newText: '# typed meanwhile\n' }]);
        return editResult(1);
      }),
    );
    const commands = new Commands(host);
    mock.autoAnswer = 'Accept';
    const outcome = await commands.editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('conflict');
    expect(mock.applied).toHaveLength(0);
    expect(doc.text).toBe(ORIGINAL.replace('print', '# typed meanwhile\nprint'));
    const warning = mock.messages.find((m) => m.kind === 'warning');
    expect(warning?.text).toMatch(/document changed/);
    expect(warning?.items).toEqual(['Retry']);
  });

  it('Retry runs the same instruction again', async () => {
    let calls = 0;
    const host = makeHost(
      fakeClient(async () => {
        calls += 1;
        if (calls === 1) doc.edit([{ range: new vscode.Range(3, 0, 3, 0), newText: '#\n' }]);
        return editResult(doc.version);
      }),
    );
    const commands = new Commands(host);
    mock.autoAnswer = 'Accept';
    const first = await commands.editSelection({ instruction: 'x' });
    expect(first.status).toBe('conflict');
    const warning = mock.messages.find((m) => m.kind === 'warning')!;
    warning.resolve('Retry');
    await waitFor(() => calls === 2 && commands.lastEdit?.status === 'accepted');
    expect(doc.text.startsWith(NEW_BODY)).toBe(true);
  });

  it('Cancel sends the cancellation to the server and leaves the document alone', async () => {
    let serverToken: vscode.CancellationToken | undefined;
    const host = makeHost(
      fakeClient(
        (_m, _p, token) =>
          new Promise((_resolve, reject) => {
            serverToken = token;
            token.onCancellationRequested(() => reject(Object.assign(new Error('cancelled'), { code: -32800 })));
          }),
      ),
    );
    const commands = new Commands(host);
    const pending = commands.editSelection({ instruction: 'x' });
    await waitFor(() => mock.progress.length === 1 && serverToken !== undefined);
    expect(commands.isGenerating).toBe(true);
    mock.progress[0].cancel();
    const outcome = await pending;
    expect(outcome.status).toBe('cancelled');
    expect(serverToken?.isCancellationRequested).toBe(true);
    expect(doc.text).toBe(ORIGINAL);
    expect(mock.applied).toHaveLength(0);
    expect(commands.isGenerating).toBe(false);
    expect(mock.tabs).toHaveLength(0);
  });

  it('cancel() (the Cancel Generation command) stops it too', async () => {
    const host = makeHost(fakeClient((_m, _p, token) => new Promise((_r, reject) => token.onCancellationRequested(() => reject(new vscode.CancellationError())))));
    const commands = new Commands(host);
    const pending = commands.editSelection({ instruction: 'x' });
    await waitFor(() => commands.isGenerating);
    expect(commands.cancel()).toBe(true);
    expect((await pending).status).toBe('cancelled');
    expect(commands.cancel()).toBe(false);
  });

  it('server errors are shown with a way to the log', async () => {
    const host = makeHost(fakeClient(async () => Promise.reject(new Error('model exploded'))));
    const commands = new Commands(host);
    const outcome = await commands.editSelection({ instruction: 'x' });
    expect(outcome).toEqual({ status: 'error', message: 'model exploded' });
    const error = mock.messages.find((m) => m.kind === 'error');
    expect(error?.text).toContain('model exploded');
    expect(error?.items).toEqual(['Show Output']);
  });

  it('a malformed reply is an error, not a crash', async () => {
    const host = makeHost(fakeClient(async () => ({ nope: true })));
    const outcome = await new Commands(host).editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('error');
  });

  it('no change proposed: says so, nothing applied', async () => {
    const host = makeHost(fakeClient(async () => editResult(1, { edit: null })));
    const outcome = await new Commands(host).editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('empty');
    expect(mock.messages.some((m) => /no change/.test(m.text))).toBe(true);
  });

  it('a conflict found by the server is reported with Retry', async () => {
    const host = makeHost(fakeClient(async () => ({ applied: false, reason: 'conflict', message: 'the document changed under the edit', text: 'x', stats: {} })));
    const outcome = await new Commands(host).editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('conflict');
    const warning = mock.messages.find((m) => m.kind === 'warning');
    expect(warning?.text).toContain('the document changed under the edit');
    expect(warning?.items).toEqual(['Retry']);
    expect(doc.text).toBe(ORIGINAL);
  });

  it('with starcoder.preview off the edit applies directly', async () => {
    const host = makeHost(fakeClient(async () => editResult(1)), { previewMode: () => 'off' });
    const outcome = await new Commands(host).editSelection({ instruction: 'x' });
    expect(outcome.status).toBe('accepted');
    expect(mock.executed.some((e) => e.command === 'vscode.diff')).toBe(false);
    expect(doc.text.startsWith(NEW_BODY)).toBe(true);
  });

  it('without a server: unavailable, nothing else happens', async () => {
    const host = makeHost(undefined);
    expect((await new Commands(host).editSelection({ instruction: 'x' })).status).toBe('unavailable');
  });
});

describe('instruction prompt', () => {
  it('offers recent instructions and takes a typed one', async () => {
    const host = makeHost(fakeClient(async () => editResult(1)));
    await host.history.add('add docstrings');
    const commands = new Commands(host);
    mock.autoAnswer = 'Reject';
    const pending = commands.editSelection();
    await waitFor(() => mock.quickPicks.length === 1);
    const pick = mock.quickPicks[0];
    expect(pick.items.map((i: { label: string }) => i.label)).toEqual(['add docstrings']);
    pick.type('use pathlib');
    expect(pick.items[0].label).toBe('use pathlib');
    pick.accept();
    expect((await pending).status).toBe('rejected');
    expect(host.history.recent()).toEqual(['use pathlib', 'add docstrings']);
  });

  it('dismissing the prompt does nothing', async () => {
    const client = fakeClient(async () => editResult(1));
    const commands = new Commands(makeHost(client));
    const pending = commands.editSelection();
    await waitFor(() => mock.quickPicks.length === 1);
    mock.quickPicks[0].cancel();
    expect((await pending).status).toBe('dismissed');
    expect(client.sendRequest).not.toHaveBeenCalled();
  });
});

describe('Generate From Comment and the server code actions', () => {
  it('asks the server to generate at the cursor', async () => {
    const client = fakeClient(async () => editResult(1, { mode: 'generate' }));
    const commands = new Commands(makeHost(client));
    mock.autoAnswer = 'Accept';
    const outcome = await commands.generateFromComment();
    expect(outcome.status).toBe('accepted');
    expect(client.calls[0].params.mode).toBe('generate');
    expect(client.calls[0].params.instruction).toBeUndefined();
  });

  it('code action starcoder.edit with an instruction runs without prompting', async () => {
    const client = fakeClient(async () => editResult(1));
    const commands = new Commands(makeHost(client));
    mock.autoAnswer = 'Reject';
    const range = { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } };
    const outcome = await commands.fromServerCommand('starcoder.edit', [{ uri: URI, range, instruction: 'add types' }]);
    expect(outcome.status).toBe('rejected');
    expect(client.calls[0].params).toMatchObject({ uri: URI, range, instruction: 'add types' });
    expect(mock.quickPicks).toHaveLength(0);
  });

  it('code action starcoder.generate goes through the preview', async () => {
    const client = fakeClient(async () => editResult(1, { mode: 'generate' }));
    const commands = new Commands(makeHost(client));
    mock.autoAnswer = 'Accept';
    const outcome = await commands.fromServerCommand('starcoder.generate', [{ uri: URI, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } }]);
    expect(outcome.status).toBe('accepted');
    expect(client.calls[0].params.mode).toBe('generate');
  });

  it('code action starcoder.explain opens the explanation as a chat', async () => {
    const client = fakeClient(async () => ({ text: 'It returns **1**.', stats: {}, context: [], dropped: [] }));
    const commands = new Commands(makeHost(client));
    commands.attachChat(new ChatController(commands.host, commands.generation, commands.edits, undefined));
    const outcome = await commands.fromServerCommand('starcoder.explain', [{ uri: URI }]);
    expect(outcome.status).toBe('shown');
    expect(client.calls[0].method).toBe('starcoder/chat');
  });
});

describe('Explain Selection', () => {
  it('is the first turn of a chat about the selection, streamed', async () => {
    const seen: string[] = [];
    const client = fakeClient(async (method, params, _t, report) => {
      expect(method).toBe('starcoder/chat');
      expect(params.messages).toEqual([{ role: 'user', content: EXPLAIN_QUESTION }]);
      expect(params.context).toEqual([{ uri: URI, range: { start: { line: 0, character: 0 }, end: { line: 1, character: 12 } } }]);
      report('It returns');
      return { text: 'It returns **1**.', stats: {}, context: [], dropped: [] };
    });
    const commands = new Commands(makeHost(client));
    const chat = new ChatController(commands.host, commands.generation, commands.edits, undefined);
    chat.onDidChange((c) => c.kind === 'partial' && seen.push(c.text));
    commands.attachChat(chat);
    const outcome = await commands.explain();
    expect(outcome.status).toBe('shown');
    if (outcome.status !== 'shown') return;
    expect(outcome.markdown).toBe('It returns **1**.');
    expect(seen).toEqual(['It returns']);
    expect(chat.conversation.turns.map((t) => [t.role, t.content])).toEqual([
      ['user', EXPLAIN_QUESTION],
      ['assistant', 'It returns **1**.'],
    ]);
    expect(mock.executed.some((e) => e.command === 'markdown.showPreviewToSide')).toBe(false);
  });
});

describe('progress notification', () => {
  it('says when the model is downloading or loading before text arrives', async () => {
    let activity = 'downloading the model: 42%';
    const host = makeHost(
      fakeClient(async (_m, _p, _t, report) => {
        await new Promise((r) => setTimeout(r, 300));
        activity = 'loading the model…';
        await new Promise((r) => setTimeout(r, 300));
        report('x');
        return editResult(1);
      }),
      { modelActivity: () => activity },
    );
    mock.autoAnswer = 'Reject';
    await new Commands(host).editSelection({ instruction: 'x' });
    expect(mock.progress[0].messages).toEqual(expect.arrayContaining(['downloading the model: 42%', 'loading the model…']));
  });
});

describe('helpers', () => {
  it('shorten and progressMessage', () => {
    expect(shorten('a\n  b   c')).toBe('a b c');
    expect(shorten('x'.repeat(100), 10)).toHaveLength(10);
    expect(progressMessage(undefined, undefined)).toMatch(/waiting/);
    expect(progressMessage('a\nb', 12)).toBe('writing: 2 lines, 12.0 tok/s');
  });
});
