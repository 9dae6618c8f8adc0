/**
 * The chat view's page: the conversation (answers rendered by render.ts), the chips, the
 * input. Keyboard: Enter sends, Shift+Enter is a new line, Esc stops, `@` adds an open
 * file. It only shows state and reports what the user did; the extension does the rest.
 */
import type { FromView, OpenFile, ToView, ViewState, ViewTurn } from '../messages';
import { renderMarkdown } from './render';

export interface VsCodeApi {
  postMessage(message: FromView): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const ROLE_NAMES = { user: 'You', assistant: 'StarCoder' } as const;

export class ChatPage {
  private state: ViewState = { turns: [], chips: [], streaming: false };
  private files: OpenFile[] = [];
  private mentionIndex = 0;
  private sentAt: number | undefined;
  private pendingPartial: { index: number; text: string } | undefined;
  private readonly el: Record<'messages' | 'chips' | 'mentions' | 'send' | 'stop' | 'new', HTMLElement> & { input: HTMLTextAreaElement };

  constructor(
    private readonly api: VsCodeApi,
    private readonly doc: Document,
  ) {
    const byId = (id: string): HTMLElement => {
      const found = doc.getElementById(id);
      if (!found) throw new Error(`#${id} is missing`);
      return found;
    };
    this.el = {
      messages: byId('messages'),
      chips: byId('chips'),
      mentions: byId('mentions'),
      send: byId('send'),
      stop: byId('stop'),
      new: byId('new'),
      input: byId('input') as HTMLTextAreaElement,
    };
    const saved = api.getState() as { draft?: string } | undefined;
    if (saved?.draft) this.el.input.value = saved.draft;
    this.el.input.addEventListener('keydown', (e) => this.onKey(e));
    this.el.input.addEventListener('input', () => this.onInput());
    this.el.send.addEventListener('click', () => this.send());
    this.el.stop.addEventListener('click', () => this.api.postMessage({ type: 'stop' }));
    this.el.new.addEventListener('click', () => this.api.postMessage({ type: 'newChat' }));
    this.el.messages.addEventListener('click', (e) => this.onLink(e));
    doc.defaultView?.addEventListener('message', (e: MessageEvent) => this.receive(e.data as ToView));
    api.postMessage({ type: 'ready' });
  }

  receive(message: ToView): void {
    switch (message.type) {
      case 'state':
        this.state = message.state;
        this.render();
        break;
      case 'partial':
        this.pendingPartial = message;
        this.schedule(() => this.flushPartial());
        break;
      case 'openFiles':
        this.files = message.files;
        this.showMentions();
        break;
      case 'focus':
        if (message.text !== undefined) this.el.input.value = message.text;
        this.el.input.focus();
        break;
    }
  }

  private schedule(fn: () => void): void {
    const view = this.doc.defaultView;
    if (view?.requestAnimationFrame) view.requestAnimationFrame(fn);
    else fn();
  }

  // ---- input ------------------------------------------------------------------------------

