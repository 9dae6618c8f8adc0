/**
 * `starcoder/chat` and `starcoder/chatContext` payloads (mirrors lsp_server/chat/ and
 * features/chat.py). Replies are validated here so a server of another version gives a
 * clear error, not a broken view.
 */
import { ProtocolError, Range, Stats } from '../protocol';

export type Role = 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

/** A file (no range) or selection attached to the conversation. */
export interface ContextRef {
  uri: string;
  range?: Range;
}

export interface ChatParams {
  messages: ChatMessage[];
  context?: ContextRef[];
  workDoneToken?: string;
}

/** Something the server left out to fit the model's window. */
export type Dropped =
  | { kind: 'message'; index: number; role: Role }
  | { kind: 'context'; uri: string; reason: 'trimmed'; lines: { first: number; last: number } }
  | { kind: 'context'; uri: string; reason: 'dropped' | 'not open' };

export interface ChatResult {
  text: string;
  stats: Stats;
  family?: string;
  promptTokens?: number;
  context: { uri: string; path: string; tokens: number }[];
  dropped: Dropped[];
}

/** One attached file or selection as the server sizes it. */
export interface ContextSize {
  uri: string;
  open: boolean;
  tokens: number;
  estimated: boolean;
  path?: string;
  lines?: { first: number; last: number };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseDropped(value: unknown): Dropped[] {
  if (!Array.isArray(value)) return [];
  return value.filter((d): d is Dropped => isObj(d) && (d.kind === 'message' || d.kind === 'context'));
}

export function parseChatResult(value: unknown): ChatResult {
  if (!isObj(value) || typeof value.text !== 'string') throw new ProtocolError('starcoder/chat must return {text, stats}');
  const context = Array.isArray(value.context)
    ? value.context.filter((c): c is { uri: string; path: string; tokens: number } => isObj(c) && typeof c.uri === 'string' && typeof c.tokens === 'number')
    : [];
  return {
    text: value.text,
    stats: isObj(value.stats) ? (value.stats as Stats) : {},
    family: typeof value.family === 'string' ? value.family : undefined,
    promptTokens: typeof value.promptTokens === 'number' ? value.promptTokens : undefined,
    context,
    dropped: parseDropped(value.dropped),
  };
}

export function parseContextSizes(value: unknown): ContextSize[] {
  if (!isObj(value) || !Array.isArray(value.context)) throw new ProtocolError('starcoder/chatContext must return {context: [...]}');
  return value.context.filter((c): c is ContextSize => isObj(c) && typeof c.uri === 'string' && typeof c.tokens === 'number');
}

/** What was left out, in words for the view ("2 earlier messages; big.py: lines 10-80"). */
export function describeDropped(dropped: Dropped[], pathOf: (uri: string) => string): string | undefined {
  const parts: string[] = [];
  const messages = dropped.filter((d) => d.kind === 'message').length;
  if (messages) parts.push(`${messages} earlier message${messages === 1 ? '' : 's'}`);
  for (const d of dropped) {
    if (d.kind !== 'context') continue;
    if (d.reason === 'trimmed') parts.push(`${pathOf(d.uri)} cut to lines ${d.lines.first}-${d.lines.last}`);
    else if (d.reason === 'dropped') parts.push(`${pathOf(d.uri)} (no room)`);
    else parts.push(`${pathOf(d.uri)} (not open)`);
  }
  return parts.length ? `Left out to fit the model's window: ${parts.join('; ')}.` : undefined;
}
