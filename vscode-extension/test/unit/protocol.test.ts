import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as protocol from '../../src/protocol';

describe('parseEditResult', () => {
  const good = {
    edit: {
      documentChanges: [
        { textDocument: { uri: 'file:///a.py', version: 3 }, edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } }, newText: 'x\n' }] },
      ],
    },
    text: 'x\n',
    instruction: 'rename',
    range: { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } },
    mode: 'edit',
    version: 3,
    stats: { prompt_tokens: 10, completion_tokens: 2, tokens_per_second: 40.5, total_s: 0.1 },
  };

  it('accepts the server result', () => {
    const parsed = protocol.parseEditResult(good);
    expect(parsed.edit?.documentChanges?.[0].textDocument).toEqual({ uri: 'file:///a.py', version: 3 });
    expect(parsed.version).toBe(3);
    expect(parsed.stats.tokens_per_second).toBe(40.5);
    expect(parsed.mode).toBe('edit');
  });

  it('accepts a null edit (nothing to change) and generate mode', () => {
    const parsed = protocol.parseEditResult({ ...good, edit: null, mode: 'generate' });
    expect(parsed.edit).toBeNull();
    expect(parsed.mode).toBe('generate');
  });

  it('accepts `changes` edits', () => {
    const parsed = protocol.parseEditResult({ ...good, edit: { changes: { 'file:///a.py': good.edit.documentChanges[0].edits } } });
    expect(parsed.edit?.changes?.['file:///a.py']).toHaveLength(1);
  });

  it('accepts a no-edit answer with a reason (empty, conflict)', () => {
    const parsed = protocol.parseEditResult({ applied: false, reason: 'empty', message: 'the model wrote nothing', edit: null });
    expect(parsed).toMatchObject({ edit: null, text: '', reason: 'empty', message: 'the model wrote nothing' });
  });

  it('rejects malformed results with a clear error', () => {
    expect(() => protocol.parseEditResult(null)).toThrow(protocol.ProtocolError);
    expect(() => protocol.parseEditResult({ ...good, text: 5 })).toThrow(/text/);
    expect(() => protocol.parseEditResult({ ...good, edit: { documentChanges: [{ edits: [] }] } })).toThrow(/document change/);
    expect(() => protocol.parseEditResult({ ...good, edit: { documentChanges: {} } })).toThrow(/list/);
  });
});

describe('parseStatus', () => {
  it('reads every state and clamps progress', () => {
    for (const state of protocol.STATES) expect(protocol.parseStatus({ state, message: '' })?.state).toBe(state);
    expect(protocol.parseStatus({ state: 'downloading', message: 'x', progress: 140 })?.progress).toBe(100);
    expect(protocol.parseStatus({ state: 'generating', message: '', tokensPerSecond: 12.5, model: 'm', backend: 'b' })).toEqual({
      state: 'generating',
      message: '',
      tokensPerSecond: 12.5,
      model: 'm',
      backend: 'b',
    });
    expect(protocol.parseStatus({ state: 'generating', tokens_per_second: 3 })?.tokensPerSecond).toBe(3);
  });

  it('ignores unknown states', () => {
    expect(protocol.parseStatus({ state: 'dancing' })).toBeUndefined();
    expect(protocol.parseStatus('ready')).toBeUndefined();
  });
});

describe('explain and progress', () => {
  it('parses explain results', () => {
    expect(protocol.parseExplainResult({ kind: 'markdown', value: '# hi', stats: {} }).value).toBe('# hi');
    expect(protocol.parseExplainResult('plain').value).toBe('plain');
    expect(() => protocol.parseExplainResult({})).toThrow(protocol.ProtocolError);
  });

  it('reads the full text from $/progress reports', () => {
    expect(protocol.progressText({ kind: 'report', message: 'def f' })).toBe('def f');
    expect(protocol.progressText({ kind: 'report', percentage: 3 })).toBeUndefined();
  });
});

describe('mirrors lsp_server/protocol.py', () => {
  const pyPath = join(__dirname, '..', '..', '..', 'lsp_server', 'protocol.py');
  let py = '';
  try {
    py = readFileSync(pyPath, 'utf8');
  } catch {
    // The extension can be built on its own; the check needs the whole repository.
  }
  const pairs: [string, string][] = [
    ['CMD_EDIT', protocol.CMD_EDIT],
    ['CMD_GENERATE', protocol.CMD_GENERATE],
    ['CMD_EXPLAIN', protocol.CMD_EXPLAIN],
    ['CMD_CANCEL', protocol.CMD_CANCEL],
    ['REQ_EDIT', protocol.REQ_EDIT],
    ['REQ_EXPLAIN', protocol.REQ_EXPLAIN],
    ['REQ_STATUS', protocol.REQ_STATUS],
    ['REQ_LOAD', protocol.REQ_LOAD],
    ['NOTIFY_STATUS', protocol.NOTIFY_STATUS],
  ];
  it.skipIf(!py).each(pairs)('%s has the same value', (name, value) => {
    const m = new RegExp(`^${name} = "([^"]+)"`, 'm').exec(py);
    expect(m?.[1]).toBe(value);
  });
  it.skipIf(!py)('has the same states', () => {
    const m = /^STATES = \(([^)]*)\)/m.exec(py);
    const states = [...(m?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((x) => x[1]);
    expect(states).toEqual([...protocol.STATES]);
  });
});
