/**
 * "StarCoder: Edit and Test" in the real extension host, against the real server and a
 * real OpenAI-compatible HTTP server with known answers (tests/fixtures/canned_openai_server.py
 * --demo): the greedy answer fails its doctest, the third candidate passes, and the review
 * says "4/4 tests pass": in the default inline review as a code lens above the change (run
 * through VS Code's own code lens machinery), and in the diff preview as the tab's title.
 * The tiny random model could never pass a test, so the server is pointed at the canned one
 * for these tests and back afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EditOutcome } from '../../../src/commands/edit';
import type { Validation } from '../../../src/protocol';
import { api, assert, folder, screenshot, sleep, test, waitFor } from './harness';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const DEMO_SOURCE = 'def add(a, b):\n    """Add two numbers.\n\n    >>> add(2, 3)\n    5\n    """\n';

function startCannedServer(): Promise<{ child: ChildProcess; port: number }> {
  const python = process.env.STARCODER_TEST_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
  const child = spawn(python, ['-m', 'tests.fixtures.canned_openai_server', '--demo'], {
    cwd: REPO,
    env: { ...process.env, PYTHONPATH: REPO },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the canned server did not start: ${out}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /PORT (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`the canned server exited (${code}): ${out}`)));
  });
}

/** Runs `fn` with the server on the canned OpenAI-compatible server, then puts it back. */
async function withCannedServer<T>(fn: () => Promise<T>): Promise<T> {
  const { child, port } = await startCannedServer();
  const cfg = vscode.workspace.getConfiguration('starcoder');
  const previous = { backend: cfg.get('backend'), endpoint: cfg.get('endpoint'), model: cfg.get('model'), maxTokens: cfg.get('maxTokens') };
  const target = vscode.ConfigurationTarget.Workspace;
  await cfg.update('backend', 'openai', target);
  await cfg.update('endpoint', `http://127.0.0.1:${port}/v1`, target);
  await cfg.update('model', 'starcoder2-15b-instruct-v0.1', target);
  await cfg.update('maxTokens', 256, target);
  try {
    await api.restart();
    return await fn();
  } finally {
    for (const [key, value] of Object.entries(previous)) await cfg.update(key, value, target);
    child.kill();
    await api.restart();
  }
}

/** `calc.py` with `add` selected, and Edit and Test running on it. */
async function editAndTest(name: string): Promise<{ editor: vscode.TextEditor; pending: Promise<EditOutcome>; settled: () => EditOutcome | undefined }> {
  const file = path.join(folder, name);
  fs.writeFileSync(file, DEMO_SOURCE);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const editor = await vscode.window.showTextDocument(doc, { preview: false });
  editor.selection = new vscode.Selection(0, 0, 6, 0);
  const pending = vscode.commands.executeCommand<EditOutcome>('starcoder.editAndTest', { instruction: 'implement add' }) as Promise<EditOutcome>;
  let settled: EditOutcome | undefined;
  void pending.then((o) => (settled = o));
  return { editor, pending, settled: () => settled };
}

/** Show Test Output opens the tests with what they printed. */
async function testOutput(): Promise<string> {
  const output = await vscode.commands.executeCommand<vscode.Uri>('starcoder.showTestOutput');
  assert(output, 'no test output document');
  const text = (await vscode.workspace.openTextDocument(output)).getText();
  assert(text.includes('PASS doctest: add(2, 3)'), `test output:\n${text}`);
  return text;
}

async function acceptedValidation(pending: Promise<EditOutcome>, editor: vscode.TextEditor): Promise<Validation> {
  const outcome = await pending;
  assert(outcome.status === 'accepted', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
  assert(editor.document.getText().includes('return a + b'), 'the passing candidate was not applied');
  const validation = outcome.result.validation;
  assert(validation?.passed && validation.candidates === 3, `validation ${JSON.stringify(validation).slice(0, 300)}`);
  return validation;
}

export function registerValidationTests(): void {
  test('Edit and Test, default inline review: a code lens says which tests pass', () =>
    withCannedServer(async () => {
      const cfg = vscode.workspace.getConfiguration('starcoder');
      const target = vscode.ConfigurationTarget.Workspace;
      await cfg.update('preview', undefined, target); // the default, as a user has it
      try {
        const mode = vscode.workspace.getConfiguration('starcoder').get('preview');
        assert(mode === 'inline', `the default preview is ${String(mode)}`);
        const { editor, pending, settled } = await editAndTest('calc_inline.py');
        const uri = editor.document.uri;
        await waitFor('the inline review laid out', () => {
          const done = settled();
          if (done) throw new Error(`ended without a review: ${JSON.stringify(done).slice(0, 400)}`);
          return api.reviews.sessionFor(uri)?.isLaidOut;
        }, 180_000);
        const lens = await waitFor('the tests-pass code lens', async () => {
          const all = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri)) ?? [];
          return all.find((l) => l.command?.command === 'starcoder.showTestOutput' && l.command.title.includes('tests pass'));
        }, 10_000);
        const title = lens.command?.title ?? '';
        assert(title.includes('4/4 tests pass'), `lens: ${title}`);
        assert(editor.document.getText().includes('return a + b'), `review:\n${editor.document.getText()}`);
        await sleep(1500); // let the editor draw the lens and the notification
        const shot = await screenshot('validation-inline-review');
        assert(lens.command, 'the lens has no command');
        await vscode.commands.executeCommand(lens.command.command, ...(lens.command.arguments ?? []));
        await testOutput();
        await vscode.commands.executeCommand('starcoder.acceptEdit', uri.toString());
        const validation = await acceptedValidation(pending, editor);
        assert(editor.document.getText().split('return a + b').length === 2, `after accept:\n${editor.document.getText()}`);
        return `lens "${title}"; ${validation.chosen}; screenshot ${shot ? 'taken' : 'not taken'}`;
      } finally {
        await cfg.update('preview', 'diff', target);
      }
    }),
  );

  test('Edit and Test, diff preview: the tab says which tests pass', () =>
    withCannedServer(async () => {
      const { editor, pending, settled } = await editAndTest('calc_diff.py');
      // The diff tab, once relabelled with what ran.
      const tab = await waitFor(
        'the preview labelled with the tests',
        () => {
          const done = settled();
          if (done) throw new Error(`ended without a preview: ${JSON.stringify(done).slice(0, 400)}`);
          const session = api.previews.active;
          if (!session?.isReady) return undefined;
          const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
          return tabs.find((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === session.proposedUri.toString() && t.label.includes('tests pass'));
        },
        180_000,
      );
      assert(tab.label.includes('4/4 tests pass'), `tab label: ${tab.label}`);
      const proposed = api.previews.active?.proposedText ?? '';
      assert(proposed.includes('return a + b'), `proposed:\n${proposed}`);
      await testOutput();
      await vscode.commands.executeCommand('starcoder.acceptEdit');
      const validation = await acceptedValidation(pending, editor);
      return `tab "${tab.label}"; ${validation.chosen}; sandbox network: ${String(validation.isolation.network)}`;
    }),
  );
}
