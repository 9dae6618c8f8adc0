/**
 * "StarCoder: Edit and Test" in the real extension host, against the real server and a
 * real OpenAI-compatible HTTP server with known answers (tests/fixtures/canned_openai_server.py
 * --demo): the greedy answer fails its doctest, the third candidate passes, and the diff
 * preview's tab says "4/4 tests pass". The tiny random model could never pass a test, so
 * the server is pointed at the canned one for this test and back afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EditOutcome } from '../../../src/commands/edit';
import type { StarCoderApi } from '../../../src/extension';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const DEMO_SOURCE = 'def add(a, b):\n    """Add two numbers.\n\n    >>> add(2, 3)\n    5\n    """\n';

type Helpers = {
  api: () => StarCoderApi;
  folder: () => string;
  waitFor: <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms?: number) => Promise<T>;
  assert: (cond: unknown, message: string) => asserts cond;
};

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

export async function editAndTestShowsTestsPass(h: Helpers): Promise<string> {
  const { child, port } = await startCannedServer();
  const cfg = vscode.workspace.getConfiguration('starcoder');
  const previous = { backend: cfg.get('backend'), endpoint: cfg.get('endpoint'), model: cfg.get('model'), maxTokens: cfg.get('maxTokens') };
  const target = vscode.ConfigurationTarget.Workspace;
  await cfg.update('backend', 'openai', target);
  await cfg.update('endpoint', `http://127.0.0.1:${port}/v1`, target);
  await cfg.update('model', 'starcoder2-15b-instruct-v0.1', target);
  await cfg.update('maxTokens', 256, target);
  try {
    await h.api().restart();
    const file = path.join(h.folder(), 'calc.py');
    fs.writeFileSync(file, DEMO_SOURCE);
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    editor.selection = new vscode.Selection(0, 0, 6, 0);
    const pending = vscode.commands.executeCommand<EditOutcome>('starcoder.editAndTest', { instruction: 'implement add' }) as Promise<EditOutcome>;
    let settled: EditOutcome | undefined;
    void pending.then((o) => (settled = o));
    // The diff tab, once relabelled with what ran.
    const tab = await h.waitFor(
      'the preview labelled with the tests',
      () => {
        if (settled) throw new Error(`ended without a preview: ${JSON.stringify(settled).slice(0, 400)}`);
        const session = h.api().previews.active;
        if (!session?.isReady) return undefined;
        const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
        return tabs.find((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === session.proposedUri.toString() && t.label.includes('tests pass'));
      },
      180_000,
    );
    h.assert(tab.label.includes('4/4 tests pass'), `tab label: ${tab.label}`);
    const proposed = h.api().previews.active?.proposedText ?? '';
    h.assert(proposed.includes('return a + b'), `proposed:\n${proposed}`);
    const output = await vscode.commands.executeCommand<vscode.Uri>('starcoder.showTestOutput');
    h.assert(output, 'no test output document');
    const outputText = (await vscode.workspace.openTextDocument(output)).getText();
    h.assert(outputText.includes('PASS doctest: add(2, 3)'), `test output:\n${outputText}`);
    await vscode.commands.executeCommand('starcoder.acceptEdit');
    const outcome = await pending;
    h.assert(outcome.status === 'accepted', `outcome ${JSON.stringify(outcome).slice(0, 300)}`);
    h.assert(editor.document.getText().includes('return a + b'), 'the passing candidate was not applied');
    const validation = outcome.result.validation;
    h.assert(validation?.passed && validation.candidates === 3, `validation ${JSON.stringify(validation).slice(0, 300)}`);
    return `tab "${tab.label}"; ${validation.chosen}; sandbox network: ${String(validation.isolation.network)}`;
  } finally {
    for (const [key, value] of Object.entries(previous)) await cfg.update(key, value, target);
    child.kill();
    await h.api().restart();
  }
}
