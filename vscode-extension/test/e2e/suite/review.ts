/**
 * Inline review and the quick fix, in VS Code's real extension host against the real server:
 * the answer streams into the document, hunks get Accept / Reject code lenses (run through
 * VS Code's own code lens and command machinery), the file on disk has exactly the hunks
 * accepted, and Reject leaves it byte for byte as it was.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { EditOutcome } from '../../../src/commands/edit';
import { editsFor } from '../../../src/preview';
import type { EditResult } from '../../../src/protocol';
import { applyEdits } from '../../../src/text';
import { SAMPLE, api, assert, freshDocument, screenshot, sleep, test, waitFor } from './harness';


async function lenses(uri: vscode.Uri): Promise<vscode.CodeLens[]> {
  const all = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
  return all.filter((lens) => lens.command?.command.startsWith('starcoder.'));
}

async function run(lens: vscode.CodeLens): Promise<void> {
  assert(lens.command, 'a code lens without a command');
  await vscode.commands.executeCommand(lens.command.command, ...(lens.command.arguments ?? []));
}

function inline(instruction: string, extra: Record<string, unknown> = {}): Promise<EditOutcome> {
  return vscode.commands.executeCommand<EditOutcome>('starcoder.editSelection', { instruction, preview: 'inline', ...extra }) as Promise<EditOutcome>;
}

/** Runs `fn` with `starcoder.maxTokens` set to `tokens` (a live setting), then puts it back. */
async function withMaxTokens<T>(tokens: number, fn: () => Promise<T>): Promise<T> {
  const cfg = vscode.workspace.getConfiguration('starcoder');
  const previous = cfg.get<number>('maxTokens');
  await cfg.update('maxTokens', tokens, vscode.ConfigurationTarget.Workspace);
  await sleep(300);
  try {
    return await fn();
  } finally {
    await cfg.update('maxTokens', previous, vscode.ConfigurationTarget.Workspace);
  }
}

