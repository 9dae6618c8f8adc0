#!/usr/bin/env node
/* global document */
// Real-VS-Code tests: code-server (VS Code 1.100.3 from the npm registry) + Debian Chromium.
//
//  1. suite: opens code-server with the extension in development mode and its test suite
//     (test/e2e/suite) running inside the real extension host, against the real
//     starcoder-lsp server and the tiny GGUF model; reads the results file it writes.
//  2. smoke: installs the packaged .vsix, then drives the UI with Playwright: command
//     palette -> "StarCoder: Edit Selection…" -> instruction -> the inline review's Accept
//     code lens; checks the file changed and saves test-results/smoke.png; then Explain
//     Selection opens as a chat, and the conversation survives a window reload.
//  3. --setup-flow (only when asked): the first run without a server, "Set up StarCoder"
//     to the end, an edit, the doctor (see setup-flow.mjs).
//
// Usage: node test/e2e/run.mjs [--skip-build] [--suite-only] [--smoke-only] [--setup-flow] [--keep]
// Env:   STARCODER_LSP_SERVER  server program (default <repo>/.venv/bin/starcoder-lsp)
//        STARCODER_TEST_MODEL  GGUF model (default: the tiny test model, built with
//                              <repo>/.venv/bin/python -m tests.fixtures.tiny_model)
//        STARCODER_TEST_PYTHON Python that builds the tiny model (default <repo>/.venv/bin/python)
//        CHROMIUM              browser (default /usr/bin/chromium)
//        STARCODER_E2E_TIMEOUT seconds for the suite (default 600)
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSetupFlow } from './setup-flow.mjs';
import { runFromPalette, serveRequests } from './ui.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO = path.resolve(ROOT, '..');
const RESULTS = path.join(ROOT, 'test-results');
const argv = new Set(process.argv.slice(2));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const EXT_ID = `${pkg.publisher}.${pkg.name}`;

function log(...args) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

function cacheDir() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'starcoder-lsp');
}

