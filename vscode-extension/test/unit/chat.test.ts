import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('vscode-languageclient', () => ({ WorkDoneProgress: { type: { method: '$/progress' } } }));

import * as vscode from 'vscode';
import { ChatController } from '../../src/chat/controller';
import { HISTORY_KEY } from '../../src/chat/conversation';
import type { ToView } from '../../src/chat/messages';
import { describeDropped, parseChatResult } from '../../src/chat/protocol';
import { CHAT_VIEW_ID, ChatViewProvider } from '../../src/chat/view';
import { Commands } from '../../src/commands';
import type { Host } from '../../src/commands/host';
import { InstructionHistory } from '../../src/history';
import { PreviewManager } from '../../src/preview';
import { type PreviewMode, ReviewManager } from '../../src/review';
import { FakeDocument, Position, Selection, Uri, mock } from './vscode-mock';
import { Handler, fakeClient } from './fake-client';

function memento() {
  const data = new Map<string, unknown>();
  return { data, get: <T>(k: string) => data.get(k) as T | undefined, update: async (k: string, v: unknown) => void data.set(k, JSON.parse(JSON.stringify(v))) };
}

function setup(handler: Handler, store = memento(), preview: PreviewMode = 'diff') {
  const client = fakeClient(handler);
  const host: Host = {
    client: async () => client as any,
    previews: new PreviewManager(),
    reviews: new ReviewManager(),
    history: new InstructionHistory({ get: (_k, d) => d, update: async () => undefined }),
    log: vi.fn(),
    showOutput: vi.fn(),
    previewMode: () => preview,
    tokensPerSecond: () => undefined,
  };
  const commands = new Commands(host);
  const chat = new ChatController(host, commands.generation, commands.edits, store);
  return { client, chat, store, commands, host };
}

const URI = 'file:///ws/geo.py';
const TEXT = 'def area(r):\n    return 3.14 * r * r\n\nprint(area(2))\n';
let doc: FakeDocument;

beforeEach(() => {
  mock.reset();
  doc = mock.addDocument(URI, TEXT);
  const editor = mock.openEditor(doc);
  editor.selection = new Selection(new Position(0, 0), new Position(2, 0));
});

const answer = (text: string, over: Record<string, unknown> = {}) => ({ text, stats: { completion_tokens: 3 }, context: [], dropped: [], ...over });

