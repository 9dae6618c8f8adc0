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
