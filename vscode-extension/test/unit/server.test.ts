import { describe, expect, it, vi } from 'vitest';
import { FindDeps, expandPath, findServer, whichOnPath } from '../../src/server';

function deps(over: Partial<FindDeps> & { files?: string[] } = {}): FindDeps {
  const files = new Set(over.files ?? []);
  return {
    isExecutable: (f) => files.has(f),
    exists: (f) => files.has(f),
    canImport: vi.fn(async () => 'No module named lsp_server' as true | string),
    pythonExtensionInterpreter: vi.fn(async () => undefined),
    env: { PATH: '/usr/local/bin:/usr/bin' },
    platform: 'linux',
    homedir: '/home/u',
    ...over,
  };
}

describe('findServer: the documented order', () => {
  it('1. uses starcoder.server.path first', async () => {
    const d = deps({ files: ['/opt/sc/bin/starcoder-lsp', '/usr/bin/starcoder-lsp'], canImport: vi.fn(async () => true as const) });
    const r = await findServer({ path: '/opt/sc/bin/starcoder-lsp', python: '/usr/bin/python3', args: ['--log-level', 'debug'] }, d);
    expect(r.ok && r.server).toMatchObject({ command: '/opt/sc/bin/starcoder-lsp', args: ['--stdio', '--log-level', 'debug'], source: 'setting' });
    expect(d.canImport).not.toHaveBeenCalled();
  });

  it('1. says so when the configured path is missing (no silent fallback)', async () => {
    const r = await findServer({ path: '~/nope/starcoder-lsp' }, deps({ files: ['/usr/bin/starcoder-lsp'] }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/starcoder\.server\.path.*\/home\/u\/nope\/starcoder-lsp.*does not exist/);
  });

  it('1. expands ${workspaceFolder} and relative paths', async () => {
    const d = deps({ files: ['/ws/.venv/bin/starcoder-lsp'] });
    const r = await findServer({ path: '${workspaceFolder}/.venv/bin/starcoder-lsp', workspaceFolder: '/ws' }, d);
    expect(r.ok && r.server.command).toBe('/ws/.venv/bin/starcoder-lsp');
    const r2 = await findServer({ path: '.venv/bin/starcoder-lsp', workspaceFolder: '/ws' }, d);
    expect(r2.ok && r2.server.command).toBe('/ws/.venv/bin/starcoder-lsp');
  });

  it('2. runs python -m lsp_server with starcoder.server.python when it can import it', async () => {
    const d = deps({ canImport: vi.fn(async () => true as const), files: ['/usr/bin/starcoder-lsp'] });
    const r = await findServer({ python: '/venv/bin/python' }, d);
    expect(r.ok && r.server).toMatchObject({ command: '/venv/bin/python', args: ['-m', 'lsp_server', '--stdio'], source: 'python-setting' });
  });

  it('2. else the Python extension interpreter', async () => {
    const d = deps({ canImport: vi.fn(async () => true as const), pythonExtensionInterpreter: vi.fn(async () => '/conda/bin/python') });
    const r = await findServer({}, d);
    expect(r.ok && r.server).toMatchObject({ command: '/conda/bin/python', source: 'python-extension' });
  });

  it('2. the setting wins over the Python extension', async () => {
    const d = deps({ canImport: vi.fn(async () => true as const), pythonExtensionInterpreter: vi.fn(async () => '/conda/bin/python') });
    const r = await findServer({ python: '/venv/bin/python' }, d);
    expect(r.ok && r.server.command).toBe('/venv/bin/python');
    expect(d.pythonExtensionInterpreter).not.toHaveBeenCalled();
  });

  it('3. falls back to starcoder-lsp on PATH, noting why the interpreter was skipped', async () => {
    const d = deps({ files: ['/usr/bin/starcoder-lsp'], pythonExtensionInterpreter: vi.fn(async () => '/usr/bin/python3') });
    const r = await findServer({}, d);
    expect(r.ok && r.server).toMatchObject({ command: '/usr/bin/starcoder-lsp', args: ['--stdio'], source: 'path' });
    expect(r.notes.join('\n')).toMatch(/python3.*No module named lsp_server/);
  });

  it('missing everywhere: one message that says what to install', async () => {
    const r = await findServer({}, deps());
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/pip install/);
    expect(!r.ok && r.message).toMatch(/starcoder\.server\.path/);
  });

  it('a failing Python extension lookup does not break the search', async () => {
    const d = deps({ files: ['/usr/bin/starcoder-lsp'], pythonExtensionInterpreter: vi.fn(async () => Promise.reject(new Error('boom'))) });
    const r = await findServer({}, d);
    expect(r.ok && r.server.source).toBe('path');
  });
});

describe('paths', () => {
  it('expandPath', () => {
    const o = { workspaceFolder: '/ws', homedir: '/h', env: { VENV: '/v' } };
    expect(expandPath('~/x', o)).toBe('/h/x');
    expect(expandPath('${env:VENV}/bin/python', o)).toBe('/v/bin/python');
    expect(expandPath('${userHome}/y', o)).toBe('/h/y');
    expect(expandPath('python3', o)).toBe('python3');
  });

  it('whichOnPath honours PATHEXT on Windows', () => {
    const files = new Set(['C:\\py\\Scripts\\starcoder-lsp.exe']);
    const found = whichOnPath('starcoder-lsp', { env: { PATH: 'C:\\py\\Scripts;C:\\Windows', PATHEXT: '.EXE;.CMD' }, platform: 'win32', isExecutable: (f) => files.has(f) });
    expect(found).toBe('C:\\py\\Scripts\\starcoder-lsp.exe');
  });
});
