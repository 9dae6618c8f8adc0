/**
 * What the in-editor suites share: the test registry, assertions, waiting, fresh documents,
 * and screenshots taken by the harness (test/e2e/run.mjs) on request.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { StarCoderApi } from '../../../src/extension';

export const EXTENSION_ID = 'starcoder-lsp.starcoder-lsp';

export const tests: { name: string; fn: () => Promise<string | void> }[] = [];
export function test(name: string, fn: () => Promise<string | void>): void {
  tests.push({ name, fn });
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

export let api: StarCoderApi;
export let folder = '';
export let log: (line: string) => void = () => undefined;

export function setUp(extension: StarCoderApi | undefined, workspace: string, logger: (line: string) => void): void {
  if (extension) api = extension;
  folder = workspace;
  log = logger;
}

export function setApi(extension: StarCoderApi): void {
  api = extension;
}

export const SAMPLE = [
  'import math',
  '',
  '',
  'def area(radius):',
  '    return math.pi * radius * radius',
  '',
  '',
  'def perimeter(radius):',
  '    return 2 * math.pi * radius',
  '',
].join('\n');

export async function freshDocument(name: string, text = SAMPLE): Promise<vscode.TextEditor> {
  const file = path.join(folder, name);
  fs.writeFileSync(file, text);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const editor = await vscode.window.showTextDocument(doc, { preview: false });
  // Select `area` (lines 3-4).
  editor.selection = new vscode.Selection(3, 0, 5, 0);
  return editor;
}

/**
 * Asks the harness for a screenshot of the browser now (test-results/<name>.png): writes a
 * request file and waits until the harness says it is taken (or gives up after `ms`).
 */
export async function screenshot(name: string, ms = 20_000): Promise<boolean> {
  const dir = path.join(folder, '.e2e');
  fs.mkdirSync(dir, { recursive: true });
  const done = path.join(dir, `shot-${name}.done`);
  fs.writeFileSync(path.join(dir, `shot-${name}.request`), name);
  try {
    await waitFor(`the screenshot ${name}`, () => fs.existsSync(done), ms);
    return true;
  } catch {
    log(`no screenshot ${name}: the harness did not answer`);
    return false;
  }
}
