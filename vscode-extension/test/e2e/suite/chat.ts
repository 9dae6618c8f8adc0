/**
 * StarCoder Chat in the real editor: the view's page is driven through the harness
 * (test/e2e/ui.mjs: Playwright types, presses keys, clicks and reads the DOM) while these
 * tests watch the extension and the document. The tiny model writes gibberish, so the
 * answer with HTML and a code block is put into the conversation as a restored answer:
 * it goes through the same rendering as a streamed one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WorkDoneProgress } from 'vscode-languageclient';
import { api, assert, folder, freshDocument, test, waitFor } from './harness';

let requestCounter = 0;

/** Asks the harness to do something on the page; resolves with its answer. */
async function ui(request: Record<string, unknown>, ms = 90_000): Promise<any> {
  const dir = path.join(folder, '.e2e');
  const name = `ui-request-${String(++requestCounter).padStart(4, '0')}.json`;
  fs.writeFileSync(path.join(dir, `${name}.tmp`), JSON.stringify(request));
  fs.renameSync(path.join(dir, `${name}.tmp`), path.join(dir, name));
  const response = path.join(dir, name.replace('request', 'response'));
  const answer = await waitFor(`the harness to ${request.action}`, () => fs.existsSync(response) && JSON.parse(fs.readFileSync(response, 'utf8')), ms);
  if (!answer.ok) throw new Error(`ui ${request.action} failed: ${answer.error}`);
  return answer.value;
}

const HOSTILE_ANSWER = [
  'Here is a typed version. <script>window.pwned = "script"; document.body.dataset.pwned = "script"</script>',
  '',
  '<img src="x" onerror="window.pwned = \'img\'; document.body.dataset.pwned = \'img\'">',
  '',
  '![tracker](https://example.com/pixel.png)',
  '',
  '```python',
  'def area(radius: float) -> float:',
  '    return math.pi * radius * radius',
  '```',
].join('\n');
const TYPED_AREA = 'def area(radius: float) -> float:\n    return math.pi * radius * radius\n';

