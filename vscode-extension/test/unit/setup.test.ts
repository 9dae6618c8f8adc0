import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { compareVersions, environmentPaths, findBundledServer, readMarker, upgradeAvailable, writeMarker } from '../../src/setup/environment';
import { explainFailure, lastError } from '../../src/setup/failure';
import { runSteps } from '../../src/setup/installer';
import { modelToDownload, parseListing } from '../../src/setup/model';
import { runCommand } from '../../src/setup/process';
import { choosePython, parseProbe, probePython, pythonCandidates, versionAtLeast } from '../../src/setup/python';
import { type Step, llamaBuildEstimate, portableCmakeArgs, setupSteps, upgradeSteps } from '../../src/setup/steps';
import { findServer } from '../../src/server';

const PY3 = (() => {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
})();

/** Alive and not a zombie (an orphan waits for a reaper that a container may not run). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function cancellation() {
  const listeners: (() => void)[] = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested: (l: () => void) => {
      listeners.push(l);
      return { dispose: () => undefined };
    },
  };
  return {
    token,
    cancel() {
      token.isCancellationRequested = true;
      listeners.forEach((l) => l());
    },
  };
}

describe('which Python makes the environment', () => {
  it('tries starcoder.server.python, the Python extension, then python3 and python on PATH', () => {
    const onPath = (p: string) => ({ python3: '/usr/bin/python3', python: '/usr/bin/python3' })[p];
    const c = pythonCandidates({ setting: '/opt/py/bin/python', extension: '/venv/bin/python', onPath, platform: 'linux' });
    expect(c).toEqual([
      { python: '/opt/py/bin/python', label: 'starcoder.server.python' },
      { python: '/venv/bin/python', label: 'the Python extension' },
      { python: '/usr/bin/python3', label: 'python3 on PATH' },
    ]);
    expect(pythonCandidates({ onPath: (p) => (p === 'py' ? 'C:\\py.exe' : undefined), platform: 'win32' })).toEqual([{ python: 'C:\\py.exe', label: 'py on PATH' }]);
  });

  it('needs 3.10 with venv, and names each interpreter found and its version otherwise', async () => {
    expect(versionAtLeast('3.10.0', [3, 10])).toBe(true);
    expect(versionAtLeast('3.9.18', [3, 10])).toBe(false);
    expect(versionAtLeast('4.0.0', [3, 10])).toBe(true);
    expect(parseProbe('3.11.7 1\n')).toEqual({ version: '3.11.7', venv: true });
    const probes: Record<string, Awaited<ReturnType<typeof probePython>>> = {
      '/old/python': { ok: true, version: '3.8.10', venv: true },
      '/novenv/python3': { ok: true, version: '3.12.1', venv: false },
      '/broken/python': { ok: false, error: 'No such file' },
      '/good/python3': { ok: true, version: '3.11.7', venv: true },
    };
    const probe = async (p: string) => probes[p];
    const candidates = ['/old/python', '/novenv/python3', '/broken/python'].map((python) => ({ python, label: 'x' }));
    const none = await choosePython(candidates, probe);
    expect(none.ok).toBe(false);
    expect(!none.ok && none.message).toMatch(/needs Python 3\.10 or newer\. Found: \/old\/python \(x\) is Python 3\.8\.10; \/novenv\/python3 \(x\) is Python 3\.12\.1 without its venv module.*python3-venv.*\/broken\/python \(x\) does not run: No such file/);
    const good = await choosePython([...candidates, { python: '/good/python3', label: 'python3 on PATH' }], probe);
    expect(good).toEqual({ ok: true, python: '/good/python3', version: '3.11.7', label: 'python3 on PATH' });
    expect(await choosePython([], probe)).toMatchObject({ ok: false, message: expect.stringContaining('No Python was found') });
  });

  it.skipIf(!PY3)('probes a real interpreter', async () => {
    const r = await probePython(PY3!);
    expect(r.ok && r.version).toMatch(/^3\.\d+\.\d+$/);
    expect(await probePython('/nonexistent/python3')).toMatchObject({ ok: false });
  });
});

describe('the environment and the bundled server', () => {
  it('lives in the global storage, with the server program inside', () => {
    expect(environmentPaths('/gs', 'linux')).toEqual({
      venv: '/gs/server-env',
      python: '/gs/server-env/bin/python',
      server: '/gs/server-env/bin/starcoder-lsp',
      marker: '/gs/server-env/starcoder-setup.json',
    });
    expect(environmentPaths('C:\\gs', 'win32').server).toBe('C:\\gs\\server-env\\Scripts\\starcoder-lsp.exe');
  });

  it('finds the newest bundled wheel and compares versions', () => {
    const list = () => ['README', 'starcoder_lsp-0.9.0-py3-none-any.whl', 'starcoder_lsp-0.10.1-py3-none-any.whl', 'other-1.0-py3-none-any.whl'];
    expect(findBundledServer('/ext', list)).toEqual({ wheel: path.join('/ext', 'server', 'starcoder_lsp-0.10.1-py3-none-any.whl'), version: '0.10.1' });
    expect(findBundledServer('/nonexistent-extension')).toBeUndefined();
    expect(compareVersions('0.10.0', '0.9.9')).toBe(1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('1.0.0rc1', '1.0.0')).toBe(-1);
    const marker = { version: '0.1.0', variant: 'full' as const, python: 'p', pythonVersion: '3.11.7', installedAt: '' };
    expect(upgradeAvailable(marker, { wheel: 'w', version: '0.2.0' })).toBe(true);
    expect(upgradeAvailable(marker, { wheel: 'w', version: '0.1.0' })).toBe(false);
    expect(upgradeAvailable(undefined, { wheel: 'w', version: '0.2.0' })).toBe(false);
  });

  it('records what it installed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-marker-'));
    const paths = environmentPaths(dir);
    fs.mkdirSync(paths.venv);
    expect(readMarker(paths)).toBeUndefined();
    const marker = { version: '0.1.0', variant: 'thin' as const, python: '/usr/bin/python3', pythonVersion: '3.11.2', installedAt: 'now' };
    writeMarker(paths, marker);
    expect(readMarker(paths)).toEqual(marker);
    fs.writeFileSync(paths.marker, '{"version": 1}');
    expect(readMarker(paths)).toBeUndefined();
  });

  it('is the last place the server is looked for', async () => {
    const deps = {
      isExecutable: (f: string) => f === '/gs/server-env/bin/starcoder-lsp',
      exists: () => false,
      canImport: async () => 'no' as const,
      pythonExtensionInterpreter: async () => undefined,
      env: { PATH: '/usr/bin' },
      platform: 'linux' as const,
      homedir: '/h',
    };
    const found = await findServer({ managed: '/gs/server-env/bin/starcoder-lsp' }, deps);
    expect(found.ok && found.server).toMatchObject({ command: '/gs/server-env/bin/starcoder-lsp', args: ['--stdio'], source: 'setup' });
    const missing = await findServer({}, deps);
    expect(missing).toMatchObject({ ok: false, reason: 'not-found' });
    expect(await findServer({ path: '/nope' }, deps)).toMatchObject({ ok: false, reason: 'setting' });
  });
});

describe('the steps', () => {
  const paths = environmentPaths('/gs', 'linux');
  const base = { python: '/usr/bin/python3', paths, wheel: '/ext/server/starcoder_lsp-0.1.0-py3-none-any.whl', venvExists: false, cpus: 2, env: {} };

  it('full: venv, the server wheel, llama.cpp built portably, a check', () => {
    const steps = setupSteps({ ...base, variant: 'full' });
    expect(steps.map((s) => s.phase)).toEqual(['venv', 'server', 'llama', 'check']);
    expect(steps[0]).toMatchObject({ command: '/usr/bin/python3', args: ['-m', 'venv', '--clear', '/gs/server-env'] });
    expect(steps[1].command).toBe('/gs/server-env/bin/python');
    expect(steps[1].args.at(-1)).toBe(base.wheel);
    expect(steps[2].args).toEqual(expect.arrayContaining(['--prefer-binary', `${base.wheel}[llama]`]));
    expect(steps[2].env).toEqual({ CMAKE_ARGS: '-DGGML_NATIVE=OFF' });
    expect(steps[2].title).toMatch(/Building llama\.cpp \(about 11 minutes on 2 CPU cores; a prebuilt wheel/);
    expect(steps[3]).toMatchObject({ command: '/gs/server-env/bin/starcoder-lsp', args: ['--version'] });
  });

  it('thin: no llama.cpp; an existing environment is reused; upgrades keep the variant', () => {
    expect(setupSteps({ ...base, variant: 'thin', venvExists: true }).map((s) => s.phase)).toEqual(['server', 'check']);
    const up = upgradeSteps({ paths, wheel: base.wheel, variant: 'full', cpus: 2, env: { CMAKE_ARGS: '-DGGML_CUDA=on' } });
    expect(up[0].args.at(-1)).toBe(`${base.wheel}[llama]`);
    expect(up[0].env).toEqual({ CMAKE_ARGS: '-DGGML_CUDA=on -DGGML_NATIVE=OFF' });
    expect(upgradeSteps({ paths, wheel: base.wheel, variant: 'thin', cpus: 2, env: {} })[0].args.at(-1)).toBe(base.wheel);
  });

  it('keeps a user GGML_NATIVE choice and scales the estimate', () => {
    expect(portableCmakeArgs('-DGGML_NATIVE=ON')).toBe('-DGGML_NATIVE=ON');
    expect(portableCmakeArgs(undefined)).toBe('-DGGML_NATIVE=OFF');
    expect(llamaBuildEstimate(16)).toBe('about 2 minutes on 16 CPU cores');
    expect(llamaBuildEstimate(1)).toBe('about 22 minutes on 1 CPU core');
  });
});

describe('failures in plain words', () => {
  const step = (phase: Step['phase']): Step => ({ phase, title: '', command: 'python', args: [] });
  const result = (tail: string[], code = 1) => ({ code, signal: null, cancelled: false, tail });

  it('a proxy, no network, a missing compiler, or pip\'s own error', () => {
    const proxy = explainFailure(step('server'), result(["WARNING: Retrying ... ProxyError('Cannot connect to proxy.')", 'ERROR: Could not find a version that satisfies the requirement pygls']));
    expect(proxy.kind).toBe('proxy');
    expect(proxy.message).toMatch(/^installing the server failed: pip could not get through the proxy.*HTTPS_PROXY/);
    const offline = explainFailure(step('server'), result(["WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(... Temporary failure in name resolution')"]));
    expect(offline).toMatchObject({ kind: 'offline', message: expect.stringMatching(/offline or cannot reach the package index/) });
    const build = explainFailure(step('llama'), result(['CMake Error at CMakeLists.txt:1: No CMAKE_CXX_COMPILER could be found.', 'ERROR: Failed building wheel for llama-cpp-python']));
    expect(build).toMatchObject({ kind: 'build', message: expect.stringMatching(/^building llama\.cpp failed: compiling llama\.cpp needs a C\/C\+\+ compiler and CMake.*thin set-up/) });
    const other = explainFailure(step('check'), result(['Traceback', 'ModuleNotFoundError: No module named x'], 2));
    expect(other.message).toBe('checking the installed server failed (exit status 2): ModuleNotFoundError: No module named x');
    const missing = explainFailure(step('venv'), { ...result([]), spawnError: 'spawn python ENOENT' });
    expect(missing.message).toMatch(/creating the environment failed: python could not be started \(spawn python ENOENT\)/);
    expect(lastError(['ERROR: Exception:', 'x', 'ERROR: No matching distribution found for y', 'tail'])).toBe('No matching distribution found for y');
  });

  it.skipIf(!PY3)('pip without a package index is reported as offline (a real pip)', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-empty-wheelhouse-'));
    const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-index', '--find-links', empty, 'starcoder-lsp-no-such-package'];
    const r = await runCommand(PY3!, args, { env: { PIP_CONFIG_FILE: os.devNull } });
    expect(r.code).not.toBe(0);
    expect(explainFailure({ phase: 'server', title: '', command: PY3!, args }, r)).toMatchObject({ kind: 'offline' });
  });
});

describe('running the commands', () => {
  it('streams the output lines and reports the exit status', async () => {
    const lines: string[] = [];
    const r = await runCommand(process.execPath, ['-e', 'console.log("one"); console.error("two"); process.exit(3)'], { onLine: (l) => lines.push(l) });
    expect(r).toMatchObject({ code: 3, cancelled: false });
    expect(lines.sort()).toEqual(['one', 'two']);
    expect((await runCommand('/nonexistent/pip', [])).spawnError).toMatch(/ENOENT/);
  });

  it.skipIf(process.platform === 'win32')('Cancel stops the command and what it started (its process group)', async () => {
    const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sc-cancel-')), 'child.pid');
    const c = cancellation();
    // A parent that starts a long child (as pip starts cmake and the compiler).
    const script = `sleep 60 & echo $! > ${pidFile}; echo started; wait`;
    const started = Date.now();
    const pending = runCommand('sh', ['-c', script], { cancel: c.token, onLine: (l) => l === 'started' && c.cancel(), killGraceMs: 500 });
    const r = await pending;
    expect(r.cancelled).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((res) => setTimeout(res, 200));
    expect(running(child)).toBe(false); // the grandchild is gone too
  });

  it('runs the steps in order, stops at a failure with its explanation, and at Cancel', async () => {
    const steps = setupSteps({ python: 'py', paths: environmentPaths('/gs', 'linux'), wheel: 'w.whl', variant: 'full', venvExists: false, cpus: 2, env: {} });
    const seen: string[] = [];
    const reporter = { step: (s: Step, i: number, n: number) => seen.push(`${i + 1}/${n} ${s.phase}`), line: vi.fn() };
    const ok = await runSteps(steps, async () => ({ code: 0, signal: null, cancelled: false, tail: [] }), reporter);
    expect(ok.status).toBe('done');
    expect(seen).toEqual(['1/4 venv', '2/4 server', '3/4 llama', '4/4 check']);
    const fail = await runSteps(steps, async (_c, args) => ({ code: args.includes('--prefer-binary') ? 1 : 0, signal: null, cancelled: false, tail: ['ERROR: Failed building wheel for llama-cpp-python', 'CMake Error'] }), reporter);
    expect(fail).toMatchObject({ status: 'failed', phase: 'llama', kind: 'build' });
    const cancelled = await runSteps(steps, async () => ({ code: null, signal: 'SIGTERM', cancelled: true, tail: [] }), reporter);
    expect(cancelled).toEqual({ status: 'cancelled', phase: 'venv' });
  });
});

describe('the model after a set-up', () => {
  const listing = parseListing(
    JSON.stringify({
      modelsDir: '/m',
      default: 'starcoder2-15b-instruct-v0.1',
      presets: [
        { name: 'starcoder2-15b-instruct-v0.1', kind: 'instruct', gguf: [{ quant: 'Q4_K_M', filename: 'sc15-Q4.gguf', sizeGb: 9.86 }, { quant: 'Q8_0', filename: 'sc15-Q8.gguf', sizeGb: 16.97 }], local: [] },
        { name: 'starcoder2-3b', kind: 'base', gguf: [{ quant: 'Q4_K_M', filename: 'sc3.gguf', sizeGb: 1.85 }], local: ['/m/sc3.gguf'] },
      ],
    }),
  )!;

  it('offers the preset download that is due, and nothing for files, endpoints or what is there', () => {
    const none = { model: '', endpoint: '', backend: 'auto' };
    expect(modelToDownload(listing, none)).toEqual({ name: 'starcoder2-15b-instruct-v0.1', sizeGb: 9.86, filename: 'sc15-Q4.gguf' });
    expect(modelToDownload(listing, { ...none, model: 'starcoder2-15b-instruct-v0.1:q8_0' })?.sizeGb).toBe(16.97);
    expect(modelToDownload(listing, { ...none, model: 'starcoder2-3b' })).toBeUndefined();
    expect(modelToDownload(listing, { ...none, model: '/models/x.gguf' })).toBeUndefined();
    expect(modelToDownload(listing, { ...none, endpoint: 'http://team:8000/v1' })).toBeUndefined();
    expect(parseListing('not json')).toBeUndefined();
  });

  it.skipIf(!PY3)('the installed server lists its models as JSON', () => {
    const repo = path.resolve(__dirname, '..', '..', '..');
    let out: string;
    try {
      out = execFileSync(PY3!, ['-m', 'lsp_server', 'models', '--json'], { cwd: repo, encoding: 'utf8', env: { ...process.env, PYTHONPATH: repo, STARCODER_MODELS_DIR: os.tmpdir() } });
    } catch {
      return; // python3 here lacks the server's dependencies
    }
    const parsed = parseListing(out)!;
    expect(parsed.default).toBe('starcoder2-15b-instruct-v0.1');
    expect(modelToDownload(parsed, { model: '', endpoint: '', backend: 'auto' })?.sizeGb).toBeCloseTo(9.86);
  });
});
