/**
 * One conversation: its turns and attached code (chips), kept per workspace so that it
 * survives a window reload. What the server is sent is derived from it.
 */
import type { Range } from '../protocol';
import type { TurnStatus, ViewChip, ViewState } from './messages';
import type { ChatMessage, ContextRef, Role } from './protocol';

export const HISTORY_KEY = 'starcoder.chat.conversation';

/** Where the conversation is kept (VS Code's workspaceState). */
export interface Store {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

export interface Turn {
  role: Role;
  content: string;
  status?: TurnStatus;
  notice?: string;
}

export interface Chip {
  uri: string;
  range?: Range;
  label: string;
  title: string;
  tokens?: number;
  estimated?: boolean;
  missing?: boolean;
}

export function chipId(chip: { uri: string; range?: Range }): string {
  const r = chip.range;
  return r ? `${chip.uri}#${r.start.line}:${r.start.character}-${r.end.line}:${r.end.character}` : chip.uri;
}

export class Conversation {
  turns: Turn[] = [];
  chips: Chip[] = [];
  /** Once the user removed or added a chip, the chips stop following the editor. */
  chipsChosen = false;

  constructor(private readonly store?: Store) {
    const saved = store?.get<{ turns?: unknown; chips?: unknown }>(HISTORY_KEY);
    if (saved && Array.isArray(saved.turns)) {
      this.turns = saved.turns.filter(isTurn).map((t) => (t.status === 'streaming' ? { ...t, status: 'stopped' as const } : t));
    }
    if (saved && Array.isArray(saved.chips)) this.chips = saved.chips.filter(isChip);
    this.chipsChosen = this.turns.length > 0;
  }

  get isEmpty(): boolean {
    return this.turns.length === 0;
  }

  async save(): Promise<void> {
    await this.store?.update(HISTORY_KEY, { turns: this.turns, chips: this.chips });
  }

  clear(): void {
    this.turns = [];
    this.chips = [];
    this.chipsChosen = false;
  }

  setChips(chips: Chip[]): void {
    const seen = new Set<string>();
    this.chips = chips.filter((c) => {
      const id = chipId(c);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  addChip(chip: Chip): void {
    this.setChips([...this.chips, chip]);
    this.chipsChosen = true;
  }

  removeChip(id: string): void {
    this.chips = this.chips.filter((c) => chipId(c) !== id);
    this.chipsChosen = true;
  }

  /** The server's messages: the finished turns (a stopped answer counts with what it
   * said; failed turns and their questions are left out) and then `question`. */
  messagesFor(question: string): ChatMessage[] {
    const messages: ChatMessage[] = [];
    for (let i = 0; i < this.turns.length; i++) {
      const turn = this.turns[i];
      const next = this.turns[i + 1];
      if (turn.status === 'error' || turn.status === 'streaming') continue;
      if (turn.role === 'user' && next?.role === 'assistant' && (next.status === 'error' || !next.content.trim())) continue;
      if (turn.role === 'assistant' && !turn.content.trim()) continue;
      messages.push({ role: turn.role, content: turn.content });
    }
    messages.push({ role: 'user', content: question });
    return messages;
  }

  context(): ContextRef[] {
    return this.chips.map((c) => (c.range ? { uri: c.uri, range: c.range } : { uri: c.uri }));
  }

  view(streaming: boolean): ViewState {
    const chips: ViewChip[] = this.chips.map((c) => ({
      id: chipId(c),
      label: c.label,
      title: c.title,
      tokens: c.tokens,
      estimated: c.estimated,
      missing: c.missing,
    }));
    return { turns: this.turns.map((t) => ({ ...t })), chips, streaming };
  }
}

function isTurn(value: unknown): value is Turn {
  const t = value as Turn;
  return typeof t === 'object' && t !== null && (t.role === 'user' || t.role === 'assistant') && typeof t.content === 'string';
}

function isChip(value: unknown): value is Chip {
  const c = value as Chip;
  return typeof c === 'object' && c !== null && typeof c.uri === 'string' && typeof c.label === 'string';
}