export function registerChatTests(): void {
  test('Chat: ask about a selection in the view, the answer streams, Esc stops it', async () => {
    const editor = await freshDocument('chat.py');
    const before = editor.document.getText();
    const cfg = vscode.workspace.getConfiguration('starcoder');
    const previousMax = cfg.get<number>('maxTokens');
    const MAX = 4000;
    await cfg.update('maxTokens', MAX, vscode.ConfigurationTarget.Workspace);
    try {
      await api.chat.newChat();
      await vscode.commands.executeCommand('starcoder.askAboutSelection');
      const labels = api.chat.conversation.chips.map((c) => c.label);
      assert(labels.includes('chat.py') && labels.includes('chat.py:4-5'), `chips ${labels.join(', ')}`);
      await waitFor('chip sizes', () => api.chat.conversation.chips.every((c) => typeof c.tokens === 'number'), 30_000);
      await ui({ action: 'type', text: 'What does area do?', key: 'Enter' });
      await waitFor('the answer to start streaming', () => api.chat.streaming && api.chat.conversation.turns.at(-1)?.content, 120_000);
      const shown = await ui({ action: 'waitText', selector: '.turn.assistant .body', minLength: 3 });
      await ui({ action: 'screenshot', name: 'chat-streaming' });
      const during = await ui({ action: 'inspect' });
      assert(during.stopVisible, 'no Stop button while streaming');
      assert(during.chips.some((c: string) => /chat\.py:4-5 ~?\d+ tok/.test(c)), `chips in the view: ${during.chips.join(' | ')}`);
      const stoppedAt = Date.now();
      await ui({ action: 'type', key: 'Escape' });
      await waitFor('the answer to stop', () => !api.chat.streaming, 15_000);
      const stopMs = Date.now() - stoppedAt;
      const last = api.chat.conversation.turns.at(-1);
      assert(last?.status === 'stopped', `last turn ${JSON.stringify(last).slice(0, 200)}`);
      const client = await api.client();
      assert(client, 'no client');
      const status = await waitFor('the model to stop', async () => {
        const st = await client.sendRequest<{ state: string; message: string }>('starcoder/getStatus', {});
        return st.state !== 'generating' ? st : undefined;
      }, 10_000);
      const generated = Number(/(\d+) tokens/.exec(status.message)?.[1] ?? NaN);
      assert(!(generated >= MAX), `the model generated ${generated} of ${MAX} tokens: not stopped`);
      const after = await ui({ action: 'inspect' });
      assert(after.turns.some((t: string) => t.includes('stopped')), `turns ${after.turns.join(', ')}`);
      assert(!after.stopVisible, 'Stop still shown');
      assert(api.chat.firstTokenMs.length > 0, 'the view did not report its first token');
      assert(editor.document.getText() === before, 'chatting changed the document');
      return `streamed ${shown.text.length} chars in the view; stopped ${stopMs} ms after Esc at ${generated} tokens; Enter→first token ${Math.round(api.chat.firstTokenMs.at(-1)!)} ms`;
    } finally {
      await cfg.update('maxTokens', previousMax, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('Chat: an answer with <script> and <img onerror> runs nothing; Apply → preview → Accept changes the file', async () => {
    const editor = await freshDocument('apply.py');
    const before = editor.document.getText();
    await api.chat.newChat();
    api.chat.conversation.turns.push({ role: 'user', content: 'Add type hints to area' }, { role: 'assistant', content: HOSTILE_ANSWER });
    await api.chat.conversation.save();
    await vscode.commands.executeCommand('starcoder.openChat');
    api.chat.refresh();
    await ui({ action: 'waitText', selector: '.turn.assistant .body', contains: 'Here is a typed version' });
    const seen = await ui({ action: 'inspect' });
    await ui({ action: 'screenshot', name: 'chat-hostile-answer' });
    assert(seen.scriptsInMessages === 0 && seen.images === 0 && seen.eventAttributes === 0, `rendered ${JSON.stringify(seen).slice(0, 400)}`);
    assert(seen.pwned === null && seen.bodyPwned === null, `script ran: ${seen.pwned} ${seen.bodyPwned}`);
    assert(seen.text.includes('<script>') && seen.text.includes('[image: tracker]'), 'the HTML is not shown as text');
    assert(seen.codeBlocks === 1, `code blocks ${seen.codeBlocks}`);
    assert(/script-src 'nonce-/.test(seen.csp) && /default-src 'none'/.test(seen.csp), `CSP ${seen.csp}`);
    // Apply to the selection (the `area` function): the edit path's preview, then Accept.
    const previousEdit = api.commands.lastEdit;
    await vscode.window.showTextDocument(editor.document, { preview: false, preserveFocus: false });
    editor.selection = new vscode.Selection(3, 0, 5, 0);
    // Earlier tests' "review the proposed edit" toasts may still be on screen (a busy
    // machine runs the suite faster than toasts hide): clear them so that the Accept
    // clicked below is this Apply's.
    await vscode.commands.executeCommand('notifications.clearAll');
    await ui({ action: 'click', selector: '.code-block .code-apply' });
    await waitFor('the preview of the applied block', () => api.previews.active?.isReady, 60_000);
    await ui({ action: 'screenshot', name: 'chat-apply-preview' });
    await ui({ action: 'notification', text: 'review the proposed edit', button: 'Accept' });
    await waitFor('the file to change', () => editor.document.getText() !== before, 30_000);
    const expected = before.replace('def area(radius):\n    return math.pi * radius * radius\n', TYPED_AREA);
    assert(editor.document.getText() === expected, `document:\n${editor.document.getText()}`);
    const last = await waitFor('the edit flow to finish', () => api.commands.lastEdit !== previousEdit && api.commands.lastEdit, 10_000);
    assert(last?.status === 'accepted', `edit ${JSON.stringify(last).slice(0, 200)}`);
    assert(last.result.stats.completion_tokens === 0, 'the model ran for an Apply');
    return 'nothing ran; the block landed through the preview';
  });

  test('Chat: Apply with starcoder.preview "inline" goes through the inline review (code lenses, Accept All)', async () => {
    const editor = await freshDocument('apply-inline.py');
    const before = editor.document.getText();
    const cfg = vscode.workspace.getConfiguration('starcoder');
    await cfg.update('preview', 'inline', vscode.ConfigurationTarget.Workspace);
    try {
      await api.chat.newChat();
      api.chat.conversation.turns.push({ role: 'user', content: 'Add type hints to area' }, { role: 'assistant', content: `Typed:\n\n\`\`\`python\n${TYPED_AREA}\`\`\`` });
      await api.chat.conversation.save();
      await vscode.commands.executeCommand('starcoder.openChat');
      api.chat.refresh();
      await ui({ action: 'waitText', selector: '.turn.assistant .body', contains: 'Typed' });
      const previousEdit = api.commands.lastEdit;
      await vscode.window.showTextDocument(editor.document, { preview: false, preserveFocus: false });
      editor.selection = new vscode.Selection(3, 0, 5, 0);
      await ui({ action: 'click', selector: '.code-block .code-apply' });
      await waitFor('the inline review of the applied block', () => api.reviews.sessionFor(editor.document.uri)?.isLaidOut, 60_000);
      assert(!api.previews.active, 'a diff preview opened, not the inline review the setting asks for');
      const lenses = await waitFor('the Accept / Reject code lenses', async () => {
        const all = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', editor.document.uri)) ?? [];
        const ours = all.filter((l) => l.command?.command.startsWith('starcoder.'));
        return ours.some((l) => l.command?.command === 'starcoder.acceptChange') && ours;
      }, 10_000);
      await ui({ action: 'screenshot', name: 'chat-apply-inline' });
      // Accept All (Ctrl+Alt+Y; also a lens when the edit has several changes).
      await vscode.commands.executeCommand('starcoder.acceptEdit');
      const last = await waitFor('the edit flow to finish', () => api.commands.lastEdit !== previousEdit && api.commands.lastEdit, 30_000);
      assert(last.status === 'accepted', `edit ${JSON.stringify(last).slice(0, 200)}`);
      const expected = before.replace('def area(radius):\n    return math.pi * radius * radius\n', TYPED_AREA);
      assert(editor.document.getText() === expected, `document:\n${editor.document.getText()}`);
      assert(last.result.stats.completion_tokens === 0, 'the model ran for an Apply');
      return `reviewed inline (lenses: ${lenses.map((l) => l.command?.title).join(' | ')}); landed on Accept All`;
    } finally {
      await cfg.update('preview', 'diff', vscode.ConfigurationTarget.Workspace);
    }
  });

  test('Chat latency: Enter→first token in the view vs starcoder/chat called directly', async () => {
    const client = await api.client();
    assert(client, 'no client');
    const rounds = Number(process.env.STARCODER_CHAT_LATENCY_ROUNDS || 3);
    const question = 'What does perimeter do?';
    const view: number[] = [];
    const direct: number[] = [];
    await api.chat.newChat();
    await vscode.commands.executeCommand('starcoder.openChat');
    // Warm-up: the model loaded and the prompt in its cache, for both sides alike.
    await client.sendRequest('starcoder/loadModel', {});
    await client.sendRequest('starcoder/chat', { messages: [{ role: 'user', content: question }], context: api.chat.conversation.context() });
    for (let i = 0; i < rounds * 2; i++) {
      if ((i % 2 === 0) === (Math.floor(i / 2) % 2 === 0)) {
        await api.chat.newChat();
        const timed = await ui({ action: 'askTimed', text: question });
        await waitFor('the answer', () => !api.chat.streaming && api.chat.conversation.turns.length === 2, 120_000);
        view.push(timed.ms);
      } else {
        const token = `latency-${Date.now()}-${i}`;
        let first = 0;
        const started = performance.now();
        const sub = client.onProgress(WorkDoneProgress.type, token, (v) => {
          if (!first && v.kind === 'report' && v.message) first = performance.now() - started;
        });
        await client.sendRequest('starcoder/chat', { messages: [{ role: 'user', content: question }], context: api.chat.conversation.context(), workDoneToken: token });
        sub.dispose();
        direct.push(first);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const host = api.chat.hostFirstTokenMs.slice(-rounds);
    const page = api.chat.firstTokenMs.slice(-rounds);
    const result = {
      rounds,
      view_ms: view, // Enter in the view → first answer text on screen (timed by the browser driver)
      direct_ms: direct, // the extension host sends starcoder/chat → first $/progress text
      host_ms: host, // in the view's rounds: the controller's request → first text in the extension host
      page_ms: page, // in the view's rounds: as the page itself reports it
      view_median_ms: median(view),
      direct_median_ms: median(direct),
      host_median_ms: median(host),
      page_median_ms: median(page),
    };
    fs.writeFileSync(path.join(folder, '.e2e', 'chat-latency.json'), JSON.stringify(result, null, 2));
    return `median Enter→first token: view ${Math.round(result.view_median_ms)} ms, starcoder/chat directly ${Math.round(result.direct_median_ms)} ms`;
  });
}
