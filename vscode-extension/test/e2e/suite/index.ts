/**
 * The extension's tests inside VS Code's real extension host (code-server), against the
 * real starcoder-lsp server and the tiny random GGUF model. The output of such a model is
 * gibberish, so the tests check behaviour, not content.
 *
 * The host's exit code does not tell failures apart, so the results are written to
 * `<workspace>/.e2e/results.json` for the harness (test/e2e/run.mjs) to check.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WorkDoneProgress } from 'vscode-languageclient';
import type { EditOutcome } from '../../../src/commands/edit';
import type { ExplainOutcome } from '../../../src/commands/explain';
import type { StarCoderApi } from '../../../src/extension';
import { editsFor } from '../../../src/preview';
import { applyEdits } from '../../../src/text';
import { registerChatTests } from './chat';
import { EXTENSION_ID, api, assert, freshDocument, setApi, setUp, sleep, test, tests, waitFor } from './harness';
import { registerReviewTests } from './review';

interface Result {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  info?: string;
}

/** Runs Edit Selection and decides once the preview shows the server's edit. */
async function editAndDecide(
  editor: vscode.TextEditor,
  decide: (session: NonNullable<StarCoderApi['previews']['active']>) => Promise<void>,
  instruction = 'add a docstring',
): Promise<{ outcome: EditOutcome; before: string; proposed?: string }> {
  const before = editor.document.getText();
  const pending = vscode.commands.executeCommand<EditOutcome>('starcoder.editSelection', { instruction }) as Promise<EditOutcome>;
  let settled: EditOutcome | undefined;
  void pending.then((o) => (settled = o));
  const session = await waitFor('the preview with the server edit', () => settled ?? (api.previews.active?.isReady ? api.previews.active : undefined), 180_000);
  if ('status' in session) return { outcome: session, before };
  const proposed = session.proposedText;
  await decide(session);
  return { outcome: await pending, before, proposed };
}

test('the extension activates and starts the real server', async () => {
  const ext = vscode.extensions.getExtension<StarCoderApi>(EXTENSION_ID);
  assert(ext, `${EXTENSION_ID} is not loaded`);
  setApi(await ext.activate());
  const client = await api.client();
  assert(client, `no client: status ${JSON.stringify(api.status())}`);
  const server = api.serverCommand();
  assert(server?.source === 'setting', `server found via ${server?.source}, expected starcoder.server.path`);
  const status = await client.sendRequest<{ state: string; model?: string }>('starcoder/getStatus', {});
  assert(['idle', 'ready', 'loading'].includes(status.state), `unexpected state ${JSON.stringify(status)}`);
  return `server ${server.command}; state ${status.state}`;
});

test('the server code actions are offered in the lightbulb', async () => {
  const editor = await freshDocument('actions.py');
  const actions = await waitFor(
    'StarCoder code actions',
    async () => {
      const list = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', editor.document.uri, editor.selection);
      const ours = (list ?? []).filter((a) => a.title.startsWith('StarCoder'));
      return ours.length ? ours : undefined;
    },
    30_000,
  );
  const commands = new Set(actions.map((a) => a.command?.command));
  assert(commands.has('starcoder.edit') || commands.has('starcoder.generate') || commands.has('starcoder.explain'), `commands: ${[...commands].join(', ')}`);
  return actions.map((a) => a.title).join(' | ');
});

