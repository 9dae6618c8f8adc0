import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('vscode-languageclient', () => ({ WorkDoneProgress: { type: { method: '$/progress' } } }));

import * as vscode from 'vscode';
import { Commands } from '../../src/commands';
import type { Host } from '../../src/commands/host';
import { TESTS_SCHEME, outputDocument } from '../../src/commands/validation';
import { InstructionHistory } from '../../src/history';
import { PreviewManager } from '../../src/preview';
import { ReviewManager } from '../../src/review';
import * as protocol from '../../src/protocol';
import { Position, Selection, mock } from './vscode-mock';

const URI = 'file:///ws/calc.py';
const TEST_FILE = 'file:///ws/tests/test_calc.py';
const ORIGINAL = 'def add(a, b):\n    """>>> add(2, 3)\n    5"""\n';
const NEW_CODE = 'def add(a, b):\n    """>>> add(2, 3)\n    5"""\n    return a + b\n';

function validation(passed: boolean, over: Record<string, unknown> = {}) {
  return {
    status: passed ? 'passed' : 'failed',
    passed,
    testsPassed: passed ? 4 : 1,
    testsTotal: 4,
    candidates: passed ? 3 : 6,
    isolation: { network: 'none (new network namespace)', filesystem: 'Landlock ABI 7' },
    output: passed ? 'sample 3: 4/4 tests pass\nPASS doctest: add(2, 3)' : 'FAIL doctest: add(2, 3)\n    Expected: 5\n    Got: -1',
    label: passed ? '4/4 tests pass: 1 doctest from your docstring, 3 tests written by the model' : 'FAILING: 1/4 tests pass (1 doctest, 3 tests written by the model); best of 6 candidates',
    chosen: passed ? 'sample 3' : 'the greedy answer',
    tests: 'from calc import add\n\n\ndef test_add_model_written_1():\n    assert add(1, 1) == 2\n',
    testFile: TEST_FILE,
    sources: { doctest: 1, model: 3 },
    ...over,
  };
}

function result(v: unknown) {
  return {
    edit: {
      documentChanges: [{ textDocument: { uri: URI, version: 1 }, edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } }, newText: NEW_CODE }] }],
    },
    text: NEW_CODE,
    instruction: 'implement add',
    range: { start: { line: 0, character: 0 }, end: { line: 3, character: 0 } },
    mode: 'edit',
    version: 1,
    stats: {},
    validation: v,
  };
}

function fakeClient(reply: unknown, reports: unknown[] = []) {
  const progress = new Map<string, (v: unknown) => void>();
  const client = {
    calls: [] as any[],
    onProgress: vi.fn((_type: unknown, token: string, h: (v: unknown) => void) => {
      progress.set(token, h);
      return { dispose: () => progress.delete(token) };
    }),
    sendRequest: vi.fn(async (method: string, params: any) => {
      client.calls.push({ method, params });
      for (const r of reports) progress.get(params.workDoneToken)?.(r);
      return reply;
    }),
  };
  return client;
}

function makeHost(client: unknown, over: Partial<Host> = {}): Host {
  const store = new Map<string, unknown>();
  return {
    client: async () => client as any,
    previews: new PreviewManager(),
    reviews: new ReviewManager(),
    history: new InstructionHistory({ get: (k, d) => (store.has(k) ? (store.get(k) as any) : d), update: async (k, v) => void store.set(k, v) }),
    log: vi.fn(),
    showOutput: vi.fn(),
    previewMode: () => 'diff',
    tokensPerSecond: () => undefined,
    ...over,
  };
}

beforeEach(() => {
  mock.reset();
  const doc = mock.addDocument(URI, ORIGINAL);
  mock.openEditor(doc).selection = new Selection(new Position(0, 0), new Position(3, 0));
});

describe('protocol', () => {
  it('parses the validation fields and keeps them out of the streamed text', () => {
    const parsed = protocol.parseEditResult(result(validation(true)));
    expect(parsed.validation).toMatchObject({ passed: true, testsPassed: 4, testsTotal: 4, candidates: 3, chosen: 'sample 3' });
    expect(parsed.validation?.isolation).toMatchObject({ network: 'none (new network namespace)' });
    expect(protocol.parseEditResult({ ...result(undefined) }).validation).toBeUndefined();
    const report = { kind: 'report', message: 'candidate 2/5: 3/4 tests pass', validation: validation(false) };
    expect(protocol.progressText(report)).toBeUndefined();
    expect(protocol.progressValidation(report)?.message).toBe('candidate 2/5: 3/4 tests pass');
    expect(protocol.progressValidation({ kind: 'report', message: 'def f' })).toBeUndefined();
    expect(protocol.parseValidation({ passed: 'yes' })).toBeUndefined();
  });
});

