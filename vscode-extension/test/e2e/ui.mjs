/* global document, window */
// What the in-editor suite asks the browser to do: the suite (inside VS Code's extension
// host) cannot reach a webview's page, so it writes `.e2e/ui-request-N.json` and the
// harness performs it with Playwright on the real page, answering in
// `.e2e/ui-response-N.json`. The chat tests use it to type, press keys, click buttons and
// read what the view really shows.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The chat view's page (the webview frame holding #starcoder-chat), or undefined. */
async function chatFrame(page) {
  for (const frame of page.frames()) {
    try {
      if (await frame.evaluate(() => !!document.getElementById('starcoder-chat'))) return frame;
    } catch {
      // a frame that is going away
    }
  }
  return undefined;
}

async function waitForFrame(page, ms = 30_000) {
  const start = Date.now();
  for (;;) {
    const frame = await chatFrame(page);
    if (frame) return frame;
    if (Date.now() - start > ms) throw new Error('the chat view is not open');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs one request on the page; returns what to answer. */
export async function perform(page, request, resultsDir) {
  const { action } = request;
  if (action === 'screenshot') {
    const file = path.join(resultsDir, `${request.name}.png`);
    await page.screenshot({ path: file });
    return { file };
  }
  if (action === 'notification') {
    const toast = page.locator('.notification-toast', { hasText: request.text }).first();
    await toast.waitFor({ timeout: request.timeout ?? 60_000 });
    await toast.getByRole('button', { name: request.button }).click();
    return { clicked: request.button };
  }
  const frame = await waitForFrame(page);
  switch (action) {
    case 'type': {
      const input = frame.locator('#input');
      await input.click();
      if (request.text) await input.pressSequentially(request.text, { delay: 5 });
      if (request.key) await input.press(request.key);
      return { typed: true };
    }
    case 'askTimed': {
      // Enter to the first answer text on screen, timed from outside the page.
      const input = frame.locator('#input');
      await input.click();
      await input.pressSequentially(request.text, { delay: 5 });
      const before = await frame.evaluate(() => document.querySelectorAll('#messages .turn.assistant').length);
      const started = Date.now();
      await input.press('Enter');
      await frame.waitForFunction(
        (count) => {
          const answers = document.querySelectorAll('#messages .turn.assistant');
          const body = answers.length > count ? answers[answers.length - 1].querySelector('.body') : null;
          return !!body && !body.querySelector('.waiting') && body.textContent.trim().length > 0;
        },
        before,
        { polling: 5, timeout: request.timeout ?? 120_000 },
      );
      return { ms: Date.now() - started };
    }
    case 'click': {
      await frame.locator(request.selector).last().click({ timeout: 15_000 });
      return { clicked: request.selector };
    }
    case 'waitText': {
      const locator = frame.locator(request.selector).last();
      const start = Date.now();
      for (;;) {
        const text = (await locator.count()) ? await locator.innerText() : '';
        if (text.length >= (request.minLength ?? 1) && (!request.contains || text.includes(request.contains))) return { text };
        if (Date.now() - start > (request.timeout ?? 60_000)) throw new Error(`timed out waiting for text in ${request.selector} (have ${JSON.stringify(text.slice(0, 200))})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    case 'inspect':
      return frame.evaluate(() => {
        const messages = document.getElementById('messages');
        const all = messages ? Array.from(messages.querySelectorAll('*')) : [];
        return {
          text: messages?.innerText ?? '',
          turns: messages ? Array.from(messages.querySelectorAll('.turn')).map((t) => t.className) : [],
          scripts: document.querySelectorAll('script').length,
          scriptsInMessages: messages?.querySelectorAll('script').length ?? 0,
          images: messages?.querySelectorAll('img').length ?? 0,
          eventAttributes: all.filter((el) => Array.from(el.attributes).some((a) => a.name.startsWith('on'))).length,
          pwned: window.pwned ?? null,
          bodyPwned: document.body.dataset.pwned ?? null,
          codeBlocks: messages?.querySelectorAll('.code-block').length ?? 0,
          chips: Array.from(document.querySelectorAll('#chips .chip')).map((c) => c.innerText.replace(/\s+/g, ' ').trim()),
          stopVisible: !document.getElementById('stop')?.hidden,
          csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
        };
      });
    default:
      throw new Error(`unknown ui action ${action}`);
  }
}

/** Answers every request the suite has written since the last call. */
export async function serveRequests(page, dir, resultsDir, done, log) {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir).filter((f) => /^ui-request-\d+\.json$/.test(f)).sort()) {
    if (done.has(name)) continue;
    done.add(name);
    const request = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    let response;
    try {
      response = { ok: true, value: await perform(page, request, resultsDir) };
    } catch (err) {
      response = { ok: false, error: String(err?.message ?? err) };
    }
    log(`ui ${request.action}${request.name ? ` ${request.name}` : ''}: ${response.ok ? 'ok' : response.error}`);
    const out = path.join(dir, name.replace('request', 'response'));
    fs.writeFileSync(`${out}.tmp`, JSON.stringify(response));
    fs.renameSync(`${out}.tmp`, out);
  }
}

// Small Playwright steps shared by the real-VS-Code tests.

/** Opens the command palette (F1, retried: the first key press is sometimes lost), runs
 *  `command` ("StarCoder: Edit Selection") and returns the quick-input widget. */
export async function runFromPalette(page, command, log) {
  const quickInput = page.locator('.quick-input-widget');
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.keyboard.press('F1');
    try {
      await quickInput.waitFor({ state: 'visible', timeout: 5_000 });
      break;
    } catch {
      log('command palette did not open, retrying');
    }
  }
  await page.keyboard.type(command);
  await quickInput.locator('.monaco-list-row', { hasText: command.replace(/^StarCoder: /, '') }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
  return quickInput;
}
