/**
 * How an inline review looks: the old lines of each hunk decorated as deleted, its new lines
 * as inserted (the diff editor's colours), the streaming answer as inserted text, and the
 * code being rewritten highlighted while the model writes.
 */
import * as vscode from 'vscode';
import type { Region } from './hunks';
import type { ReviewSession } from './session';

export class ReviewDecorations implements vscode.Disposable {
  readonly removed = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor('diffEditor.removedLineBackground'),
    overviewRulerColor: new vscode.ThemeColor('editorOverviewRuler.deletedForeground'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
    textDecoration: 'line-through',
    opacity: '0.75',
  });
  readonly inserted = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor('diffEditor.insertedLineBackground'),
    overviewRulerColor: new vscode.ThemeColor('editorOverviewRuler.addedForeground'),
    overviewRulerLane: vscode.OverviewRulerLane.Left,
  });
  readonly streaming = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor('diffEditor.insertedLineBackground'),
    fontStyle: 'italic',
  });
  readonly rewriting = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor('editor.rangeHighlightBackground'),
  });

  /** Draws `session` (or clears, when undefined) in every editor showing `document`. */
  show(document: vscode.TextDocument, session: ReviewSession | undefined): void {
    const ranges = session && !session.isFinished ? rangesOf(document, session) : { removed: [], inserted: [], streaming: [], rewriting: [] };
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document !== document) continue;
      editor.setDecorations(this.removed, ranges.removed);
      editor.setDecorations(this.inserted, ranges.inserted);
      editor.setDecorations(this.streaming, ranges.streaming);
      editor.setDecorations(this.rewriting, ranges.rewriting);
    }
  }

  dispose(): void {
    this.removed.dispose();
    this.inserted.dispose();
    this.streaming.dispose();
    this.rewriting.dispose();
  }
}

function rangesOf(document: vscode.TextDocument, session: ReviewSession) {
  const removed: vscode.Range[] = [];
  const inserted: vscode.Range[] = [];
  for (const region of session.pending) {
    pushLines(removed, document, region.start, region.start + region.oldLength);
    pushLines(inserted, document, region.start + region.oldLength, region.start + region.oldLength + region.newLength);
  }
  const streaming: vscode.Range[] = [];
  const block = session.streaming;
  if (block) pushLines(streaming, document, block.start, block.start + block.length);
  const rewriting: vscode.Range[] = [];
  const target = session.rewriting;
  if (target) pushLines(rewriting, document, target.start, target.start + target.oldLength);
  return { removed, inserted, streaming, rewriting };
}

/** The whole lines that the text in [start, end) occupies (a line break it starts with in
 * the middle of a line belongs to that line; one it ends with ends its last line). */
export function linesOf(document: vscode.TextDocument, start: number, end: number): vscode.Range | undefined {
  const text = document.getText();
  if (end <= start) return undefined;
  const midLine = start > 0 && text[start - 1] !== '\n';
  if (midLine && text.startsWith('\r\n', start)) start += 2;
  else if (midLine && text[start] === '\n') start += 1;
  if (end > start && text[end - 1] === '\n') end -= text[end - 2] === '\r' ? 2 : 1;
  if (end < start) return undefined;
  const first = document.positionAt(start).line;
  const last = document.positionAt(Math.max(start, end)).line;
  return new vscode.Range(first, 0, last, 0);
}

function pushLines(into: vscode.Range[], document: vscode.TextDocument, start: number, end: number): void {
  const range = linesOf(document, start, end);
  if (range) into.push(range);
}

/** The line a hunk's code lens goes on: its first line of text. */
export function regionLine(document: vscode.TextDocument, region: Region): number {
  const range = linesOf(document, region.start, region.start + region.oldLength + region.newLength);
  return range ? range.start.line : document.positionAt(region.start).line;
}
