import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const created: any[] = [];
vi.mock('vscode-languageclient', () => ({
  WorkDoneProgress: { type: { method: '$/progress' } },
  DidChangeConfigurationNotification: { type: { method: 'workspace/didChangeConfiguration' } },
  State: { Stopped: 1, Starting: 3, Running: 2 },
}));
vi.mock('vscode-languageclient/node', () => {
  class LanguageClient {
    state = 2;
    notifications = new Map<string, (p: unknown) => void>();
    sent: { method: unknown; params: unknown }[] = [];
    start = vi.fn(async () => undefined);
    stop = vi.fn(async () => undefined);
    dispose = vi.fn(async () => undefined);
    constructor(
      readonly id: string,
      readonly name: string,
      readonly serverOptions: any,
      readonly clientOptions: any,
    ) {
      created.push(this);
    }
    onDidChangeState = vi.fn(() => ({ dispose() {} }));
    onNotification = vi.fn((method: string, h: (p: unknown) => void) => {
      this.notifications.set(method, h);
      return { dispose: () => this.notifications.delete(method) };
    });
    sendRequest = vi.fn(async (method: string) => (method === 'starcoder/getStatus' ? { state: 'idle', message: '' } : null));
    sendNotification = vi.fn(async (type: unknown, params: unknown) => void this.sent.push({ method: type, params }));
  }
  return { LanguageClient, TransportKind: { stdio: 0 } };
});

import * as vscode from 'vscode';
import { activate } from '../../src/extension';
import { mock } from './vscode-mock';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));

function context() {
  const store = new Map<string, unknown>();
  return {
    subscriptions: [] as { dispose(): unknown }[],
    globalState: { get: (k: string, d: unknown) => (store.has(k) ? store.get(k) : d), update: async (k: string, v: unknown) => void store.set(k, v) },
  } as any;
}

async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
}

beforeEach(() => {
  mock.reset();
  created.length = 0;
});

describe('package.json', () => {
  it('registers every contributed command, and menus/keybindings name real commands', async () => {
    mock.config['starcoder.server.path'] = '/nonexistent/starcoder-lsp';
    const ctx = context();
    await activate(ctx);
    const contributed = pkg.contributes.commands.map((c: { command: string }) => c.command);
    for (const id of contributed) expect(mock.commands.has(id), id).toBe(true);
    const referenced = [
      ...pkg.contributes.keybindings.map((k: { command: string }) => k.command),
      ...Object.values(pkg.contributes.menus).flatMap((items: any) => items.map((i: { command: string }) => i.command)),
    ];
    for (const id of referenced) expect(contributed, id).toContain(id);
    expect(pkg.engines.vscode).toBe('^1.100.0');
    expect(pkg.main).toBe('./dist/extension.js');
    ctx.subscriptions.forEach((d: { dispose(): unknown }) => d.dispose());
  });

  it('titles the commands as the issue names them', () => {
    const titles = pkg.contributes.commands.map((c: { category: string; title: string }) => `${c.category}: ${c.title}`);
    expect(titles).toEqual(expect.arrayContaining(['StarCoder: Edit Selection…', 'StarCoder: Generate From Comment', 'StarCoder: Explain Selection']));
  });
});