describe('ChatController', () => {
  it('streams an answer into the conversation and sends earlier turns with the next question', async () => {
    const partials: string[] = [];
    const { chat, client, store } = setup(async (_m, params, _t, report) => {
      report('waiting for the model…', 'begin'); // the server's begin message is not answer text
      report('It');
      report('It computes');
      return answer(params.messages.length === 1 ? 'It computes the area.' : 'Use pytest.', {
        context: [{ uri: URI, path: 'geo.py', tokens: 30 }, { uri: URI, path: 'geo.py', tokens: 12 }],
        dropped: params.messages.length === 1 ? [] : [{ kind: 'context', uri: URI, reason: 'trimmed', lines: { first: 1, last: 2 } }],
      });
    });
    chat.onDidChange((c) => c.kind === 'partial' && partials.push(c.text));
    await chat.askAboutSelection();
    expect(chat.conversation.chips.map((c) => c.label)).toEqual(['geo.py', 'geo.py:1-2']);
    const first = await chat.ask('What does area do?');
    expect(first.status).toBe('answered');
    expect(partials).toEqual(['It', 'It computes']);
    const call = client.calls.find((c) => c.method === 'starcoder/chat')!;
    expect(call.params.messages).toEqual([{ role: 'user', content: 'What does area do?' }]);
    expect(call.params.context).toEqual([{ uri: URI }, { uri: URI, range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } } }]);
    expect(typeof call.params.workDoneToken).toBe('string');
    expect(chat.conversation.chips.map((c) => c.tokens)).toEqual([30, 12]);
    await chat.ask('How do I test it?');
    const second = client.calls.filter((c) => c.method === 'starcoder/chat')[1];
    expect(second.params.messages).toEqual([
      { role: 'user', content: 'What does area do?' },
      { role: 'assistant', content: 'It computes the area.' },
      { role: 'user', content: 'How do I test it?' },
    ]);
    expect(chat.conversation.turns.at(-1)!.notice).toBe("Left out to fit the model's window: geo.py cut to lines 1-2.");
    // Kept per workspace: a reload (a new controller on the same store) has it back.
    expect((store.data.get(HISTORY_KEY) as any).turns).toHaveLength(4);
    const again = setup(async () => answer('x'), store).chat;
    expect(again.conversation.turns.map((t) => t.content)).toEqual(['What does area do?', 'It computes the area.', 'How do I test it?', 'Use pytest.']);
    expect(again.conversation.chips).toHaveLength(2);
  });

  it('Stop cancels the request and keeps what was written, marked stopped', async () => {
    let cancelled = false;
    const { chat } = setup(
      (_m, _p, token, report) =>
        new Promise((_resolve, reject) => {
          report('Partial answer');
          token.onCancellationRequested(() => {
            cancelled = true;
            reject(Object.assign(new Error('cancelled'), { code: -32800 }));
          });
        }),
    );
    const pending = chat.ask('Tell me everything');
    await vi.waitFor(() => expect(chat.conversation.turns.at(-1)!.content).toBe('Partial answer'));
    expect(chat.streaming).toBe(true);
    expect(await chat.ask('another')).toEqual({ status: 'busy' });
    expect(chat.stop()).toBe(true);
    const outcome = await pending;
    expect(outcome.status).toBe('stopped');
    expect(cancelled).toBe(true);
    expect(chat.conversation.turns.at(-1)).toMatchObject({ content: 'Partial answer', status: 'stopped' });
    expect(chat.streaming).toBe(false);
  });

  it('a failed answer says why and is not sent again as history', async () => {
    let fail = true;
    const { chat, client } = setup(async () => {
      if (fail) throw new Error('the model is busy');
      return answer('ok');
    });
    const outcome = await chat.ask('first');
    expect(outcome).toEqual({ status: 'error', message: 'the model is busy' });
    expect(chat.conversation.turns.at(-1)).toMatchObject({ status: 'error', notice: 'Failed: the model is busy' });
    fail = false;
    await chat.ask('second');
    expect(client.calls.filter((c) => c.method === 'starcoder/chat')[1].params.messages).toEqual([{ role: 'user', content: 'second' }]);
  });

  it('New chat starts over with the editor as context', async () => {
    const { chat } = setup(async () => answer('a'));
    await chat.ask('q');
    await chat.newChat();
    expect(chat.conversation.turns).toEqual([]);
    expect(chat.conversation.chips.map((c) => c.label)).toEqual(['geo.py', 'geo.py:1-2']);
  });

  const APPLIED = 'def area(r: float) -> float:\n    return 3.14 * r * r\n';
  /** The server's reply to chat's Apply of APPLIED on the selection (lines 1-2). */
  const applyHandler = (seen: any[]): Handler => async (method, params) => {
    seen.push(params);
    expect(method).toBe('starcoder/edit');
    expect(params.answer).toBe(APPLIED);
    expect(params.range).toEqual({ start: { line: 0, character: 0 }, end: { line: 2, character: 0 } });
    return {
      edit: { documentChanges: [{ textDocument: { uri: URI, version: 1 }, edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } }, newText: APPLIED }] }] },
      text: APPLIED,
      instruction: 'apply the code from StarCoder Chat',
      range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } },
      mode: 'edit',
      version: 1,
      stats: {},
    };
  };

  it('Apply hands the block to the edit path (preview, Accept) as the answer for the selection', async () => {
    const block = APPLIED;
    const { chat, client } = setup(applyHandler([]));
    mock.autoAnswer = 'Accept';
    const outcome = await chat.apply(block);
    expect(outcome.status).toBe('accepted');
    expect(client.calls).toHaveLength(1);
    expect(mock.executed.some((e) => e.command === 'vscode.diff')).toBe(true); // the preview
    expect(doc.getText()).toBe(block + '\nprint(area(2))\n');
  });

  it('Apply goes through the review the user chose: inline, hunk by hunk (Accept All lands it)', async () => {
    const seen: any[] = [];
    const { chat, client, host } = setup(applyHandler(seen), memento(), 'inline');
    const pending = chat.apply(APPLIED);
    const start = Date.now();
    while (!host.reviews.sessionFor(URI)?.isLaidOut) {
      if (Date.now() - start > 3000) throw new Error('the inline review did not begin');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen[0].rebase).toBe(false); // the inline review moves the edit itself
    expect(mock.executed.some((e) => e.command === 'vscode.diff')).toBe(false); // no diff editor
    expect(mock.codeLensProviders.length).toBeGreaterThan(0);
    expect(await host.reviews.decideAll('accept')).toBe(true);
    const outcome = await pending;
    expect(outcome.status).toBe('accepted');
    expect(client.calls).toHaveLength(1);
    expect(doc.getText()).toBe(APPLIED + '\nprint(area(2))\n');
  });

  it('Insert puts the block at the cursor; Copy puts it on the clipboard', async () => {
    const { chat } = setup(async () => answer('a'));
    mock.openEditor(doc).selection = new Selection(new Position(3, 0), new Position(3, 0));
    expect(await chat.insert('# note\n')).toBe(true);
    expect(doc.getText()).toBe(TEXT.replace('print', '# note\nprint'));
    await chat.copy('x = 1');
    expect(mock.clipboard).toBe('x = 1');
  });

  it('sizes chips with starcoder/chatContext', async () => {
    const { chat } = setup(async (method) => {
      expect(method).toBe('starcoder/chatContext');
      return { context: [{ uri: URI, open: true, tokens: 40, estimated: true }, { uri: URI, open: true, tokens: 9, estimated: true }] };
    });
    chat.followEditor();
    await chat.sizeNow();
    expect(chat.conversation.chips.map((c) => [c.tokens, c.estimated])).toEqual([[40, true], [9, true]]);
  });
});