export function registerReviewTests(): void {
  test('inline review: accept one hunk, reject another, check the file (code lenses)', async () => {
    const editor = await freshDocument('hunks.py', SAMPLE);
    const document = editor.document;
    const before = document.getText();
    // An edit of two hunks (the tiny model's answers are random, so the edit is given; the
    // review, the lenses, the commands and the document are VS Code's own).
    const result: EditResult = {
      edit: {
        documentChanges: [
          {
            textDocument: { uri: document.uri.toString(), version: document.version },
            edits: [
              { range: { start: { line: 4, character: 0 }, end: { line: 5, character: 0 } }, newText: '    return math.pi * radius ** 2\n' },
              { range: { start: { line: 8, character: 0 }, end: { line: 9, character: 0 } }, newText: '    return math.tau * radius\n' },
            ],
          },
        ],
      },
      text: '',
      instruction: 'use powers',
      range: null,
      mode: 'edit',
      version: document.version,
      stats: {},
    };
    const session = api.reviews.begin(document, { start: { line: 3, character: 0 }, end: { line: 9, character: 0 } }, 'edit');
    const shown = await session.show(result);
    assert(shown.status === 'shown' && shown.hunks === 2, `shown: ${JSON.stringify(shown)}`);
    const laidOut = document.getText();
    assert(laidOut.includes('    return math.pi * radius * radius\n    return math.pi * radius ** 2\n'), `layout:\n${laidOut}`);
    const found = await waitFor('two Accept / Reject lens pairs', async () => {
      const list = await lenses(document.uri);
      return list.filter((l) => l.command?.command === 'starcoder.acceptChange').length === 2 ? list : undefined;
    }, 10_000);
    const titles = found.map((l) => l.command?.title).join(' | ');
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    await vscode.commands.executeCommand('notifications.clearAll');
    await sleep(1500); // let the editor draw the lenses and decorations
    const shot = await screenshot('inline-review-two-hunks');
    const accepts = found.filter((l) => l.command?.command === 'starcoder.acceptChange');
    const rejects = found.filter((l) => l.command?.command === 'starcoder.rejectChange');
    await run(accepts[0]);
    await waitFor('the first hunk decided', () => session.pending.length === 1, 10_000);
    const [secondReject] = (await lenses(document.uri)).filter((l) => l.command?.command === 'starcoder.rejectChange');
    assert(secondReject && rejects.length === 2, 'no Reject lens left for the second hunk');
    await run(secondReject);
    const summary = await session.done;
    assert(summary.accepted === 1 && summary.rejected === 1 && !summary.aborted, `summary ${JSON.stringify(summary)}`);
    const expected = before.replace('    return math.pi * radius * radius\n', '    return math.pi * radius ** 2\n');
    assert(document.getText() === expected, `document:\n${document.getText()}`);
    assert(await document.save(), 'save failed');
    const onDisk = fs.readFileSync(document.uri.fsPath, 'utf8');
    assert(onDisk === expected, `file on disk:\n${onDisk}`);
    assert((await lenses(document.uri)).length === 0, 'lenses left after the review');
    return `lenses: ${titles}; screenshot ${shot ? 'taken' : 'not taken'}`;
  });

  test('inline review with the real server: streams, then Reject All restores byte for byte', async () => {
    const editor = await freshDocument('inline-reject.py');
    const document = editor.document;
    const before = document.getText();
    return withMaxTokens(400, async () => {
      const pending = inline('rewrite this in great detail');
      // While the model writes, its text is in the document below the selection.
      const streamed = await waitFor('streamed text in the document', () => {
        const block = api.reviews.active?.streaming;
        return block && document.getText().length > before.length ? document.getText().slice(block.start, block.start + block.length) : undefined;
      }, 120_000);
      assert(document.getText().startsWith(before.slice(0, document.offsetAt(new vscode.Position(5, 0)))), 'the code above the streamed text changed');
      await waitFor('the review laid out', () => api.reviews.active?.isLaidOut, 120_000);
      const list = await waitFor('Accept / Reject lenses', async () => {
        const found = await lenses(document.uri);
        return found.length ? found : undefined;
      }, 10_000);
      await vscode.commands.executeCommand('starcoder.rejectEdit');
      const outcome = await pending;
      assert(outcome.status === 'rejected', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
      assert(document.getText() === before, 'Reject did not restore the document byte for byte');
      return `${streamed.split('\n').length} streamed line(s); lenses: ${list.map((l) => l.command?.title).join(' | ')}`;
    });
  });

  test('inline review with the real server: Accept All lands exactly the server edit', async () => {
    const editor = await freshDocument('inline-accept.py');
    const before = editor.document.getText();
    const outcome = await inline('add a docstring', { decision: 'accept' });
    assert(outcome.status === 'accepted' || outcome.status === 'empty', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
    if (outcome.status !== 'accepted') return outcome.status;
    const { edits } = editsFor(outcome.result, editor.document.uri.toString());
    assert(editor.document.getText() === applyEdits(before, edits), 'the document differs from the server edit');
    return `${edits.length} hunk(s) accepted`;
  });

  test('inline review: Cancel while streaming leaves the document as it was', async () => {
    const editor = await freshDocument('inline-cancel.py');
    const before = editor.document.getText();
    return withMaxTokens(4000, async () => {
      const pending = inline('rewrite this in great detail');
      await waitFor('streamed text', () => api.reviews.active?.streaming, 120_000);
      await vscode.commands.executeCommand('starcoder.cancelGeneration');
      const outcome = await pending;
      assert(outcome.status === 'cancelled', `outcome ${JSON.stringify(outcome).slice(0, 200)}`);
      assert(editor.document.getText() === before, 'the streamed text stayed in the document');
      return `cancelled after ${outcome.elapsedMs} ms`;
    });
  });

  test('fix this diagnostic: the lightbulb offers StarCoder: fix "<message>" and it applies', async () => {
    const source = 'import os\n\n\ndef total(items):\n    result = 0\n    for item in items:\n        result += item.price * quantity\n    return result\n\n\ndef other():\n    return 1\n';
    const editor = await freshDocument('quickfix.py', source);
    const document = editor.document;
    const diagnostics = vscode.languages.createDiagnosticCollection('e2e-linter');
    try {
      const range = new vscode.Range(6, 33, 6, 41);
      const diagnostic = new vscode.Diagnostic(range, '"quantity" is not defined', vscode.DiagnosticSeverity.Error);
      diagnostic.source = 'e2e-linter';
      diagnostics.set(document.uri, [diagnostic]);
      editor.selection = new vscode.Selection(range.start, range.start);
      const fix = await waitFor('the StarCoder quick fix', async () => {
        const list = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', document.uri, range, vscode.CodeActionKind.QuickFix.value);
        return (list ?? []).find((a) => a.title === 'StarCoder: fix ""quantity" is not defined"');
      }, 30_000);
      assert(fix.kind?.value === 'quickfix', `kind ${fix.kind?.value}`);
      assert(fix.command?.command === 'starcoder.edit', `command ${fix.command?.command}`);
      const arg = fix.command.arguments?.[0] as { instruction: string; range: { start: { line: number }; end: { line: number } } };
      assert(arg.instruction.includes('"quantity" is not defined') && arg.instruction.includes('e2e-linter'), arg.instruction);
      assert(arg.range.start.line === 3 && arg.range.end.line === 8, `target ${JSON.stringify(arg.range)}`);
      const cfg = vscode.workspace.getConfiguration('starcoder');
      await cfg.update('preview', 'inline', vscode.ConfigurationTarget.Workspace);
      try {
        const pending = vscode.commands.executeCommand<EditOutcome>(fix.command.command, ...(fix.command.arguments ?? [])) as Promise<EditOutcome>;
        await waitFor('the review of the fix', () => api.reviews.active?.isLaidOut || undefined, 120_000).catch(() => undefined);
        await vscode.commands.executeCommand('starcoder.acceptEdit');
        const outcome = await pending;
        assert(outcome.status === 'accepted' || outcome.status === 'empty', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
        const text = document.getText();
        assert(text.startsWith('import os\n\n\n') && text.endsWith('def other():\n    return 1\n'), `outside the function changed:\n${text}`);
        return `${fix.title}: ${outcome.status}`;
      } finally {
        await cfg.update('preview', 'diff', vscode.ConfigurationTarget.Workspace);
      }
    } finally {
      diagnostics.dispose();
    }
  });
}