describe('Edit and Test', () => {
  it('asks the server to validate, shows progress, labels the preview and offers the tests', async () => {
    const reports = [
      { kind: 'report', message: 'candidate 1/5: 0/4 tests pass', validation: validation(false) },
      { kind: 'report', message: 'def add(a, b):' },
      { kind: 'report', message: 'candidate 3/5: 4/4 tests pass', validation: validation(true) },
    ];
    const client = fakeClient(result(validation(true)), reports);
    const commands = new Commands(makeHost(client));
    mock.autoAnswer = 'Accept';
    const outcome = await commands.editAndTest({ instruction: 'implement add' });
    expect(client.calls[0].params).toMatchObject({ uri: URI, instruction: 'implement add', validate: true });
    expect(outcome.status).toBe('accepted');
    expect(mock.documents.get(URI)!.text).toBe(NEW_CODE);
    const messages = mock.progress[0].messages;
    expect(messages).toContain('candidate 1/5: 0/4 tests pass');
    expect(messages).toContain('candidate 3/5: 4/4 tests pass');
    expect(messages.some((m) => m.startsWith('candidate 1/5: 0/4 tests pass · writing'))).toBe(true);
    const diffs = mock.executed.filter((e) => e.command === 'vscode.diff');
    expect(diffs.at(-1)?.args[2]).toBe('calc.py ↔ StarCoder: 4/4 tests pass: 1 doctest from your docstring, 3 tests written by the model');
    const ask = mock.messages.find((m) => m.items.includes('Accept'))!;
    expect(ask.text).toContain('4/4 tests pass');
    expect(ask.items).toEqual(['Accept', 'Reject', 'Show Test Output']);
    expect(mock.messages.some((m) => m.items.includes('Insert Tests') && m.text.includes('test_calc.py'))).toBe(true);
  });

  // Each review mode, the preview off included: a warning, and Reject keeps the file.
  it.each([
    ['off', 'Reject', ['Accept', 'Reject', 'Show Test Output']],
    ['diff', 'Reject', ['Accept', 'Reject', 'Show Test Output']],
    ['inline', 'Reject All', ['Show Test Output', 'Reject All']],
  ] as const)('failing code is marked and never applied unasked (preview %s)', async (mode, reject, buttons) => {
    const commands = new Commands(makeHost(fakeClient(result(validation(false))), { previewMode: () => mode }));
    mock.autoAnswer = reject;
    const outcome = await commands.editAndTest({ instruction: 'implement add' });
    expect(outcome.status).toBe('rejected');
    expect(mock.documents.get(URI)!.text).toBe(ORIGINAL);
    const warning = mock.messages.find((m) => m.kind === 'warning')!;
    expect(warning.text).toContain('FAILING: 1/4 tests pass');
    expect(warning.text).toContain('did not pass its tests');
    expect(warning.items).toEqual(buttons);
  });

  it('Show Test Output opens the tests, their output and the sandbox in force', async () => {
    const commands = new Commands(makeHost(fakeClient(result(validation(false)))));
    mock.autoAnswer = 'Reject';
    await commands.editAndTest({ instruction: 'implement add' });
    const uri = await commands.showTestOutput();
    expect(uri?.scheme).toBe(TESTS_SCHEME);
    const text = mock.providers.get(TESTS_SCHEME)!.provideTextDocumentContent(uri as any);
    expect(text).toContain('FAIL doctest: add(2, 3)');
    expect(text).toContain('network: none (new network namespace)');
    expect(outputDocument(protocol.parseValidation(validation(true))!)).toContain('proposed: sample 3');
  });

  it("inserts the model's tests into the project's test file as a second, previewed edit", async () => {
    const commands = new Commands(makeHost(fakeClient(result(validation(true)))));
    mock.autoAnswer = 'Accept';
    await commands.editAndTest({ instruction: 'implement add', decision: 'accept' });
    const outcome = await commands.insertTests({ uri: URI, decision: 'accept' });
    expect(outcome).toBe('accepted');
    const created = mock.documents.get(TEST_FILE)!;
    expect(created.text).toBe('from calc import add\n\n\ndef test_add_model_written_1():\n    assert add(1, 1) == 2\n');
    expect(mock.executed.some((e) => e.command === 'vscode.diff' && String(e.args[2]).includes("test_calc.py ↔ StarCoder: the model's tests"))).toBe(true);

    // An existing file gets them appended; Reject leaves it alone.
    created.text = 'import pytest\n';
    expect(await commands.insertTests({ uri: URI, decision: 'reject' })).toBe('rejected');
    expect(created.text).toBe('import pytest\n');
    expect(await commands.insertTests({ uri: URI, decision: 'accept' })).toBe('accepted');
    expect(created.text.startsWith('import pytest\n\n\nfrom calc import add\n')).toBe(true);
    expect(vscode.workspace.fs.delete).not.toHaveBeenCalled();
  });

  it('inline review: the tests-pass label is a code lens and in the notification; Accept lands the tested code', async () => {
    const host = makeHost(fakeClient(result(validation(true))), { previewMode: () => 'inline' });
    const commands = new Commands(host);
    const pending = commands.editAndTest({ instruction: 'implement add' });
    await waitFor(() => host.reviews.sessionFor(URI)?.isLaidOut === true);
    const doc = mock.documents.get(URI)!;
    const lenses = mock.codeLensProviders.flatMap((p) => p.provideCodeLenses(doc)) as vscode.CodeLens[];
    const label = lenses.find((l) => l.command?.command === 'starcoder.showTestOutput');
    expect(label?.command?.title).toBe('$(beaker) 4/4 tests pass: 1 doctest from your docstring, 3 tests written by the model');
    const note = mock.messages.find((m) => m.items.includes('Show Test Output'))!;
    expect(note.kind).not.toBe('warning');
    expect(note.text).toContain('4/4 tests pass');
    expect(mock.statusMessages.at(-1)).toContain('4/4 tests pass');
    expect(await host.reviews.decideAll('accept')).toBe(true);
    const outcome = await pending;
    expect(outcome.status).toBe('accepted');
    expect(doc.text).toBe(NEW_CODE);
    expect(mock.messages.some((m) => m.items.includes('Insert Tests'))).toBe(true);
    const output = await commands.showTestOutput();
    expect(mock.providers.get(TESTS_SCHEME)!.provideTextDocumentContent(output as any)).toContain('PASS doctest: add(2, 3)');
  });
});

function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timeout')) : setTimeout(tick, 5));
    tick();
  });
}
