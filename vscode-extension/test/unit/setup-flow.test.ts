import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const runs: { command: string; args: string[]; env?: Record<string, string | undefined> }[] = [];
let answer: (args: string[], cancel: any) => Promise<any> = async () => ({ code: 0, signal: null, cancelled: false, tail: [] });
vi.mock('../../src/setup/process', () => ({
  runCommand: vi.fn(async (command: string, args: string[], opts: any = {}) => {
    runs.push({ command, args, env: opts.env });
    opts.onLine?.(`ran ${args.slice(0, 3).join(' ')}`);
    return answer(args, opts.cancel);
  }),
}));
vi.mock('../../src/setup/python', async (original) => ({
  ...(await original<typeof import('../../src/setup/python')>()),
  probePython: vi.fn(async () => ({ ok: true, version: '3.11.7', venv: true })),
  findOnPath: (p: string) => (p === 'python3' ? '/usr/bin/python3' : undefined),
}));
const listing = {
  modelsDir: '/m',
  default: 'starcoder2-15b-instruct-v0.1',
  presets: [{ name: 'starcoder2-15b-instruct-v0.1', kind: 'instruct', gguf: [{ quant: 'Q4_K_M', filename: 'sc15.gguf', sizeGb: 9.86 }], local: [] }],
};
vi.mock('../../src/setup/model', async (original) => ({
  ...(await original<typeof import('../../src/setup/model')>()),
  listModels: vi.fn(async () => listing),
}));

import { environmentPaths, readMarker, writeMarker } from '../../src/setup/environment';
import { SetupFlow } from '../../src/setup/flow';
import { mock } from './vscode-mock';

async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
}

function flow(withWheel = true) {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-storage-'));
  const ext = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-ext-'));
  if (withWheel) {
    fs.mkdirSync(path.join(ext, 'server'));
    fs.writeFileSync(path.join(ext, 'server', 'starcoder_lsp-0.1.0-py3-none-any.whl'), 'wheel');
  }
  const host = {
    storageDir: storage,
    extensionPath: ext,
    output: { info: vi.fn(), warn: vi.fn(), error: vi.fn(), show: vi.fn() } as any,
    restartServer: vi.fn(async () => undefined),
    stopServer: vi.fn(async () => undefined),
    pythonExtensionInterpreter: vi.fn(async () => undefined),
  };
  return { setup: new SetupFlow(host), host, paths: environmentPaths(storage) };
}

beforeEach(() => {
  mock.reset();
  runs.length = 0;
  answer = async (args) => {
    // pip --version in a venv that does not exist yet fails; everything else works.
    return { code: args.includes('--version') && args.includes('pip') ? 1 : 0, signal: null, cancelled: false, tail: [] };
  };
});

