/** A language client stand-in: records requests, and lets a handler answer them and stream
 * `$/progress` reports to the request's work-done token. */
import { vi } from 'vitest';
import type * as vscode from 'vscode';

export type Handler = (method: string, params: any, token: vscode.CancellationToken, report: (text: string, kind?: 'begin' | 'report') => void) => Promise<unknown>;

export function fakeClient(handler: Handler) {
  const progress = new Map<string, (v: unknown) => void>();
  const client = {
    calls: [] as { method: string; params: any; token: vscode.CancellationToken }[],
    onProgress: vi.fn((_type: unknown, token: string, h: (v: unknown) => void) => {
      progress.set(token, h);
      return { dispose: () => progress.delete(token) };
    }),
    sendRequest: vi.fn((method: string, params: any, token: vscode.CancellationToken) => {
      client.calls.push({ method, params, token });
      const report = (text: string, kind: 'begin' | 'report' = 'report') => progress.get(params.workDoneToken)?.({ kind, message: text });
      return handler(method, params, token, report);
    }),
  };
  return client;
}