describe('activation', () => {
  it('a missing server gives one clear message with a button to the setting', async () => {
    const ctx = context();
    await activate(ctx);
    await settle();
    const errors = mock.messages.filter((m) => m.kind === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].text).toMatch(/not found.*pip install/s);
    expect(errors[0].items).toContain('Open Setting');
    expect(mock.statusItems[0].text).toMatch(/no server/);
    errors[0].resolve('Open Setting');
    await settle();
    expect(mock.executed.some((e) => e.command === 'workbench.action.openSettings' && e.args[0] === 'starcoder.server.path')).toBe(true);
    expect(await vscode.commands.executeCommand('starcoder.editSelection', { instruction: 'x' })).toEqual({ status: 'dismissed' });
  });

  it('with a server wheel in the .vsix, offers Set up StarCoder instead; the menu has the doctor', async () => {
    const ctx = context();
    ctx.extensionPath = mkdtempSync(join(tmpdir(), 'sc-ext-'));
    mkdirSync(join(ctx.extensionPath, 'server'));
    writeFileSync(join(ctx.extensionPath, 'server', 'starcoder_lsp-0.1.0-py3-none-any.whl'), '');
    ctx.globalStorageUri = vscode.Uri.file(mkdtempSync(join(tmpdir(), 'sc-storage-')));
    await activate(ctx);
    await settle();
    expect(mock.messages.filter((m) => m.kind === 'error')).toHaveLength(0);
    const offer = mock.messages.find((m) => m.items.includes('Set up StarCoder'));
    expect(offer?.text).toMatch(/not found.*pip install/s);
    expect(offer?.items).toEqual(['Set up StarCoder', 'Open Setting', 'Show Output']);
    await vscode.commands.executeCommand('starcoder.showMenu');
    const labels = mock.shownPicks[0].items.map((i: { label: string }) => i.label);
    expect(labels[0]).toBe('$(tools) Set up StarCoder');
    expect(labels).toContain('$(pulse) Doctor');
    ctx.subscriptions.forEach((d: { dispose(): unknown }) => d.dispose());
  });

  it('launches the configured server with the settings and shows its status', async () => {
    mock.config['starcoder.server.path'] = process.execPath; // any executable
    mock.config['starcoder.model'] = '/models/tiny.gguf';
    mock.config['starcoder.maxTokens'] = 64;
    const ctx = context();
    const api = await activate(ctx);
    const client = await api.client();
    expect(client).toBeDefined();
    const lc = created[0];
    expect(lc.serverOptions).toMatchObject({ command: process.execPath, args: ['--stdio'] });
    expect(lc.clientOptions.initializationOptions).toEqual({ model: '/models/tiny.gguf', maxTokens: 64 });
    expect(lc.clientOptions.documentSelector).toEqual([{ scheme: 'file' }, { scheme: 'untitled' }]);

    lc.notifications.get('starcoder/status')({ state: 'downloading', message: '', progress: 50 });
    expect(mock.statusItems[0].text).toContain('50%');
    lc.notifications.get('starcoder/status')({ state: 'generating', message: '', tokensPerSecond: 20 });
    expect(mock.statusItems[0].text).toContain('20.0 tok/s');

    // workspace/configuration answers with the mapped settings
    const answer = lc.clientOptions.middleware.workspace.configuration({ items: [{ section: 'starcoder' }, { section: 'other' }] }, {}, vi.fn());
    expect(answer).toEqual([{ model: '/models/tiny.gguf', maxTokens: 64 }, null]);
    ctx.subscriptions.forEach((d: { dispose(): unknown }) => d.dispose());
  });

  it('routes the server code-action commands through the preview flow', async () => {
    mock.config['starcoder.server.path'] = process.execPath;
    const api = await activate(context());
    await api.client();
    const lc = created[0];
    const spy = vi.spyOn(api.commands, 'fromServerCommand').mockResolvedValue({ status: 'dismissed' });
    const next = vi.fn();
    await lc.clientOptions.middleware.executeCommand('starcoder.edit', [{ uri: 'file:///a.py' }], next);
    expect(spy).toHaveBeenCalledWith('starcoder.edit', [{ uri: 'file:///a.py' }]);
    await lc.clientOptions.middleware.executeCommand('starcoder.cancel', [], next);
    expect(next).toHaveBeenCalledWith('starcoder.cancel', []);
  });

  it('sends live settings at once and asks before restarting for the others', async () => {
    mock.config['starcoder.server.path'] = process.execPath;
    let onChange: (e: { affectsConfiguration(s: string): boolean }) => void = () => undefined;
    (vscode.workspace.onDidChangeConfiguration as any).mockImplementation((l: typeof onChange) => {
      onChange = l;
      return { dispose() {} };
    });
    const api = await activate(context());
    await api.client();
    const lc = created[0];

    mock.config['starcoder.temperature'] = 0.2;
    onChange({ affectsConfiguration: (s) => s === 'starcoder.temperature' || s === 'starcoder' });
    expect(lc.sent.at(-1).params).toEqual({ settings: { starcoder: { temperature: 0.2 } } });
    expect(mock.messages.filter((m) => /restart/.test(m.text))).toHaveLength(0);

    mock.config['starcoder.model'] = '/other.gguf';
    onChange({ affectsConfiguration: (s) => s === 'starcoder.model' || s === 'starcoder' });
    // The running server keeps its model until the restart.
    expect(lc.sent.at(-1).params).toEqual({ settings: { starcoder: { temperature: 0.2 } } });
    const ask = mock.messages.find((m) => /restart/.test(m.text));
    expect(ask?.text).toContain('starcoder.model');
    expect(ask?.items).toEqual(['Restart Now']);
    ask!.resolve('Restart Now');
    await settle();
    expect(lc.stop).toHaveBeenCalled();
    expect(created).toHaveLength(2);
    expect(created[1].clientOptions.initializationOptions).toEqual({ model: '/other.gguf', temperature: 0.2 });
  });
});
