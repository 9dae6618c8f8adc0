/** Context chips from the editor: the file, and the selection when there is one. */
import * as vscode from 'vscode';
import { fromRange } from '../preview';
import { basename } from '../commands/messages';
import { SUPPORTED_SCHEMES } from '../commands/target';
import type { Chip } from './conversation';
import type { OpenFile } from './messages';

function relative(uri: vscode.Uri): string {
  return vscode.workspace.asRelativePath ? vscode.workspace.asRelativePath(uri, false) : uri.fsPath;
}

export function fileChip(uri: vscode.Uri): Chip {
  return { uri: uri.toString(), label: basename(uri), title: relative(uri) };
}

/** The selected lines (a selection ending at the start of a line leaves that line out). */
export function selectionChip(uri: vscode.Uri, selection: vscode.Range): Chip | undefined {
  if (selection.isEmpty) return undefined;
  const first = selection.start.line;
  let last = selection.end.line;
  if (selection.end.character === 0 && last > first) last -= 1;
  const lines = first === last ? `${first + 1}` : `${first + 1}-${last + 1}`;
  return { uri: uri.toString(), range: fromRange(selection), label: `${basename(uri)}:${lines}`, title: `${relative(uri)}, lines ${lines}` };
}

/** The editor's file, and its selection when there is one. */
export function editorChips(editor: vscode.TextEditor | undefined): Chip[] {
  if (!editor || !SUPPORTED_SCHEMES.includes(editor.document.uri.scheme)) return [];
  const selection = selectionChip(editor.document.uri, editor.selection);
  return selection ? [fileChip(editor.document.uri), selection] : [fileChip(editor.document.uri)];
}

/** Open documents that `@` can attach. */
export function openFiles(): OpenFile[] {
  return vscode.workspace.textDocuments
    .filter((doc) => SUPPORTED_SCHEMES.includes(doc.uri.scheme) && !doc.isClosed)
    .map((doc) => ({ uri: doc.uri.toString(), label: relative(doc.uri) }))
    .sort((a, b) => a.label.localeCompare(b.label));
}