describe('ChatViewProvider', () => {
  it('serves the page under a strict CSP and routes its messages', async () => {
    const { chat } = setup(async () => answer('Hi **there**'));
    const provider = new ChatViewProvider(Uri.file('/ext') as any, chat);
    const posted: ToView[] = [];
    let onMessage: (m: unknown) => void = () => undefined;
    const webview = {
      options: {} as any,
      html: '',
      cspSource: 'vscode-webview://abc',
      asWebviewUri: (u: any) => u,
      postMessage: vi.fn(async (m: ToView) => void posted.push(m)),
      onDidReceiveMessage: (l: (m: unknown) => void) => ((onMessage = l), { dispose() {} }),
    };
    provider.resolveWebviewView({ webview, visible: true, onDidChangeVisibility: () => ({ dispose() {} }), onDidDispose: () => ({ dispose() {} }) } as any);
    expect(webview.options.enableScripts).toBe(true);
    expect(webview.options.localResourceRoots.map(String)).toEqual(['file:///ext/dist/chat']);
    expect(webview.html).toMatch(/Content-Security-Policy" content="default-src 'none'; style-src vscode-webview:\/\/abc;/);
    expect(webview.html).toMatch(/script-src 'nonce-[\w-]{20,}'/);
    onMessage({ type: 'ready' });
    expect(posted.at(-1)).toMatchObject({ type: 'state', state: { streaming: false } });
    onMessage({ type: 'send', text: 'hello' });
    await vi.waitFor(() => expect(chat.conversation.turns.at(-1)?.content).toBe('Hi **there**'));
    onMessage({ type: 'firstToken', ms: 42 });
    expect(chat.firstTokenMs).toEqual([42]);
    onMessage({ type: 'openLink', href: 'command:workbench.action.quit' });
    onMessage({ type: 'bogus' });
    expect(vscode.env.openExternal).not.toHaveBeenCalled();
    expect(CHAT_VIEW_ID).toBe('starcoder.chatView');
  });
});

describe('chat protocol', () => {
  it('validates replies and words what was left out', () => {
    expect(() => parseChatResult({ stats: {} })).toThrow(/starcoder\/chat/);
    const result = parseChatResult({ text: 'a', stats: {}, dropped: [{ kind: 'message', index: 0, role: 'user' }, { kind: 'message', index: 1, role: 'assistant' }, { kind: 'context', uri: 'u', reason: 'not open' }, { nonsense: 1 }] });
    expect(describeDropped(result.dropped, () => 'x.py')).toBe("Left out to fit the model's window: 2 earlier messages; x.py (not open).");
    expect(describeDropped([], () => '')).toBeUndefined();
  });
});