describe('Set up StarCoder', () => {
  it('is offered when no server is found, and the button runs it', async () => {
    const { setup } = flow();
    mock.commands.set('starcoder.setup', vi.fn());
    setup.offer(vi.fn());
    setup.offer(vi.fn()); // shown once while open
    expect(mock.messages).toHaveLength(1);
    const offer = mock.messages[0];
    expect(offer.kind).toBe('info');
    expect(offer.text).toMatch(/StarCoder needs its language server, which was not found\. "Set up StarCoder" installs it into a private environment/);
    expect(offer.items).toEqual(['Set up StarCoder', 'Open Setting', 'Show Output']);
    offer.resolve('Set up StarCoder');
    await settle();
    expect(mock.executed.some((e) => e.command === 'starcoder.setup')).toBe(true);
  });

  it('full: a progress message per phase, a record of what it installed, the server restarted, then the model asked for', async () => {
    const { setup, host, paths } = flow();
    mock.pickAnswer = 'Full';
    const outcome = await setup.run();
    expect(mock.shownPicks[0].items.map((i: any) => i.label)).toEqual(['Full', 'Thin']);
    expect(outcome).toMatchObject({ status: 'done', variant: 'full', version: '0.1.0', python: '/usr/bin/python3', server: paths.server });
    const progress = mock.progress[0];
    expect(progress.title).toBe('StarCoder set-up');
    expect(progress.messages).toEqual([
      `1/4: Creating a Python environment (${paths.venv})…`,
      '2/4: Installing the server and its dependencies…',
      expect.stringMatching(/^3\/4: Building llama\.cpp \(about \d+ minutes? on \d+ CPU cores?; a prebuilt wheel is used where pip finds one\)…$/),
      '4/4: Checking the installed server…',
      'Done.',
    ]);
    const pip = runs.filter((r) => r.args.includes('install'));
    expect(pip.map((r) => r.args.at(-1))).toEqual([expect.stringMatching(/starcoder_lsp-0\.1\.0-py3-none-any\.whl$/), expect.stringMatching(/\.whl\[llama\]$/)]);
    expect(pip[1].env?.CMAKE_ARGS).toContain('-DGGML_NATIVE=OFF');
    expect(readMarker(paths)).toMatchObject({ version: '0.1.0', variant: 'full', pythonVersion: '3.11.7' });
    expect(host.stopServer).toHaveBeenCalled();
    expect(host.restartServer).toHaveBeenCalled();
    expect(host.output.info).toHaveBeenCalledWith('  ran -m pip install'); // the log gets every line
    await settle();
    expect(mock.messages.map((m) => m.text)).toEqual([
      expect.stringMatching(/^StarCoder is set up: server 0\.1\.0 in /),
      expect.stringMatching(/^StarCoder needs its model, starcoder2-15b-instruct-v0\.1: a 9\.9 GB download into \/m\. Download it now\?/),
    ]);
    mock.messages[1].resolve('Download');
    await settle();
    expect(mock.executed.some((e) => e.command === 'starcoder.loadModel')).toBe(true);
  });

  it('thin: no llama.cpp, and with an endpoint set it is the first choice', async () => {
    const { setup } = flow();
    mock.config['starcoder.endpoint'] = 'http://team:8000/v1';
    mock.pickAnswer = 'Thin';
    const outcome = await setup.run();
    expect(mock.shownPicks[0].items.map((i: any) => i.label)).toEqual(['Thin', 'Full']);
    expect(outcome).toMatchObject({ status: 'done', variant: 'thin' });
    expect(runs.some((r) => r.args.some((a) => a.endsWith('[llama]')))).toBe(false);
    expect(mock.progress[0].messages).toHaveLength(4); // venv, server, check, done
    mock.pickAnswer = undefined; // the pick dismissed
    expect(await flow().setup.run({})).toEqual({ status: 'dismissed' });
  });

  it('a failure says what failed and offers Retry, which runs it again', async () => {
    const { setup } = flow();
    answer = async (args) => {
      if (args.includes('pip') && args.includes('--version')) return { code: 1, signal: null, cancelled: false, tail: [] };
      if (args.includes('install')) return { code: 1, signal: null, cancelled: false, tail: ["WARNING: Retrying after connection broken by 'NewConnectionError: Failed to establish a new connection'", 'ERROR: No matching distribution found for pygls'] };
      return { code: 0, signal: null, cancelled: false, tail: [] };
    };
    const outcome = await setup.run({ variant: 'thin' });
    expect(outcome).toMatchObject({ status: 'failed', phase: 'server', kind: 'offline' });
    const error = mock.messages.find((m) => m.kind === 'error')!;
    expect(error.text).toMatch(/^StarCoder: installing the server failed: pip could not download packages; this machine seems to be offline/);
    expect(error.items).toEqual(['Retry', 'Show Log']);
    const before = runs.length;
    answer = async () => ({ code: 0, signal: null, cancelled: false, tail: [] });
    error.resolve('Retry');
    await settle();
    await settle();
    expect(runs.length).toBeGreaterThan(before);
    expect(runs.at(-1)!.args).toEqual(['--version']);
  });

  it('Cancel stops pip and says so, with Retry', async () => {
    const { setup, paths } = flow();
    answer = (args, cancel) =>
      new Promise((resolve) => {
        if (!args.includes('install')) return resolve({ code: 0, signal: null, cancelled: false, tail: [] });
        cancel.onCancellationRequested(() => resolve({ code: null, signal: 'SIGTERM', cancelled: true, tail: [] }));
        setTimeout(() => mock.progress[0].cancel(), 5);
      });
    const outcome = await setup.run({ variant: 'full' });
    expect(outcome).toEqual({ status: 'cancelled', phase: 'server' });
    expect(readMarker(paths)).toBeUndefined();
    expect(mock.messages.find((m) => m.kind === 'warning')).toMatchObject({ text: 'StarCoder: the set-up was cancelled (server).', items: ['Retry'] });
  });

  it('without a Python 3.10+ it names what it found', async () => {
    const python = await import('../../src/setup/python');
    vi.mocked(python.probePython).mockResolvedValueOnce({ ok: true, version: '3.8.10', venv: true });
    const outcome = await flow().setup.run({ variant: 'thin' });
    expect(outcome).toMatchObject({ status: 'failed', phase: 'python' });
    const error = mock.messages.find((m) => m.kind === 'error')!;
    expect(error.text).toMatch(/\/usr\/bin\/python3 \(python3 on PATH\) is Python 3\.8\.10/);
    expect(error.items).toEqual(['Retry', 'Open Setting']);
  });

  it('a build without the server wheel cannot set up, and says why', async () => {
    const { setup } = flow(false);
    expect(setup.canSetUp).toBe(false);
    expect(await setup.run({ variant: 'thin' })).toMatchObject({ status: 'failed', phase: 'bundle' });
  });
});

describe('a newer bundled server', () => {
  it('upgrades the environment on activation, after asking, with progress', async () => {
    const { setup, host, paths } = flow();
    fs.mkdirSync(paths.venv, { recursive: true });
    writeMarker(paths, { version: '0.0.9', variant: 'full', python: '/usr/bin/python3', pythonVersion: '3.11.7', installedAt: 'then' });
    mock.autoAnswer = 'Upgrade';
    const outcome = await setup.checkUpgrade();
    expect(mock.messages[0].text).toBe('StarCoder: this extension brings server 0.1.0; the set-up environment has 0.0.9. Upgrade it now?');
    expect(outcome).toMatchObject({ status: 'done', version: '0.1.0', variant: 'full' });
    expect(mock.progress[0].title).toBe('StarCoder upgrade');
    expect(runs[0].args.at(-1)).toMatch(/\.whl\[llama\]$/);
    expect(readMarker(paths)?.version).toBe('0.1.0');
    expect(host.stopServer).toHaveBeenCalled();
    expect(host.restartServer).toHaveBeenCalled();
    expect(await setup.checkUpgrade()).toBe('none'); // up to date now
  });

  it('asks nothing without a set-up, and keeps the old one when declined', async () => {
    const { setup, paths } = flow();
    expect(await setup.checkUpgrade()).toBe('none');
    fs.mkdirSync(paths.venv, { recursive: true });
    writeMarker(paths, { version: '0.0.9', variant: 'thin', python: 'p', pythonVersion: '3.11', installedAt: '' });
    mock.autoAnswer = 'Not Now';
    expect(await setup.checkUpgrade()).toBe('declined');
    expect(runs).toHaveLength(0);
  });
});
