// Real-VS-Code test of the first run (run.mjs --setup-flow): the packaged .vsix in a clean
// profile with no server anywhere (nothing on PATH, no server setting); the extension offers
// "Set up StarCoder", which is clicked; the set-up runs to the end (pip offline against a
// local wheelhouse: PIP_NO_INDEX=1, PIP_FIND_LINKS); then an edit goes through the server it
// installed, and "StarCoder: Doctor" shows its report (test-results/setup-doctor.png).
//
// Env: STARCODER_TEST_WHEELHOUSE  folder of wheels (pip runs offline with it; unset: online)
//      STARCODER_TEST_VARIANT     thin (default) or full
//      STARCODER_TEST_ENDPOINT    OpenAI-compatible URL for a thin set-up (…/v1)
//      STARCODER_TEST_ENDPOINT_MODEL  the model name it serves
//      STARCODER_TEST_SETUP_PYTHON  the interpreter the wheelhouse was made for, given as
//                                   starcoder.server.python (the editor's PATH is the login
//                                   shell's, which a test cannot steer); unset: python3 on PATH
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runFromPalette } from './ui.mjs';

const SAMPLE = 'def area(radius):\n    return 3.14159 * radius * radius\n';

/** PATH without any folder holding a starcoder-lsp program (the test wants none found). */
function pathWithoutServer(value) {
  return (value ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !fs.existsSync(path.join(dir, 'starcoder-lsp')))
    .join(path.delimiter);
}

/** The extension's "StarCoder" output channel, as VS Code logged it to disk. */
function starcoderLog(userData) {
  const logs = path.join(userData, 'logs');
  for (const session of fs.existsSync(logs) ? fs.readdirSync(logs).sort().reverse() : []) {
    const file = path.join(logs, session, 'exthost1', 'starcoder-lsp.starcoder-lsp', 'StarCoder.log');
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  }
  return '';
}

/** Text of every notification toast now shown. */
async function toasts(page) {
  return (await page.locator('.notification-toast').allInnerTexts().catch(() => [])).map((t) => t.replace(/\s+/g, ' '));
}