function run(cmd, args, opts = {}) {
  log('$', cmd, args.join(' '));
  return execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what, fn, ms) {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

// ---- inputs -------------------------------------------------------------------------------

function findServer() {
  const server = process.env.STARCODER_LSP_SERVER || path.join(REPO, '.venv', 'bin', 'starcoder-lsp');
  if (!fs.existsSync(server)) {
    throw new Error(`the language server ${server} does not exist: install the Python package first (pip install -e ".[llama,dev]" in ${REPO}), or set STARCODER_LSP_SERVER`);
  }
  return server;
}

function findModel() {
  if (process.env.STARCODER_TEST_MODEL) return process.env.STARCODER_TEST_MODEL;
  const python = process.env.STARCODER_TEST_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
  const out = run(python, ['-m', 'tests.fixtures.tiny_model', path.join(cacheDir(), 'tiny-model')], { cwd: REPO });
  const line = out.split('\n').find((l) => l.startsWith('gguf='));
  const gguf = line ? line.slice(5).trim() : out.trim().split('\n').pop();
  if (!gguf || !fs.existsSync(gguf)) throw new Error(`tiny model not built: ${out}`);
  return gguf;
}

const SAMPLE = `import math


def area(radius):
    return math.pi * radius * radius


def perimeter(radius):
    return 2 * math.pi * radius
`;

function makeWorkspace(dir, server, model) {
  fs.mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sample.py'), SAMPLE);
  const settings = {
    'starcoder.server.path': server,
    'starcoder.model': model,
    'starcoder.maxTokens': 48,
    'starcoder.trace.server': 'off',
  };
  fs.writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
}

function makeUserData(dir) {
  fs.mkdirSync(path.join(dir, 'User'), { recursive: true });
  const settings = {
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'chat.commandCenter.enabled': false,
    'chat.disableAIFeatures': true,
    'workbench.colorTheme': 'Default Dark Modern',
    'window.commandCenter': false,
    'editor.minimap.enabled': false,
    'files.autoSave': 'off',
  };
  fs.writeFileSync(path.join(dir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
}

// ---- code-server and the browser ------------------------------------------------------------

function serverEnv(home) {
  return {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    EXTENSIONS_GALLERY: '{}',
    VSCODE_CLI_DISABLE_KEYCHAIN_ENCRYPT: '1',
  };
}

// code-server process groups started here, stopped on exit (also on SIGTERM / SIGINT).
const started = new Set();
let tempDir;
function stopAll() {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  started.clear();
  if (tempDir && !argv.has('--keep')) fs.rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
process.on('exit', stopAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}

async function startCodeServer(codeServer, { home, userData, extDir, logFile, env = {} }) {
  const port = await freePort();
  const args = [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--disable-getting-started-override', '--user-data-dir', userData, '--extensions-dir', extDir,
  ];
  log('starting code-server on port', port);
  const out = fs.openSync(logFile, 'a');
  const childEnv = Object.fromEntries(Object.entries({ ...serverEnv(home), ...env }).filter(([, v]) => v !== undefined));
  const child = spawn(codeServer, args, { env: childEnv, stdio: ['ignore', out, out], detached: true });
  started.add(child.pid);
  child.on('exit', (code, signal) => log(`code-server exited (${code ?? signal})`));
  await waitFor('code-server to listen', async () => {
    if (child.exitCode !== null) throw new Error(`code-server exited early:\n${tail(logFile)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return res.ok;
    } catch {
      return false;
    }
  }, 60_000);
  return {
    port,
    stop: () => {
      started.delete(child.pid);
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone
      }
    },
  };
}

async function launchBrowser(profile) {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) throw new Error(`no browser at ${executablePath}: apt-get install chromium (or set CHROMIUM)`);
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

function watchPage(page, logFile) {
  page.on('console', (msg) => fs.appendFileSync(logFile, `[console.${msg.type()}] ${msg.text()}\n`));
  page.on('pageerror', (err) => fs.appendFileSync(logFile, `[pageerror] ${err.message}\n`));
}

// ---- phase 1: the extension's suite inside the extension host ---------------------------------

/** Screenshots the suite asked for (`.e2e/shot-NAME.request`): test-results/NAME.png, then
 * `.e2e/shot-NAME.done` so the suite goes on. */
async function takeRequestedScreenshots(page, dir) {
  if (!fs.existsSync(dir)) return;
  for (const file of fs.readdirSync(dir)) {
    const match = /^shot-(.+)\.request$/.exec(file);
    if (!match) continue;
    const done = path.join(dir, `shot-${match[1]}.done`);
    if (fs.existsSync(done)) continue;
    const shot = path.join(RESULTS, `${match[1]}.png`);
    await page.screenshot({ path: shot }).catch((err) => log('screenshot failed:', err?.message ?? err));
    fs.writeFileSync(done, shot);
    log('suite: screenshot', shot);
  }
}

async function runSuite(codeServer, tmp, server, model) {
  const home = path.join(tmp, 'home-suite');
  const ws = path.join(tmp, 'ws-suite');
  const userData = path.join(tmp, 'ud-suite');
  const extDir = path.join(tmp, 'ext-suite');
  for (const d of [home, extDir]) fs.mkdirSync(d, { recursive: true });
  makeWorkspace(ws, server, model);
  makeUserData(userData);
  const csLog = path.join(RESULTS, 'code-server-suite.log');
  const cs = await startCodeServer(codeServer, { home, userData, extDir, logFile: csLog });
  const browser = await launchBrowser(path.join(tmp, 'chromium-suite'));
  const resultsFile = path.join(ws, '.e2e', 'results.json');
  try {
    const remote = (p) => `vscode-remote://127.0.0.1:${cs.port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(ROOT)],
      ['extensionTestsPath', remote(path.join(ROOT, 'dist', 'test', 'suite', 'index.js'))],
    ];
    const url = `http://127.0.0.1:${cs.port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const page = browser.pages()[0] ?? (await browser.newPage());
    watchPage(page, path.join(RESULTS, 'browser-suite.log'));
    log('suite: opening', url);
    await page.goto(url);
    const timeout = Number(process.env.STARCODER_E2E_TIMEOUT || 600) * 1000;
    let lastLines = 0;
    const uiDone = new Set();
    await waitFor('the suite results', async () => {
      // The chat tests ask for UI actions on the page (test/e2e/ui.mjs).
      await serveRequests(page, path.join(ws, '.e2e'), RESULTS, uiDone, (line) => log('suite:', line));
      const suiteLog = path.join(ws, '.e2e', 'suite.log');
      if (fs.existsSync(suiteLog)) {
        const lines = fs.readFileSync(suiteLog, 'utf8').trim().split('\n');
        for (const line of lines.slice(lastLines)) log('suite:', line.slice(25, 300));
        lastLines = lines.length;
      }
      await takeRequestedScreenshots(page, path.join(ws, '.e2e'));
      return fs.existsSync(resultsFile);
    }, timeout);
    await page.screenshot({ path: path.join(RESULTS, 'suite.png') }).catch(() => undefined);
  } finally {
    for (const f of ['suite.log', 'results.json', 'chat-latency.json']) {
      const src = path.join(ws, '.e2e', f);
      if (fs.existsSync(src)) fs.copyFileSync(src, path.join(RESULTS, `suite-${f}`));
    }
    await browser.close().catch(() => undefined);
    cs.stop();
  }
  const summary = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  for (const r of summary.results) {
    log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name} (${r.ms} ms)${r.info ? ` — ${r.info}` : ''}`);
    if (!r.ok) console.log(r.error);
  }
  if (!summary.results.length) throw new Error('the suite ran no test');
  log(`suite: ${summary.passed} passed, ${summary.failed} failed`);
  return summary;
}

// ---- phase 2: UI smoke test with the packaged .vsix -----------------------------------------

async function runSmoke(codeServer, tmp, server, model, vsix) {
  const home = path.join(tmp, 'home-smoke');
  const ws = path.join(tmp, 'ws-smoke');
  const userData = path.join(tmp, 'ud-smoke');
  const extDir = path.join(tmp, 'ext-smoke');
  for (const d of [home, extDir]) fs.mkdirSync(d, { recursive: true });
  makeWorkspace(ws, server, model);
  makeUserData(userData);
  run(codeServer, ['--user-data-dir', userData, '--extensions-dir', extDir, '--install-extension', vsix], { env: serverEnv(home) });
  const installed = fs.readdirSync(extDir).filter((d) => d.startsWith(EXT_ID));
  if (!installed.length) throw new Error(`the .vsix did not install into ${extDir}`);
  const csLog = path.join(RESULTS, 'code-server-smoke.log');
  const cs = await startCodeServer(codeServer, { home, userData, extDir, logFile: csLog });
  const browser = await launchBrowser(path.join(tmp, 'chromium-smoke'));
  const file = path.join(ws, 'sample.py');
  const shot = path.join(RESULTS, 'smoke.png');
  const page = browser.pages()[0] ?? (await browser.newPage());
  try {
    watchPage(page, path.join(RESULTS, 'browser-smoke.log'));
    await page.goto(`http://127.0.0.1:${cs.port}/?folder=${encodeURIComponent(ws)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    log('smoke: workbench up');
    const status = page.locator('.statusbar-item', { hasText: 'StarCoder' }).first();
    await status.waitFor({ timeout: 60_000 });
    // Open sample.py from the Explorer.
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'sample.py' }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.dblclick();
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.locator('.view-line', { hasText: 'def area' }).waitFor({ timeout: 30_000 });
    log('smoke: sample.py open');
    // Select the `area` function: click its line, then extend two lines down.
    await editor.locator('.view-line', { hasText: 'def area' }).click();
    await page.keyboard.press('Home');
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowDown');
    // Command palette -> "StarCoder: Edit Selection…"
    const quickInput = await runFromPalette(page, 'StarCoder: Edit Selection', (m) => log(`smoke: ${m}`));
    // The instruction box (remembers recent instructions).
    await quickInput.locator('.quick-input-title', { hasText: 'StarCoder' }).waitFor({ timeout: 10_000 }).catch(() => undefined);
    await page.keyboard.type('add a docstring');
    await quickInput.locator('.monaco-list-row', { hasText: 'add a docstring' }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    log('smoke: instruction sent');
    // The default review is inline: once the edit is laid out, each change has Accept /
    // Reject code lenses in the editor itself (deleted lines decorated, new ones highlighted).
    const acceptLens = editor.locator('.codelens-decoration a').filter({ hasText: /Accept$/ }).first();
    const failure = page.locator('.notification-toast', { hasText: /StarCoder: (the edit failed|the model proposed no change|the language server|the edit was not applied)/ }).first();
    await acceptLens.or(failure).waitFor({ timeout: 180_000 });
    if (await failure.isVisible()) throw new Error(`the edit did not reach the review: ${(await failure.innerText()).replace(/\s+/g, ' ')}`);
    await sleep(700);
    await page.screenshot({ path: path.join(RESULTS, 'smoke-preview.png') });
    log('smoke: inline review shown (test-results/smoke-preview.png)');
    await acceptLens.click();
    // The change lands: the lenses go, and the document is dirty with new text.
    await editor.locator('.codelens-decoration a').filter({ hasText: /Accept$/ }).first().waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator('.tab.dirty', { hasText: 'sample.py' }).first().waitFor({ timeout: 30_000 });
    await sleep(500);
    await page.screenshot({ path: shot });
    log('smoke: change accepted, screenshot', shot);
    await page.keyboard.press('Control+S');
    await waitFor('sample.py to be saved with the edit', () => fs.readFileSync(file, 'utf8') !== SAMPLE, 20_000);
    log('smoke: saved; sample.py changed on disk');
    // The instruction box offers the recent instruction.
    await page.keyboard.press('F1');
    await quickInput.waitFor({ state: 'visible', timeout: 10_000 });
    await page.keyboard.type('StarCoder: Edit Selection');
    await quickInput.locator('.monaco-list-row', { hasText: 'Edit Selection' }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await quickInput.locator('.monaco-list-row', { hasText: 'add a docstring' }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Escape');
    log('smoke: the instruction box remembers "add a docstring"');
    // Explain Selection: the answer is the first turn of a chat in the StarCoder view.
    await editor.locator('.view-line', { hasText: 'def perimeter' }).click();
    await runFromPalette(page, 'StarCoder: Explain Selection', (m) => log(`smoke: ${m}`));
    const explained = await chatTurns(page, (turns) => turns.length >= 2 && turns[1].text.length > 0 && !turns[1].streaming, 120_000);
    await sleep(500);
    await page.screenshot({ path: path.join(RESULTS, 'smoke-chat-explain.png') });
    log(`smoke: explanation shown as the first chat turn (${explained[1].text.length} chars; test-results/smoke-chat-explain.png)`);
    // The conversation survives a window reload (kept per workspace).
    await page.reload();
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.statusbar-item', { hasText: 'StarCoder' }).first().waitFor({ timeout: 60_000 });
    await runFromPalette(page, 'StarCoder: Open Chat', (m) => log(`smoke: ${m}`));
    const restored = await chatTurns(page, (turns) => turns.length >= 2, 60_000);
    if (restored[1].text !== explained[1].text) throw new Error('the conversation did not survive the reload');
    await page.screenshot({ path: path.join(RESULTS, 'smoke-chat-after-reload.png') });
    log('smoke: the chat survived a window reload (test-results/smoke-chat-after-reload.png)');
  } catch (err) {
    await page.screenshot({ path: path.join(RESULTS, 'smoke-failure.png') }).catch(() => undefined);
    throw err;
  } finally {
    await browser.close().catch(() => undefined);
    cs.stop();
  }
  if (!fs.existsSync(shot)) throw new Error('no screenshot');
  return shot;
}

/** The chat view's turns as its page shows them, once `ready(turns)` holds. */
async function chatTurns(page, ready, ms) {
  return waitFor('the chat view to show the conversation', async () => {
    for (const frame of page.frames()) {
      try {
        const turns = await frame.evaluate(() => {
          if (!document.getElementById('starcoder-chat')) return undefined;
          return Array.from(document.querySelectorAll('#messages .turn')).map((t) => ({
            role: t.classList.contains('user') ? 'user' : 'assistant',
            streaming: t.classList.contains('streaming'),
            text: t.querySelector('.body')?.innerText ?? '',
          }));
        });
        if (turns && ready(turns)) return turns;
      } catch {
        // a frame going away
      }
    }
    return undefined;
  }, ms);
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  fs.rmSync(RESULTS, { recursive: true, force: true });
  fs.mkdirSync(RESULTS, { recursive: true });
  const codeServer = run('bash', [path.join(ROOT, 'scripts', 'install-code-server.sh')]).trim().split('\n').pop();
  const setupFlow = argv.has('--setup-flow');
  const server = setupFlow ? undefined : findServer();
  const model = findModel();
  log('server:', server);
  log('model:', model);
  const vsix = path.join(ROOT, `${pkg.name}-${pkg.version}.vsix`);
  if (!argv.has('--skip-build') || !fs.existsSync(vsix) || !fs.existsSync(path.join(ROOT, 'dist', 'test', 'suite', 'index.js'))) {
    run('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
    run('npm', ['run', '--silent', 'package'], { stdio: 'inherit' });
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'starcoder-e2e-'));
  tempDir = tmp;
  log('temp folder:', tmp);
  let failed = 0;
  let passed = 0;
  try {
    if (setupFlow) {
      try {
        const timings = await runSetupFlow({ codeServer, tmp, vsix, model, log, sleep, waitFor, run, RESULTS, makeUserData, serverEnv, startCodeServer, launchBrowser, watchPage });
        passed += 1;
        log(`PASS first run: Set up StarCoder -> edit -> doctor ${JSON.stringify(timings)}`);
      } catch (err) {
        failed += 1;
        log('FAIL first run (Set up StarCoder):', err?.stack ?? err);
        log('code-server log tail:\n' + tail(path.join(RESULTS, 'code-server-setup.log')));
      }
    } else if (!argv.has('--smoke-only')) {
      const summary = await runSuite(codeServer, tmp, server, model);
      passed += summary.passed;
      failed += summary.failed;
    }
    if (!setupFlow && !argv.has('--suite-only')) {
      try {
        await runSmoke(codeServer, tmp, server, model, vsix);
        passed += 1;
        log('PASS UI smoke test (command palette -> instruction -> inline review -> Accept; Explain -> chat; chat survives reload)');
      } catch (err) {
        failed += 1;
        log('FAIL UI smoke test:', err?.stack ?? err);
        log('code-server log tail:\n' + tail(path.join(RESULTS, 'code-server-smoke.log')));
      }
    }
  } finally {
    if (!argv.has('--keep')) fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(`done in ${Math.round((Date.now() - started) / 1000)} s; artifacts in ${RESULTS}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
