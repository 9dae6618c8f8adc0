/**
 * Streaming one request: the server reports the full text generated so far in `$/progress`
 * (work-done token sent in the params); a cancellable progress notification shows how far it
 * got, and its Cancel sends `$/cancelRequest`, which stops the model. Also the one generation
 * that runs at a time, which the Cancel Generation command stops.
 */
import * as vscode from 'vscode';
import type { BaseLanguageClient } from 'vscode-languageclient';
import { WorkDoneProgress } from 'vscode-languageclient';
import { EditArgs, progressText } from '../protocol';
import type { Host } from './host';

export const CTX_GENERATING = 'starcoder.generating';

/** The generation in progress, mirrored into the `starcoder.generating` context key (Cancel keybinding and menu). */
export class Generation {
  private source: vscode.CancellationTokenSource | undefined;

  get running(): vscode.CancellationTokenSource | undefined {
    return this.source;
  }

  set(source: vscode.CancellationTokenSource | undefined): void {
    this.source = source;
    void vscode.commands.executeCommand('setContext', CTX_GENERATING, source !== undefined);
  }

  /** Clears the slot unless a newer generation has taken it. */
  release(source: vscode.CancellationTokenSource): void {
    if (this.source === source) this.set(undefined);
  }

  /** Stops the generation in progress, if any. */
  cancel(): boolean {
    if (!this.source) return false;
    this.source.cancel();
    return true;
  }
}

let tokenCounter = 0;
export function newToken(kind: string): string {
  return `starcoder-${kind}-${Date.now().toString(36)}-${++tokenCounter}`;
}

export function isCancellation(err: unknown): boolean {
  if (err instanceof vscode.CancellationError) return true;
  const e = err as { code?: number; name?: string; message?: string } | undefined;
  // RequestCancelled (-32800), ServerCancelled (-32802)
  return e?.code === -32800 || e?.code === -32802 || e?.name === 'Canceled' || /cancel/i.test(e?.message ?? '');
}

/** A short progress line: lines written so far and speed. */
export function progressMessage(textSoFar: string | undefined, tokensPerSecond: number | undefined): string {
  if (!textSoFar) return 'waiting for the model…';
  const lines = textSoFar.split('\n').length;
  const speed = tokensPerSecond ? `, ${tokensPerSecond.toFixed(1)} tok/s` : '';
  return `writing: ${lines} line${lines === 1 ? '' : 's'}${speed}`;
}

/** How a streamed request ended. */
export type StreamReply<T> = { ok: true; value: T } | { ok: false; cancelled: true; elapsedMs: number } | { ok: false; cancelled: false; error: unknown };

/** Runs a request with work-done streaming, a cancellable progress notification and a cancel timeout. */
export async function streamRequest<T>(
  host: Host,
  client: BaseLanguageClient,
  method: string,
  params: EditArgs,
  title: string,
  onText: (text: string) => void,
  cancelSource: vscode.CancellationTokenSource,
): Promise<StreamReply<T>> {
  const token = newToken(method.replace(/\W/g, ''));
  let latest: string | undefined;
  const started = Date.now();
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, uiToken) => {
      const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'end') return;
        const text = progressText(value);
        if (text === undefined) return;
        latest = text;
        onText(text);
        progress.report({ message: progressMessage(latest, host.tokensPerSecond()) });
      });
      progress.report({ message: 'waiting for the model…' });
      let shownActivity: string | undefined;
      const activityTimer = setInterval(() => {
        if (latest !== undefined) return;
        const activity = host.modelActivity?.();
        if (activity && activity !== shownActivity) {
          shownActivity = activity;
          progress.report({ message: activity });
        }
      }, 250);
      const cancelOnUi = uiToken.onCancellationRequested(() => cancelSource.cancel());
      try {
        const request = client.sendRequest<T>(method, { ...params, workDoneToken: token }, cancelSource.token);
        // Once cancelled, wait a little for the server to confirm, not forever.
        const cancelled = new Promise<'cancelled'>((resolve) => {
          cancelSource.token.onCancellationRequested(() => setTimeout(() => resolve('cancelled'), 5000));
        });
        const value = await Promise.race([request, cancelled]);
        if (value === 'cancelled' || cancelSource.token.isCancellationRequested) {
          request.catch(() => undefined);
          return { ok: false as const, cancelled: true as const, elapsedMs: Date.now() - started };
        }
        return { ok: true as const, value: value as T };
      } catch (err) {
        if (cancelSource.token.isCancellationRequested || isCancellation(err)) {
          return { ok: false as const, cancelled: true as const, elapsedMs: Date.now() - started };
        }
        return { ok: false as const, cancelled: false as const, error: err };
      } finally {
        clearInterval(activityTimer);
        sub.dispose();
        cancelOnUi.dispose();
      }
    },
  );
}
