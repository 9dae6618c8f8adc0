import { describe, expect, it } from 'vitest';
import { applyEdits, eolOf, insertedRange, lineStarts, offsetAt, positionAt, streamingPreview, wholeLines } from '../../src/text';

const r = (sl: number, sc: number, el: number, ec: number) => ({ start: { line: sl, character: sc }, end: { line: el, character: ec } });

describe('positions', () => {
  it('maps offsets and positions both ways, CRLF included', () => {
    const text = 'ab\r\ncd\nef';
    expect(lineStarts(text)).toEqual([0, 4, 7]);
    expect(offsetAt(text, { line: 0, character: 99 })).toBe(2); // clamped before \r\n
    expect(offsetAt(text, { line: 1, character: 1 })).toBe(5);
    expect(offsetAt(text, { line: 9, character: 0 })).toBe(text.length);
    expect(positionAt(text, 5)).toEqual({ line: 1, character: 1 });
    expect(positionAt(text, 8)).toEqual({ line: 2, character: 1 });
  });

  it('counts UTF-16 code units like VS Code', () => {
    const text = 'x = "😀"\ny';
    expect(offsetAt(text, { line: 0, character: 7 })).toBe(7);
    expect(positionAt(text, text.indexOf('y'))).toEqual({ line: 1, character: 0 });
  });
});

describe('applyEdits', () => {
  it('applies several edits against the original text', () => {
    const text = 'one\ntwo\nthree\n';
    const out = applyEdits(text, [
      { range: r(0, 0, 0, 3), newText: 'ONE' },
      { range: r(2, 0, 3, 0), newText: 'THREE\nFOUR\n' },
    ]);
    expect(out).toBe('ONE\ntwo\nTHREE\nFOUR\n');
  });

  it('keeps insertions at the same point in order', () => {
    expect(applyEdits('ab', [{ range: r(0, 1, 0, 1), newText: 'x' }, { range: r(0, 1, 0, 1), newText: 'y' }])).toBe('axyb');
  });

  it('refuses overlapping edits', () => {
    expect(() => applyEdits('abcdef', [{ range: r(0, 0, 0, 3), newText: '' }, { range: r(0, 2, 0, 4), newText: '' }])).toThrow(/overlapping/);
  });
});

describe('ranges', () => {
  it('insertedRange spans the new text', () => {
    expect(insertedRange({ line: 2, character: 4 }, 'abc')).toEqual(r(2, 4, 2, 7));
    expect(insertedRange({ line: 2, character: 4 }, 'a\nbc\n')).toEqual(r(2, 4, 4, 0));
  });

  it('wholeLines expands a selection to full lines', () => {
    const text = 'a\nbb\nccc\n';
    expect(wholeLines(text, r(1, 1, 1, 1))).toEqual(r(1, 0, 2, 0));
    expect(wholeLines(text, r(0, 1, 2, 0))).toEqual(r(0, 0, 2, 0)); // ends at column 0: line 2 excluded
    expect(wholeLines(text, r(2, 2, 0, 0))).toEqual(r(0, 0, 3, 0)); // reversed
    expect(wholeLines('a\nb', r(1, 0, 1, 1))).toEqual(r(1, 0, 1, 1)); // last line without newline
  });

  it('eolOf detects CRLF', () => {
    expect(eolOf('a\r\nb')).toBe('\r\n');
    expect(eolOf('a\nb')).toBe('\n');
    expect(eolOf('a')).toBe('\n');
  });
});

describe('streamingPreview', () => {
  const original = 'def f():\n    return 1\n\nprint(f())\n';

  it('replaces the selected lines with the text so far', () => {
    expect(streamingPreview(original, r(0, 0, 1, 12), 'def f() -> int:\n    ret', 'edit')).toBe('def f() -> int:\n    ret\n\nprint(f())\n');
  });

  it('inserts after the line of the cursor when generating', () => {
    const text = '# add two numbers\n\nx = 1\n';
    expect(streamingPreview(text, r(0, 5, 0, 5), 'def add(a, b):', 'generate')).toBe('# add two numbers\ndef add(a, b):\n\nx = 1\n');
  });

  it('keeps CRLF documents CRLF', () => {
    expect(streamingPreview('a\r\nb\r\n', r(0, 0, 0, 1), 'x\ny', 'edit')).toBe('x\r\ny\r\nb\r\n');
  });

  it('adds a line break when generating at the end of a file without one', () => {
    expect(streamingPreview('# hi', r(0, 4, 0, 4), 'code', 'generate')).toBe('# hi\ncode\n');
  });
});
