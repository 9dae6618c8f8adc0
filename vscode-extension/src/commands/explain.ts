/**
 * "Explain Selection": the model's Markdown streams into a read-only document of its own
 * scheme, shown in the Markdown preview beside the code.
 */
import * as vscode from 'vscode';
import { PreviewContentProvider } from '../preview';
import { ExplainResult, REQ_EXPLAIN, parseExplainResult } from '../protocol';
import type { Host } from './host';
import { basename, errorMessage, showError } from './messages';
import { Generation, streamRequest } from './stream';
import { CommandArgs, resolveTarget } from './target';

export const EXPLAIN_SCHEME = 'starcoder-explain';

export type ExplainOutcome =
  | { status: 'shown'; markdown: string; uri: string }
  | { status: 'cancelled'; elapsedMs: number }
  | { status: 'error'; message: string }
  | { status: 'unavailable' }
  | { status: 'dismissed' };

export class ExplainFlow implements vscode.Disposable {
  /** The explanations' text, served under EXPLAIN_SCHEME. */
  readonly docs = new PreviewContentProvider();
  private readonly registration: vscode.Disposable;
  private explainCounter = 0;

  constructor(
    private readonly host: Host,
    private readonly generation: Generation,
  ) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, this.docs);
  }

  dispose(): void {
    this.docs.dispose();
    this.registration.dispose();
  }

  /** "StarCoder: Explain Selection": Markdown in a preview panel, streamed. */
  async explain(args: CommandArgs = {}): Promise<ExplainOutcome> {
    const target = await resolveTarget(args);
    if (!target) return { status: 'dismissed' };
    const client = await this.host.client();
    if (!client) return { status: 'unavailable' };
    const uri = vscode.Uri.from({ scheme: EXPLAIN_SCHEME, path: `/StarCoder explanation ${++this.explainCounter}.md` });
    const header = `# Explanation of ${basename(target.uri)}\n\n`;
    this.docs.set(uri, `${header}_The model is writing…_\n`);
    const source = new vscode.CancellationTokenSource();
    this.generation.set(source);
    const shown = this.showMarkdown(uri);
    try {
      const reply = await streamRequest<unknown>(
        this.host,
        client,
        REQ_EXPLAIN,
        { uri: target.uri.toString(), range: target.range },
        `StarCoder: explaining ${basename(target.uri)}`,
        (text) => this.docs.set(uri, header + text),
        source,
      );
      if (!reply.ok) {
        if (reply.cancelled) {
          this.docs.set(uri, `${this.docs.get(uri) ?? header}\n\n_Cancelled._\n`);
          return { status: 'cancelled', elapsedMs: reply.elapsedMs };
        }
        const message = errorMessage(reply.error);
        this.docs.set(uri, `${header}_Failed: ${message}_\n`);
        void showError(this.host, `StarCoder: explaining failed: ${message}`);
        return { status: 'error', message };
      }
      let result: ExplainResult;
      try {
        result = parseExplainResult(reply.value);
      } catch (err) {
        return { status: 'error', message: errorMessage(err) };
      }
      this.docs.set(uri, header + result.value);
      await shown;
      return { status: 'shown', markdown: result.value, uri: uri.toString() };
    } finally {
      this.generation.release(source);
      source.dispose();
    }
  }

  private async showMarkdown(uri: vscode.Uri): Promise<void> {
    try {
      await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
    } catch {
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
    }
  }
}