export async function runSetupFlow(h) {
  const { codeServer, tmp, vsix, model, log, sleep, waitFor, RESULTS } = h;
  const variant = process.env.STARCODER_TEST_VARIANT || 'thin';
  const wheelhouse = process.env.STARCODER_TEST_WHEELHOUSE;
  const home = path.join(tmp, 'home-setup');
  const ws = path.join(tmp, 'ws-setup');
  const userData = path.join(tmp, 'ud-setup');
  const extDir = path.join(tmp, 'ext-setup');
  for (const d of [home, extDir, path.join(ws, '.vscode')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(ws, 'sample.py'), SAMPLE);
  const settings = { 'starcoder.maxTokens': 32, 'starcoder.preview': 'off', 'starcoder.inlineCompletion': false };
  if (variant === 'thin') {
    if (!process.env.STARCODER_TEST_ENDPOINT) throw new Error('a thin set-up needs STARCODER_TEST_ENDPOINT');
    settings['starcoder.endpoint'] = process.env.STARCODER_TEST_ENDPOINT;
    settings['starcoder.model'] = process.env.STARCODER_TEST_ENDPOINT_MODEL || 'starcoder2-15b-instruct-v0.1';
  } else {
    settings['starcoder.model'] = model;
  }
  // A Python that cannot run the server (no lsp_server there): the search goes on, and the
  // set-up makes its environment with it.
  if (process.env.STARCODER_TEST_SETUP_PYTHON) settings['starcoder.server.python'] = process.env.STARCODER_TEST_SETUP_PYTHON;
  fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  h.makeUserData(userData);

  // The environment of the editor (and so of pip): no server on PATH, none importable, and
  // pip offline against the wheelhouse.
  const env = { PATH: pathWithoutServer(process.env.PATH), PYTHONPATH: undefined, VIRTUAL_ENV: undefined, PYTHONHOME: undefined };
  if (wheelhouse) Object.assign(env, { PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheelhouse, PIP_CONFIG_FILE: '/dev/null' });
  else Object.assign(env, { PIP_NO_CACHE_DIR: '1' }); // online: a real build, not pip's cache

  const installStarted = Date.now();
  h.run(codeServer, ['--user-data-dir', userData, '--extensions-dir', extDir, '--install-extension', vsix], { env: h.serverEnv(home) });
  const cs = await h.startCodeServer(codeServer, { home, userData, extDir, logFile: path.join(RESULTS, 'code-server-setup.log'), env });
  const browser = await h.launchBrowser(path.join(tmp, 'chromium-setup'));
  const page = browser.pages()[0] ?? (await browser.newPage());
  const timings = {};
  try {
    h.watchPage(page, path.join(RESULTS, 'browser-setup.log'));
    await page.goto(`http://127.0.0.1:${cs.port}/?folder=${encodeURIComponent(ws)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // First words of the extension: the offer.
    const offer = page.locator('.notification-toast', { hasText: 'Set up StarCoder' }).first();
    await offer.waitFor({ timeout: 90_000 });
    await page.screenshot({ path: path.join(RESULTS, 'setup-offer.png') });
    log('setup: offered:', (await offer.innerText()).replace(/\s+/g, ' ').slice(0, 200));
    await offer.getByRole('button', { name: 'Set up StarCoder' }).click();
    // Full or thin.
    const pick = page.locator('.quick-input-widget');
    await pick.waitFor({ state: 'visible', timeout: 15_000 });
    const label = variant === 'thin' ? 'Thin' : 'Full';
    await pick.locator('.monaco-list-row', { hasText: label }).first().click();
    log(`setup: chose ${label}`);
    // A progress notification per phase, until the set-up says it is done (or failed).
    const seen = new Set();
    const done = await waitFor('the set-up to finish', async () => {
      for (const text of await toasts(page)) {
        const phase = /StarCoder set-up.*?(\d\/\d: [^…]*)/.exec(text);
        if (phase && !seen.has(phase[1])) {
          seen.add(phase[1]);
          log(`setup: ${phase[1]}`);
          await page.screenshot({ path: path.join(RESULTS, `setup-phase-${seen.size}.png`) }).catch(() => undefined);
        }
        if (/StarCoder is set up/.test(text)) return text;
        if (/StarCoder: .*failed|set-up was cancelled/.test(text)) throw new Error(`the set-up failed: ${text}`);
      }
      return undefined;
    }, (variant === 'full' ? 180 : 8) * 60_000);
    timings.setupDoneS = (Date.now() - installStarted) / 1000;
    log(`setup: ${done.slice(0, 200)} (${timings.setupDoneS.toFixed(0)} s after install)`);
    if (!seen.size) throw new Error('no progress notification was seen');
    // Every phase, from the StarCoder output (a quick phase can come and go between polls).
    const phases = starcoderLog(userData).match(/set-up \d\/\d: [^\n]*/g) ?? [];
    const expected = variant === 'full' ? 4 : 3;
    if (phases.length !== expected || !/set-up done in/.test(starcoderLog(userData))) {
      throw new Error(`expected ${expected} phases and "done" in the StarCoder output, got: ${phases.join(' | ')}`);
    }
    log(`setup: phases in the output: ${phases.join(' | ')}`);
    const envDir = path.join(userData, 'User', 'globalStorage', 'starcoder-lsp.starcoder-lsp', 'server-env');
    const marker = JSON.parse(fs.readFileSync(path.join(envDir, 'starcoder-setup.json'), 'utf8'));
    if (marker.variant !== variant) throw new Error(`marker says ${JSON.stringify(marker)}`);
    if (!fs.existsSync(path.join(envDir, 'bin', 'starcoder-lsp'))) throw new Error(`no server in ${envDir}`);

    // An edit through the server the set-up installed (preview off: it applies directly).
    const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'sample.py' }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.dblclick();
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.locator('.view-line', { hasText: 'def area' }).click();
    await page.keyboard.press('Home');
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowDown');
    const quickInput = await runFromPalette(page, 'StarCoder: Edit Selection', log);
    // The instruction box (typing before it shows would type into the file).
    await quickInput.locator('.quick-input-title', { hasText: 'StarCoder' }).waitFor({ timeout: 60_000 });
    await page.keyboard.type('add a docstring');
    await quickInput.locator('.monaco-list-row', { hasText: 'add a docstring' }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page.locator('.tab.dirty', { hasText: 'sample.py' }).first().waitFor({ timeout: 300_000 });
    timings.firstEditS = (Date.now() - installStarted) / 1000;
    await page.keyboard.press('Control+S');
    await waitFor('sample.py to be saved with the edit', () => fs.readFileSync(path.join(ws, 'sample.py'), 'utf8') !== SAMPLE, 20_000);
    log(`setup: the edit landed through the set-up server; install -> first edit ${timings.firstEditS.toFixed(0)} s`);
    await page.screenshot({ path: path.join(RESULTS, 'setup-edit.png') });

    // StarCoder: Doctor shows its report.
    await runFromPalette(page, 'StarCoder: Doctor', log);
    await page.locator('.tab', { hasText: 'StarCoder doctor' }).first().waitFor({ timeout: 180_000 });
    const report = await waitFor('the doctor report in the preview', async () => {
      for (const frame of page.frames()) {
        const text = await frame.locator('body').innerText({ timeout: 1_000 }).catch(() => '');
        if (text.includes('StarCoder doctor') && /passed|failed/.test(text)) return text;
      }
      return undefined;
    }, 60_000);
    await sleep(1000);
    await page.screenshot({ path: path.join(RESULTS, 'setup-doctor.png') });
    for (const frame of page.frames()) {
      // The checks after the prompt's template (FIM, endpoint, memory) at the top.
      await frame.evaluate("[...document.querySelectorAll('li')].find((li) => li.textContent.includes('FIM tokens'))?.scrollIntoView()").catch(() => undefined);
    }
    await sleep(500);
    await page.screenshot({ path: path.join(RESULTS, 'setup-doctor-end.png') });
    fs.writeFileSync(path.join(RESULTS, 'setup-doctor.txt'), report);
    if (!/All checks passed/.test(report)) throw new Error(`the doctor found a failure:\n${report}`);
    for (const line of ['server', 'Python', variant === 'thin' ? 'endpoint generation' : 'model loads']) {
      if (!new RegExp(`✔\\s*${line}`).test(report)) throw new Error(`no ✔ ${line} in the report:\n${report}`);
    }
    log('setup: doctor report shown (test-results/setup-doctor.png)');
  } catch (err) {
    await page.screenshot({ path: path.join(RESULTS, 'setup-failure.png') }).catch(() => undefined);
    throw err;
  } finally {
    fs.writeFileSync(path.join(RESULTS, 'setup-timings.json'), JSON.stringify({ variant, offline: !!wheelhouse, ...timings }, null, 2));
    await browser.close().catch(() => undefined);
    cs.stop();
  }
  return timings;
}
