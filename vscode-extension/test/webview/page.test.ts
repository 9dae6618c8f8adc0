// @vitest-environment jsdom
/**
 * The chat page in a DOM (jsdom): untrusted Markdown renders safely, code blocks get
 * their buttons, and the keyboard does what the view promises.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { chatHtml, contentSecurityPolicy } from '../../src/chat/html';
import type { FromView, ViewState } from '../../src/chat/messages';
import { ChatPage } from '../../src/chat/webview/main';
import { renderMarkdown } from '../../src/chat/webview/render';

const HOSTILE = [
  'Here you go <script>window.pwned = 1</script>',
  '',
  '<img src=x onerror="window.pwned = 2">',
  '',
  '![remote](https://example.com/track.png)',
  '',
  '[click](javascript:alert(1)) and <a href="https://x" onclick="window.pwned=3">x</a>',
  '',
  '```python',
  'print("<b>hi</b>")',
  '```',
].join('\n');

describe('renderMarkdown', () => {
  it('shows HTML in an answer as text and runs nothing', () => {
    const { html, blocks } = renderMarkdown(HOSTILE);
    const box = document.createElement('div');
    box.innerHTML = html;
    expect(box.querySelector('script, img, iframe, [onerror], [onclick], [style]')).toBeNull();
    expect(box.textContent).toContain('<script>window.pwned = 1</script>');
    expect(box.textContent).toContain('[image: remote]');
    expect(box.querySelector('a[href^="javascript"], a[onclick]')).toBeNull();
    expect(html).not.toContain('https://example.com/track.png');
    expect(blocks).toEqual(['print("<b>hi</b>")\n']);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it('highlights code with highlight.js classes', () => {
    const { html } = renderMarkdown('```python\ndef f(x):\n    return 1\n```');
    expect(html).toContain('class="hljs language-python"');
    expect(html).toContain('<span class="hljs-keyword">def</span>');
    expect(html).toContain('data-block="0"');
  });
});

describe('html', () => {
  it('has a strict Content-Security-Policy: our script by nonce, nothing remote', () => {
    const csp = contentSecurityPolicy('https://csp.example', 'abc123');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'nonce-abc123'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    expect(csp).toContain('img-src https://csp.example data:');
    const page = chatHtml({ cspSource: 'https://csp.example', nonce: 'abc123', scriptUri: 'https://csp.example/w.js', styleUri: 'https://csp.example/w.css' });
    expect(page).toContain('<script nonce="abc123" src="https://csp.example/w.js"></script>');
    expect(page.match(/<script/g)).toHaveLength(1);
  });
});

function mountPage() {
  const html = chatHtml({ cspSource: 'x', nonce: 'n', scriptUri: 'w.js', styleUri: 'w.css' });
  document.body.innerHTML = html.slice(html.indexOf('<main'), html.indexOf('</main>') + 7);
  const posted: FromView[] = [];
  let saved: unknown;
  const page = new ChatPage({ postMessage: (m) => posted.push(m), getState: () => saved, setState: (s) => (saved = s) }, document);
  const input = document.getElementById('input') as HTMLTextAreaElement;
  const key = (k: string, extra: KeyboardEventInit = {}) => input.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true, ...extra }));
  return { page, posted, input, key };
}

const STATE: ViewState = {
  turns: [
    { role: 'user', content: 'What is <b>this</b>?' },
    { role: 'assistant', content: HOSTILE, notice: "Left out to fit the model's window: 2 earlier messages." },
  ],
  chips: [{ id: 'file:///a.py', label: 'a.py', title: 'src/a.py', tokens: 42, estimated: true }],
  streaming: false,
};

describe('ChatPage', () => {
  beforeEach(() => {
    document.body.innerHTML = '';
    delete (window as unknown as { pwned?: number }).pwned;
  });

  it('Enter sends, Shift+Enter does not, Esc stops while streaming', () => {
    const { page, posted, input, key } = mountPage();
    expect(posted[0]).toEqual({ type: 'ready' });
    input.value = 'first line';
    key('Enter', { shiftKey: true });
    expect(posted.filter((m) => m.type === 'send')).toHaveLength(0);
    key('Enter');
    expect(posted.at(-1)).toEqual({ type: 'send', text: 'first line' });
    expect(input.value).toBe('');
    page.receive({ type: 'state', state: { ...STATE, streaming: true } });
    expect((document.getElementById('stop') as HTMLElement).hidden).toBe(false);
    key('Escape');
    expect(posted.at(-1)).toEqual({ type: 'stop' });
    input.value = 'while streaming';
    key('Enter');
    expect(posted.at(-1)).toEqual({ type: 'stop' }); // no second question meanwhile
  });

  it('renders the conversation safely, with chips and code block actions', () => {
    const { page, posted } = mountPage();
    page.receive({ type: 'state', state: STATE });
    const messages = document.getElementById('messages')!;
    expect(messages.querySelector('script, img, [onerror]')).toBeNull();
    expect(messages.querySelector('.turn.user .body')!.textContent).toBe('What is <b>this</b>?');
    expect(messages.querySelector('.notice')!.textContent).toContain('2 earlier messages');
    expect(document.querySelector('.chip .tokens')!.textContent).toBe('~42 tok');
    const apply = messages.querySelector<HTMLButtonElement>('.code-block .code-apply')!;
    apply.click();
    expect(posted.at(-1)).toEqual({ type: 'apply', code: 'print("<b>hi</b>")\n' });
    messages.querySelector<HTMLButtonElement>('.code-copy')!.click();
    expect(posted.at(-1)).toEqual({ type: 'copy', code: 'print("<b>hi</b>")\n' });
    document.querySelector<HTMLButtonElement>('.chip .remove')!.click();
    expect(posted.at(-1)).toEqual({ type: 'removeChip', id: 'file:///a.py' });
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it('streams partial text into the last answer and reports the first token once', async () => {
    const { page, posted, input, key } = mountPage();
    input.value = 'q';
    key('Enter');
    page.receive({ type: 'state', state: { turns: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '', status: 'streaming' }], chips: [], streaming: true } });
    expect(document.querySelector('.turn.assistant .waiting')).not.toBeNull();
    page.receive({ type: 'partial', index: 1, text: 'Hello **there**' });
    page.receive({ type: 'partial', index: 1, text: 'Hello **there**, more' });
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const body = document.querySelector('.turn.assistant .body')!;
    expect(body.innerHTML).toContain('<strong>there</strong>, more');
    expect(posted.filter((m) => m.type === 'firstToken')).toHaveLength(1);
  });

  it('@ lists open files and adds the chosen one', () => {
    const { page, posted, input } = mountPage();
    input.value = 'look at @geo';
    input.selectionStart = input.selectionEnd = input.value.length;
    input.dispatchEvent(new Event('input'));
    expect(posted.at(-1)).toEqual({ type: 'listFiles' });
    page.receive({ type: 'openFiles', files: [{ uri: 'file:///w/geo.py', label: 'src/geo.py' }, { uri: 'file:///w/b.py', label: 'b.py' }] });
    const items = document.querySelectorAll('#mentions .mention');
    expect(Array.from(items).map((i) => i.textContent)).toEqual(['src/geo.py']);
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    expect(posted.at(-1)).toEqual({ type: 'addFile', uri: 'file:///w/geo.py' });
    expect(input.value).toBe('look at ');
    expect(posted.some((m) => m.type === 'send')).toBe(false);
  });
});
