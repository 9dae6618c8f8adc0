/**
 * The text arithmetic of an inline review, pure (offsets into plain strings).
 *
 * The server's edit is a list of line hunks on the original text. In review, each hunk's new
 * text is inserted right after its old text, so the document holds both: Accept deletes the
 * old text, Reject deletes the new text. Since nothing else is touched, rejecting every hunk
 * gives the original back byte for byte, and accepting every hunk gives exactly the server's
 * edit. Regions follow the document as the user types (`trackChange`).
 */
import type { TextEdit } from '../protocol';
import { lineStarts, offsetAt } from '../text';

/** One change of a proposed edit, on the text it was computed for. */
export interface Hunk {
  id: number;
  /** Offset of `oldText` in that text. */
  start: number;
  oldText: string;
  newText: string;
}

/** A hunk's place in the document under review: its old text, then its new text. */
export interface Region {
  id: number;
  start: number;
  oldLength: number;
  newLength: number;
}

/** A change of a document: `removed` characters at `offset` replaced by `text`. */
export interface Change {
  offset: number;
  removed: number;
  text: string;
}

/** An edit by offsets: `length` characters at `offset` become `text`. */
export interface OffsetEdit {
  offset: number;
  length: number;
  text: string;
}

/** Where a change fell relative to a region. */
export type Placement = 'before' | 'after' | 'old' | 'new' | 'across';

/**
 * The hunks of `edits` (LSP text edits on `original`), in document order. A hunk that
 * replaces a last line without a line break takes the break before it into both texts, so
 * that in review the old and the new line are two lines, not one glued line.
 */
export function hunksFromEdits(original: string, edits: readonly TextEdit[]): Hunk[] {
  const starts = lineStarts(original);
  const spans = edits
    .map((edit) => ({ start: offsetAt(original, edit.range.start, starts), end: offsetAt(original, edit.range.end, starts), text: edit.newText }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const hunks: Hunk[] = [];
  let previousEnd = -1;
  for (const span of spans) {
    if (span.start < previousEnd) throw new Error('overlapping text edits');
    previousEnd = span.end;
    let start = span.start;
    let oldText = original.slice(span.start, span.end);
    let newText = span.text;
    if (oldText === newText) continue;
    const lastLine = span.end === original.length && !oldText.endsWith('\n');
    if (lastLine && newText && !newText.endsWith('\n') && start > 0 && original[start - 1] === '\n') {
      const breakLength = start > 1 && original[start - 2] === '\r' ? 2 : 1;
      start -= breakLength;
      const lineBreak = original.slice(start, span.start);
      oldText = lineBreak + oldText;
      newText = lineBreak + newText;
    }
    hunks.push({ id: hunks.length, start, oldText, newText });
  }
  return hunks;
}

/** The inserts that lay `hunks` out for review (each new text after its old text), and the
 * regions they make, both for the text the hunks were computed on. */
export function layout(hunks: readonly Hunk[]): { inserts: OffsetEdit[]; regions: Region[] } {
  const inserts: OffsetEdit[] = [];
  const regions: Region[] = [];
  let shift = 0;
  for (const hunk of [...hunks].sort((a, b) => a.start - b.start)) {
    const end = hunk.start + hunk.oldText.length;
    if (hunk.newText) inserts.push({ offset: end, length: 0, text: hunk.newText });
    regions.push({ id: hunk.id, start: hunk.start + shift, oldLength: hunk.oldText.length, newLength: hunk.newText.length });
    shift += hunk.newText.length;
  }
  return { inserts, regions };
}

/**
 * `hunks` moved through `changes` (made since the hunks' text, oldest first), or undefined
 * when a change overlaps or touches a hunk: the user worked where the edit goes.
 */
export function rebaseHunks(hunks: readonly Hunk[], changes: readonly Change[]): Hunk[] | undefined {
  const moved = hunks.map((hunk) => ({ ...hunk }));
  for (const change of changes) {
    const changeEnd = change.offset + change.removed;
    const delta = change.text.length - change.removed;
    for (const hunk of moved) {
      const hunkEnd = hunk.start + hunk.oldText.length;
      if (change.offset <= hunkEnd && hunk.start <= changeEnd) return undefined;
      if (change.offset < hunk.start) hunk.start += delta;
    }
  }
  return moved;
}

/** Where `change` falls relative to `region` (a change at the region's very start is before
 * it; one at the boundary of old and new text belongs to the new text). */
export function placement(region: Region, change: Change): Placement {
  const oldEnd = region.start + region.oldLength;
  const end = oldEnd + region.newLength;
  const changeEnd = change.offset + change.removed;
  if (changeEnd <= region.start) return 'before';
  if (change.offset >= end) return 'after';
  if (change.offset >= oldEnd && changeEnd <= end) return 'new';
  if (change.offset >= region.start && changeEnd <= oldEnd) return 'old';
  return 'across';
}

/** `region` after `change`; undefined when the change runs across its old and new text (the
 * user took that hunk over: it leaves the review as it stands). */
export function trackChange(region: Region, change: Change): Region | undefined {
  const delta = change.text.length - change.removed;
  switch (placement(region, change)) {
    case 'before':
      return { ...region, start: region.start + delta };
    case 'after':
      return region;
    case 'old':
      return { ...region, oldLength: region.oldLength + delta };
    case 'new':
      return { ...region, newLength: region.newLength + delta };
    default:
      return undefined;
  }
}

/** The deletions that decide `regions` (accept: their old texts, reject: their new texts),
 * in document order, touching ones merged into one. */
export function decisionEdits(regions: readonly Region[], decision: 'accept' | 'reject'): OffsetEdit[] {
  const spans = regions
    .map((r) => (decision === 'accept' ? { offset: r.start, length: r.oldLength } : { offset: r.start + r.oldLength, length: r.newLength }))
    .filter((span) => span.length > 0)
    .sort((a, b) => a.offset - b.offset);
  const out: OffsetEdit[] = [];
  for (const span of spans) {
    const last = out[out.length - 1];
    if (last && last.offset + last.length === span.offset) last.length += span.length;
    else out.push({ ...span, text: '' });
  }
  return out;
}

/** `regions` after deciding `decided` with `decision` (the deleted text removed). */
export function afterDecision(regions: readonly Region[], decided: ReadonlySet<number>, decision: 'accept' | 'reject'): Region[] {
  let shift = 0;
  const out: Region[] = [];
  for (const region of [...regions].sort((a, b) => a.start - b.start)) {
    if (decided.has(region.id)) {
      shift += decision === 'accept' ? region.oldLength : region.newLength;
      continue;
    }
    out.push({ ...region, start: region.start - shift });
  }
  return out;
}

/** What the model has written so far, as shown while it streams: without a fence it opened
 * itself, up to a closing fence, in the document's line ending. */
export function streamDisplay(streamed: string, eol: string): string {
  const lines = streamed.replace(/\r\n/g, '\n').split('\n');
  if (lines.length && /^ {0,3}`{3,}[^`\s][^`]*$/.test(lines[0])) lines.shift();
  const out: string[] = [];
  for (const line of lines) {
    if (/^ {0,3}`{3,}\s*$/.test(line)) break;
    const glued = /^(.*\S)\s*`{3,}\s*$/.exec(line);
    if (glued && !/`{3,}/.test(glued[1])) {
      out.push(glued[1]);
      break;
    }
    out.push(line);
  }
  while (out.length && !out[out.length - 1].trim()) out.pop();
  return out.join(eol);
}