  private onKey(e: KeyboardEvent): void {
    if (!this.el.mentions.hidden && this.onMentionKey(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.send();
    } else if (e.key === 'Escape' && this.state.streaming) {
      e.preventDefault();
      this.api.postMessage({ type: 'stop' });
    }
  }

  private send(): void {
    const text = this.el.input.value.trim();
    if (!text || this.state.streaming) return;
    this.sentAt = performance.now();
    this.api.postMessage({ type: 'send', text });
    this.el.input.value = '';
    this.api.setState({ draft: '' });
  }

  private onInput(): void {
    this.api.setState({ draft: this.el.input.value });
    if (this.mentionQuery() === undefined) {
      this.el.mentions.hidden = true;
      return;
    }
    this.mentionIndex = 0;
    if (this.files.length) this.showMentions();
    this.api.postMessage({ type: 'listFiles' });
  }

  /** The text after an `@` that starts a word, up to the caret; undefined when none. */
  private mentionQuery(): string | undefined {
    const before = this.el.input.value.slice(0, this.el.input.selectionStart ?? this.el.input.value.length);
    const match = /(?:^|\s)@([^\s@]*)$/.exec(before);
    return match ? match[1] : undefined;
  }

  private matchingFiles(): OpenFile[] {
    const query = (this.mentionQuery() ?? '').toLowerCase();
    return this.files.filter((f) => f.label.toLowerCase().includes(query)).slice(0, 12);
  }

  private showMentions(): void {
    const list = this.mentionQuery() === undefined ? [] : this.matchingFiles();
    this.el.mentions.replaceChildren();
    this.el.mentions.hidden = list.length === 0;
    this.mentionIndex = Math.min(this.mentionIndex, Math.max(0, list.length - 1));
    list.forEach((file, index) => {
      const item = this.doc.createElement('div');
      item.className = `mention${index === this.mentionIndex ? ' active' : ''}`;
      item.setAttribute('role', 'option');
      item.textContent = file.label;
      item.addEventListener('mousedown', (e) => {
        e.preventDefault();
        this.pickMention(file);
      });
      this.el.mentions.append(item);
    });
  }

  private onMentionKey(e: KeyboardEvent): boolean {
    const list = this.matchingFiles();
    if (!list.length) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.mentionIndex = (this.mentionIndex + (e.key === 'ArrowDown' ? 1 : list.length - 1)) % list.length;
      this.showMentions();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      this.pickMention(list[this.mentionIndex] ?? list[0]);
    } else if (e.key === 'Escape') {
      this.el.mentions.hidden = true;
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  private pickMention(file: OpenFile): void {
    const input = this.el.input;
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret).replace(/@[^\s@]*$/, '');
    input.value = before + input.value.slice(caret);
    input.selectionStart = input.selectionEnd = before.length;
    this.el.mentions.hidden = true;
    this.api.postMessage({ type: 'addFile', uri: file.uri });
    this.api.setState({ draft: input.value });
  }

  // ---- output -------------------------------------------------------------------------------

  private render(): void {
    this.el.messages.replaceChildren(...this.state.turns.map((turn) => this.turnElement(turn)));
    this.renderChips();
    this.el.stop.hidden = !this.state.streaming;
    this.el.send.hidden = this.state.streaming;
    (this.el.send as HTMLButtonElement).disabled = this.state.streaming;
    this.el.messages.lastElementChild?.scrollIntoView?.({ block: 'end' });
  }

  private turnElement(turn: ViewTurn): HTMLElement {
    const box = this.doc.createElement('section');
    box.className = `turn ${turn.role}${turn.status ? ` ${turn.status}` : ''}`;
    const who = this.doc.createElement('div');
    who.className = 'who';
    who.textContent = ROLE_NAMES[turn.role];
    const body = this.doc.createElement('div');
    body.className = 'body';
    this.fillBody(body, turn);
    box.append(who, body);
    if (turn.notice) {
      const notice = this.doc.createElement('div');
      notice.className = 'notice';
      notice.textContent = turn.notice;
      box.append(notice);
    }
    return box;
  }

  private fillBody(body: HTMLElement, turn: ViewTurn): void {
    if (turn.role === 'user') {
      body.textContent = turn.content;
      return;
    }
    if (!turn.content && turn.status === 'streaming') {
      body.innerHTML = '';
      const waiting = this.doc.createElement('span');
      waiting.className = 'waiting';
      waiting.textContent = 'StarCoder is thinking…';
      body.append(waiting);
      return;
    }
    const { html, blocks } = renderMarkdown(turn.content);
    body.innerHTML = html;
    for (const block of Array.from(body.querySelectorAll<HTMLElement>('.code-block'))) {
      const code = blocks[Number(block.dataset.block)];
      if (code !== undefined) block.prepend(this.toolbar(code));
    }
  }

  private toolbar(code: string): HTMLElement {
    const bar = this.doc.createElement('div');
    bar.className = 'code-actions';
    const actions: [FromView['type'] & ('copy' | 'insert' | 'apply'), string, string][] = [
      ['copy', 'Copy', 'Copy the code'],
      ['insert', 'Insert', 'Insert at the cursor'],
      ['apply', 'Apply', 'Apply to the selection (shows the diff first)'],
    ];
    for (const [type, label, title] of actions) {
      const button = this.doc.createElement('button');
      button.type = 'button';
      button.className = `code-${type}`;
      button.textContent = label;
      button.title = title;
      button.addEventListener('click', () => this.api.postMessage({ type, code }));
      bar.append(button);
    }
    return bar;
  }

  private flushPartial(): void {
    const partial = this.pendingPartial;
    this.pendingPartial = undefined;
    if (!partial) return;
    const turn = this.state.turns[partial.index];
    const box = this.el.messages.children[partial.index] as HTMLElement | undefined;
    if (!turn || !box) return;
    turn.content = partial.text;
    const body = box.querySelector<HTMLElement>('.body');
    if (body) this.fillBody(body, turn);
    box.scrollIntoView?.({ block: 'end' });
    if (this.sentAt !== undefined && partial.text) {
      this.api.postMessage({ type: 'firstToken', ms: performance.now() - this.sentAt });
      this.sentAt = undefined;
    }
  }

  private renderChips(): void {
    this.el.chips.replaceChildren(
      ...this.state.chips.map((chip) => {
        const el = this.doc.createElement('span');
        el.className = `chip${chip.missing ? ' missing' : ''}`;
        el.title = chip.title;
        const label = this.doc.createElement('span');
        label.className = 'label';
        label.textContent = chip.label;
        const size = this.doc.createElement('span');
        size.className = 'tokens';
        size.textContent = chip.missing ? 'closed' : chip.tokens === undefined ? '…' : `${chip.estimated ? '~' : ''}${chip.tokens} tok`;
        const remove = this.doc.createElement('button');
        remove.type = 'button';
        remove.className = 'remove';
        remove.title = `Remove ${chip.label}`;
        remove.textContent = '×';
        remove.addEventListener('click', () => this.api.postMessage({ type: 'removeChip', id: chip.id }));
        el.append(label, size, remove);
        return el;
      }),
    );
  }

  private onLink(e: Event): void {
    const link = (e.target as HTMLElement | null)?.closest?.('a');
    if (!link) return;
    e.preventDefault();
    const href = link.getAttribute('href');
    if (href) this.api.postMessage({ type: 'openLink', href });
  }
}

if (typeof acquireVsCodeApi === 'function') {
  new ChatPage(acquireVsCodeApi(), document);
}
