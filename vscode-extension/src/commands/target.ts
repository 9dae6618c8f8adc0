/**
 * What a command is given (CommandArgs) and the document and range it acts on: the arguments
 * when a caller names them, else the active editor's selection.
 */
import * as vscode from 'vscode';
import { fromRange } from '../preview';
import type { Range as LspRange } from '../protocol';
import type { PreviewMode } from '../review';

/** Documents the server sees (the client's document selector). */
export const SUPPORTED_SCHEMES = ['file', 'untitled'];

/** Optional argument of the client commands (keybindings, tests, other extensions). */
export interface CommandArgs {
  instruction?: string;
  uri?: string;
  range?: LspRange;
  /** Overrides `starcoder.preview`: a mode, or a boolean as the setting used to be
   * (true: the diff, false: apply without review). */
  preview?: boolean | PreviewMode;
  /** Decide the preview without asking (tests, scripted use); inline: every hunk. */
  decision?: 'accept' | 'reject';
}

export interface Target {
  uri: vscode.Uri;
  range: LspRange;
  document: vscode.TextDocument;
}

export async function resolveTarget(args: CommandArgs): Promise<Target | undefined> {
  if (args.uri) {
    const uri = vscode.Uri.parse(args.uri);
    const document = await vscode.workspace.openTextDocument(uri);
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString());
    const range = args.range ?? (editor ? fromRange(editor.selection) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } });
    return { uri, range, document };
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor || !SUPPORTED_SCHEMES.includes(editor.document.uri.scheme)) {
    void vscode.window.showInformationMessage('StarCoder: open a file and select the code first.');
    return undefined;
  }
  return { uri: editor.document.uri, range: args.range ?? fromRange(editor.selection), document: editor.document };
}
