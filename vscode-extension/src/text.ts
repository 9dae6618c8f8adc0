/** Pure text helpers: LSP positions (UTF-16 code units, like VS Code) over plain strings. */
import type { Position, Range, TextEdit } from './protocol';

/** Offsets of the start of each line; a line ends after `\n` (so `\r\n` stays on its line). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 10) starts.push(i + 1);
  }
  return starts;
}

/** Length of a line without its line break. */
function lineLength(text: string, starts: number[], line: number): number {
  const start = starts[line];
  let end = line + 1 < starts.length ? starts[line + 1] - 1 : text.length;
  if (end > start && line + 1 < starts.length && text.charCodeAt(end - 1) === 13) end -= 1;
  return Math.max(0, end - start);
}

export function offsetAt(text: string, pos: Position, starts = lineStarts(text)): number {
  if (pos.line < 0) return 0;
  if (pos.line >= starts.length) return text.length;
  const char = Math.max(0, Math.min(pos.character, lineLength(text, starts, pos.line)));
  return starts[pos.line] + char;
}

export function positionAt(text: string, offset: number, starts = lineStarts(text)): Position {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= clamped) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: clamped - starts[lo] };
}

function comparePos(a: Position, b: Position): number {
  return a.line - b.line || a.character - b.character;
}

/** Applies LSP text edits (all against the same original text) and returns the new text. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const starts = lineStarts(text);
  const sorted = edits
    .map((edit, index) => ({ edit, index, start: offsetAt(text, edit.range.start, starts), end: offsetAt(text, edit.range.end, starts) }))
    .sort((a, b) => b.start - a.start || b.end - a.end || b.index - a.index);
  let out = text;
  let lastStart = Number.POSITIVE_INFINITY;
  for (const { edit, start, end } of sorted) {
    if (end > lastStart) throw new Error('overlapping text edits');
    out = out.slice(0, start) + edit.newText + out.slice(end);
    lastStart = start;
  }
  return out;
}

/** The range that `newText` occupies once inserted at `start`. */
export function insertedRange(start: Position, newText: string): Range {
  const starts = lineStarts(newText);
  const lastLine = starts.length - 1;
  const end: Position =
    lastLine === 0
      ? { line: start.line, character: start.character + newText.length }
      : { line: start.line + lastLine, character: newText.length - starts[lastLine] };
  return { start, end };
}

/** The end-of-line sequence a text uses. */
export function eolOf(text: string): '\n' | '\r\n' {
  const i = text.indexOf('\n');
  return i > 0 && text.charCodeAt(i - 1) === 13 ? '\r\n' : '\n';
}

/**
 * The whole lines a selection covers, as the server targets them: from the start of the
 * first line to the start of the line after the last one (a selection that ends at column 0
 * does not include that line).
 */
export function wholeLines(text: string, range: Range): Range {
  const starts = lineStarts(text);
  const [a, b] = comparePos(range.start, range.end) <= 0 ? [range.start, range.end] : [range.end, range.start];
  let lastLine = b.line;
  if (b.character === 0 && b.line > a.line) lastLine -= 1;
  const startLine = Math.min(a.line, starts.length - 1);
  lastLine = Math.min(Math.max(lastLine, startLine), starts.length - 1);
  const end: Position =
    lastLine + 1 < starts.length ? { line: lastLine + 1, character: 0 } : { line: lastLine, character: lineLength(text, starts, lastLine) };
  return { start: { line: startLine, character: 0 }, end };
}

/**
 * What the document would look like with the text streamed so far: used for the live
 * preview while the model writes (the final preview uses the server's edit).
 * - edit: the streamed text replaces the selected whole lines;
 * - generate: it is inserted after the line of the cursor (or the selection).
 */
export function streamingPreview(original: string, range: Range, streamed: string, mode: 'edit' | 'generate'): string {
  const eol = eolOf(original);
  let body = streamed.replace(/\r?\n/g, eol);
  if (mode === 'generate') {
    const lines = wholeLines(original, range);
    const at = offsetAt(original, lines.end);
    const needsBreakBefore = at === original.length && at > 0 && !original.endsWith('\n');
    if (body && !body.endsWith(eol)) body += eol;
    return original.slice(0, at) + (needsBreakBefore ? eol : '') + body + original.slice(at);
  }
  const lines = wholeLines(original, range);
  const start = offsetAt(original, lines.start);
  const end = offsetAt(original, lines.end);
  const replacedEndsWithBreak = end > start && original.slice(start, end).endsWith('\n');
  if (replacedEndsWithBreak && body && !body.endsWith(eol)) body += eol;
  return original.slice(0, start) + body + original.slice(end);
}
