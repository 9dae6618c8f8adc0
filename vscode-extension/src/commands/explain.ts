/**
 * "Explain Selection": the explanation is the first turn of a StarCoder Chat conversation
 * (the selection attached), so follow-up questions work.
 */
import * as vscode from 'vscode';
import type { ChatController } from '../chat/controller';
import { toRange } from '../preview';
import { showError } from './messages';
import type { Host } from './host';
import { CommandArgs, resolveTarget } from './target';

export type ExplainOutcome =
  | { status: 'shown'; markdown: string }
  | { status: 'cancelled'; elapsedMs: number }
  | { status: 'error'; message: string }
  | { status: 'unavailable' }
  | { status: 'dismissed' };

export class ExplainFlow {
  /** The chat the explanations open in (set once the chat view exists). */
  chat: ChatController | undefined;

  constructor(private readonly host: Host) {}

  async explain(args: CommandArgs = {}): Promise<ExplainOutcome> {
    const target = await resolveTarget(args);
    if (!target || !this.chat) return { status: 'dismissed' };
    const outcome = await this.chat.explain(target.uri, toRange(target.range));
    switch (outcome.status) {
      case 'answered':
        return { status: 'shown', markdown: outcome.result.text };
      case 'stopped':
        return { status: 'cancelled', elapsedMs: outcome.elapsedMs };
      case 'unavailable':
        return { status: 'unavailable' };
      case 'busy':
        void vscode.window.showInformationMessage('StarCoder: the chat is still answering; stop it or wait.');
        return { status: 'dismissed' };
      case 'error':
        void showError(this.host, `StarCoder: explaining failed: ${outcome.message}`);
        return { status: 'error', message: outcome.message };
    }
  }
}
