/** How the flows word things for the user: short labels, file names, and errors with a way to the log. */
import * as vscode from 'vscode';
import type { Host } from './host';

export function shorten(text: string, max = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function basename(uri: vscode.Uri): string {
  const parts = uri.path.split('/');
  return parts[parts.length - 1] || uri.toString();
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** An error notification whose "Show Output" opens the extension's log. */
export async function showError(host: Host, message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, 'Show Output');
  if (choice === 'Show Output') host.showOutput();
}
