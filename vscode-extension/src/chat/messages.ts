/**
 * The messages between the chat view's webview and the extension, and the state the view
 * shows. Plain data: imported by both sides (the webview bundle has no `vscode`).
 */
import type { Role } from './protocol';

export type TurnStatus = 'streaming' | 'stopped' | 'error';

export interface ViewTurn {
  role: Role;
  content: string;
  status?: TurnStatus;
  /** Said under the turn: what the budget left out, or why it failed. */
  notice?: string;
}

export interface ViewChip {
  id: string;
  label: string;
  title: string;
  tokens?: number;
  estimated?: boolean;
  missing?: boolean;
}

export interface ViewState {
  turns: ViewTurn[];
  chips: ViewChip[];
  streaming: boolean;
}

export interface OpenFile {
  uri: string;
  label: string;
}

/** Extension -> webview. */
export type ToView =
  | { type: 'state'; state: ViewState }
  | { type: 'partial'; index: number; text: string }
  | { type: 'openFiles'; files: OpenFile[] }
  | { type: 'focus'; text?: string };

/** Webview -> extension. */
export type FromView =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'removeChip'; id: string }
  | { type: 'listFiles' }
  | { type: 'addFile'; uri: string }
  | { type: 'copy' | 'insert' | 'apply'; code: string }
  | { type: 'openLink'; href: string }
  /** Milliseconds from Enter to the first answer text drawn in the view. */
  | { type: 'firstToken'; ms: number };

const TYPES = new Set(['ready', 'send', 'stop', 'newChat', 'removeChip', 'listFiles', 'addFile', 'copy', 'insert', 'apply', 'openLink', 'firstToken']);

/** A message from the webview, checked (the webview renders untrusted text). */
export function parseFromView(value: unknown): FromView | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m.type !== 'string' || !TYPES.has(m.type)) return undefined;
  const str = (key: string): boolean => typeof m[key] === 'string';
  switch (m.type) {
    case 'send':
      return str('text') ? (m as FromView) : undefined;
    case 'removeChip':
      return str('id') ? (m as FromView) : undefined;
    case 'addFile':
      return str('uri') ? (m as FromView) : undefined;
    case 'copy':
    case 'insert':
    case 'apply':
      return str('code') ? (m as FromView) : undefined;
    case 'openLink':
      return str('href') ? (m as FromView) : undefined;
    case 'firstToken':
      return typeof m.ms === 'number' && Number.isFinite(m.ms) ? (m as FromView) : undefined;
    default:
      return m as FromView;
  }
}