test('a lightbulb action runs through the preview (Reject keeps the file)', async () => {
  const editor = await freshDocument('lightbulb.py');
  const before = editor.document.getText();
  const list = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', editor.document.uri, editor.selection);
  const action = (list ?? []).find((a) => a.command?.command === 'starcoder.edit' && a.title !== 'StarCoder: explain');
  assert(action?.command, `no starcoder.edit action in ${(list ?? []).map((a) => a.title).join(', ')}`);
  const command = action.command;
  const pending = vscode.commands.executeCommand<EditOutcome>(command.command, ...(command.arguments ?? [])) as Promise<EditOutcome>;
  let settled: EditOutcome | undefined;
  void pending.then((o) => (settled = o));
  await waitFor('the preview', () => settled ?? api.previews.active?.isReady, 120_000);
  assert(!settled, `ended without a preview: ${JSON.stringify(settled)}`);
  await vscode.commands.executeCommand('starcoder.rejectEdit');
  const outcome = await pending;
  assert(outcome?.status === 'rejected', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
  assert(editor.document.getText() === before, 'document changed');
  return action.title;
});

test('Edit Selection: Accept lands exactly the edit the server returned', async () => {
  const editor = await freshDocument('accept.py');
  const { outcome, before, proposed } = await editAndDecide(editor, async () => {
    await vscode.commands.executeCommand('starcoder.acceptEdit');
  });
  assert(outcome.status === 'accepted', `outcome ${JSON.stringify(outcome)}`);
  const { edits, version } = editsFor(outcome.result, editor.document.uri.toString());
  assert(edits.length > 0, 'no edits');
  assert(version === 1 || version === null || typeof version === 'number', 'version');
  const expected = applyEdits(before, edits);
  const now = editor.document.getText();
  assert(now === expected, `document differs from the server edit:\n--- expected\n${expected}\n--- got\n${now}`);
  assert(now === proposed, 'document differs from what the preview showed');
  assert(now !== before, 'document unchanged');
  // The edit replaced the returned range with the returned text.
  const range = outcome.result.range;
  assert(range, 'no range in the result');
  const start = editor.document.offsetAt(new vscode.Position(range.start.line, range.start.character));
  assert(now.slice(start, start + outcome.result.text.length) === outcome.result.text || edits.some((e) => now.includes(e.newText)), 'returned text not found at the returned range');
  return `${edits.length} edit(s), ${outcome.result.stats.completion_tokens ?? '?'} tokens at ${outcome.result.stats.tokens_per_second ?? '?'} tok/s`;
});

test('Edit Selection: Reject leaves the document byte-identical', async () => {
  const editor = await freshDocument('reject.py');
  const version = editor.document.version;
  const { outcome, before } = await editAndDecide(editor, async () => {
    await vscode.commands.executeCommand('starcoder.rejectEdit');
  });
  assert(outcome.status === 'rejected', `outcome ${JSON.stringify(outcome)}`);
  assert(editor.document.getText() === before, 'document changed');
  assert(editor.document.version === version, `version moved ${version} -> ${editor.document.version}`);
  assert(!editor.document.isDirty, 'document dirty');
});

test('an edit refused because the document changed says so (conflict)', async () => {
  const editor = await freshDocument('conflict.py');
  const { outcome, before } = await editAndDecide(editor, async () => {
    // The user types in the document while the preview is open.
    const typing = new vscode.WorkspaceEdit();
    typing.insert(editor.document.uri, new vscode.Position(0, 0), '# typed while the model wrote\n');
    assert(await vscode.workspace.applyEdit(typing), 'could not type into the document');
    await vscode.commands.executeCommand('starcoder.acceptEdit');
  });
  assert(outcome.status === 'conflict', `outcome ${JSON.stringify(outcome)}`);
  assert(editor.document.getText() === `# typed while the model wrote\n${before}`, 'the stale edit was applied');
});

test('Cancel stops the generation in the server', async () => {
  const editor = await freshDocument('cancel.py');
  const client = await api.client();
  assert(client, 'no client');
  const before = editor.document.getText();
  // A long generation (a live setting: no restart needed).
  const MAX = 4000;
  const cfg = vscode.workspace.getConfiguration('starcoder');
  const previousMax = cfg.get<number>('maxTokens');
  await cfg.update('maxTokens', MAX, vscode.ConfigurationTarget.Workspace);
  await sleep(500);
  try {
    // Straight to the server: cancel at the first streamed text; the request must end as
    // cancelled (not with a result), soon, with fewer tokens than asked for.
    const source = new vscode.CancellationTokenSource();
    const token = `e2e-cancel-${Date.now()}`;
    let cancelledAt = 0;
    const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === 'report' && !cancelledAt) {
        cancelledAt = Date.now();
        source.cancel();
      }
    });
    let ended: string;
    try {
      const result = await client.sendRequest(
        'starcoder/edit',
        { uri: editor.document.uri.toString(), range: { start: { line: 3, character: 0 }, end: { line: 5, character: 0 } }, instruction: 'rewrite this in great detail', workDoneToken: token },
        source.token,
      );
      ended = `a result ${JSON.stringify(result).slice(0, 300)}`;
    } catch (err) {
      ended = err instanceof vscode.CancellationError || /cancel/i.test(String((err as Error)?.message)) ? 'cancelled' : `error ${String(err)}`;
    } finally {
      sub.dispose();
    }
    const afterCancel = Date.now() - cancelledAt;
    assert(cancelledAt > 0, 'no text was streamed before the end');
    assert(ended === 'cancelled', `the request ended with ${ended}`);
    assert(afterCancel < 3_000, `took ${afterCancel} ms after cancel`);
    // The model stopped early: the server's status reports the tokens it generated.
    const status = await waitFor('the model to stop generating', async () => {
      const s = await client.sendRequest<{ state: string; message: string }>('starcoder/getStatus', {});
      return s.state !== 'generating' ? s : undefined;
    }, 10_000);
    const generated = Number(/(\d+) tokens/.exec(status.message)?.[1] ?? NaN);
    assert(Number.isFinite(generated), `no token count in the status "${status.message}"`);
    assert(generated < MAX, `the model generated ${generated} of ${MAX} tokens: not stopped`);
    // Through the UI: the Cancel command ends it as cancelled, the document untouched.
    const pending = vscode.commands.executeCommand<EditOutcome>('starcoder.editSelection', { instruction: 'rewrite this in great detail' }) as Promise<EditOutcome>;
    await waitFor('streamed text in the preview', () => api.previews.active && api.previews.active.proposedText !== before, 60_000);
    await vscode.commands.executeCommand('starcoder.cancelGeneration');
    const outcome = await pending;
    assert(outcome.status === 'cancelled', `UI outcome ${JSON.stringify(outcome).slice(0, 300)}`);
    assert(editor.document.getText() === before, 'document changed after cancel');
    assert(!api.previews.active, 'the preview stayed open');
    return `server: cancelled ${afterCancel} ms after cancel, ${generated} of ${MAX} tokens ("${status.message}"); UI: ${outcome.status} after ${outcome.elapsedMs} ms`;
  } finally {
    await cfg.update('maxTokens', previousMax, vscode.ConfigurationTarget.Workspace);
  }
});

test('Generate From Comment inserts generated code', async () => {
  const text = '# return the sum of two numbers\n\n';
  const editor = await freshDocument('generate.py', text);
  editor.selection = new vscode.Selection(0, 5, 0, 5);
  const outcome = (await vscode.commands.executeCommand('starcoder.generateFromComment', { decision: 'accept' })) as EditOutcome;
  // The tiny model writes (random) code for this comment, every run: it must land.
  assert(outcome.status === 'accepted', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
  const expected = applyEdits(text, editsFor(outcome.result, editor.document.uri.toString()).edits);
  const after = editor.document.getText();
  assert(after === expected, 'document differs from the server edit');
  assert(after.startsWith(text.trimEnd()) && after.trim().length > text.trim().length, 'no code was inserted below the comment');
  return `${after.length - text.length} characters inserted`;
});

test('Explain Selection opens its answer as the first turn of a chat', async () => {
  await freshDocument('explain.py');
  const outcome = (await vscode.commands.executeCommand('starcoder.explainSelection')) as ExplainOutcome;
  assert(outcome.status === 'shown', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
  const turns = api.chat.conversation.turns;
  assert(turns.length === 2 && turns[0].role === 'user' && turns[1].content === outcome.markdown, `chat turns ${JSON.stringify(turns).slice(0, 300)}`);
  assert(api.chat.conversation.chips.some((c) => c.uri.endsWith('explain.py') && c.range), 'the selection is not attached');
  return `${outcome.markdown.length} characters`;
});

// StarCoder Chat (chat.ts): the view driven through the page, Apply through both reviews.
registerChatTests();

test('inline completions are used when the server advertises them', async () => {
  const client = await api.client();
  assert(client, 'no client');
  // This server (inlineCompletion on, a model with FIM tokens) must advertise it.
  const advertised = client.initializeResult?.capabilities.inlineCompletionProvider;
  assert(advertised, 'the server does not advertise inlineCompletionProvider');
  const editor = await freshDocument('inline.py', 'def fib(n):\n    ');
  const feature = client.getFeature('textDocument/inlineCompletion');
  const provider = feature?.getProvider(editor.document);
  assert(provider, 'the server advertises inline completion but no provider is registered');
  const source = new vscode.CancellationTokenSource();
  const items = await provider.provideInlineCompletionItems(
    editor.document,
    new vscode.Position(1, 4),
    { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined, requestUuid: 'e2e' } as vscode.InlineCompletionContext,
    source.token,
  );
  const list = Array.isArray(items) ? items : (items?.items ?? []);
  assert(list.length >= 1, 'no inline completion item: the user would see no ghost text');
  const first = list[0].insertText;
  const shown = typeof first === 'string' ? first : first.value;
  assert(shown.trim().length > 0, `an empty completion: ${JSON.stringify(list[0])}`);
  return `${list.length} item(s); first ${shown.length} characters`;
});

test('the status bar follows starcoder/status', async () => {
  const status = api.status();
  assert(typeof status === 'object' && ['ready', 'idle'].includes(status.state), `status ${JSON.stringify(status)}`);
  return JSON.stringify(status);
});

test('a missing server: status says so, and it comes back after the setting is fixed', async () => {
  const cfg = vscode.workspace.getConfiguration('starcoder');
  const good = cfg.get<string>('server.path');
  await cfg.update('server.path', '/nonexistent/starcoder-lsp', vscode.ConfigurationTarget.Workspace);
  try {
    await api.restart();
    assert(api.status() === 'missing', `status ${JSON.stringify(api.status())}`);
    assert((await api.client()) === undefined, 'a client without a server');
  } finally {
    await cfg.update('server.path', good, vscode.ConfigurationTarget.Workspace);
  }
  await api.restart();
  assert(await api.client(), 'the server did not come back');
  const status = api.status();
  assert(typeof status === 'object', `status ${JSON.stringify(status)}`);
  return `back: ${status.state}`;
});

// The inline review and the quick fix (review.ts), after the tests above.
registerReviewTests();

export async function run(): Promise<void> {
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  const outDir = path.join(workspace || '/tmp', '.e2e');
  fs.mkdirSync(outDir, { recursive: true });
  const logFile = path.join(outDir, 'suite.log');
  const log = (line: string) => fs.appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  setUp(undefined, workspace, log);
  // The tests above review in the diff editor; the inline ones ask for `inline` themselves.
  await vscode.workspace.getConfiguration('starcoder').update('preview', 'diff', vscode.ConfigurationTarget.Workspace);
  const only = process.env.STARCODER_E2E_ONLY;
  const results: Result[] = [];
  for (const [index, t] of tests.entries()) {
    if (only && !t.name.includes(only) && index > 0) continue; // the first one activates
    const start = Date.now();
    log(`START ${t.name}`);
    try {
      const info = await t.fn();
      results.push({ name: t.name, ok: true, ms: Date.now() - start, info: info || undefined });
      log(`PASS ${t.name} (${Date.now() - start} ms) ${info ?? ''}`);
    } catch (err) {
      const error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
      results.push({ name: t.name, ok: false, ms: Date.now() - start, error });
      log(`FAIL ${t.name}: ${error}`);
    }
    // Leave no preview, review or notification behind for the next test.
    if (api?.previews.active || api?.reviews.active) await vscode.commands.executeCommand('starcoder.rejectEdit');
    await vscode.commands.executeCommand('workbench.action.files.saveAll');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  }
  const summary = { passed: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, results };
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(summary, null, 2));
  log(`DONE ${summary.passed} passed, ${summary.failed} failed`);
}
