/**
 * The pages are usable without a mouse and by assistive technology: axe-core (run in Chromium on
 * the live pages, signed in, with a call up) finds no serious or critical WCAG 2.x A/AA violation,
 * and the call page's controls work from the keyboard alone.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { chromiumMissing, launchChromium, signInToConsole } from '../support/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`browser accessibility tests skipped: ${missing}`);

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Serious and critical WCAG A/AA violations axe-core finds on the page as it is now. */
async function violations(page: Page): Promise<string[]> {
  // page.evaluate runs outside the page's Content-Security-Policy, which forbids injected scripts.
  await page.evaluate(axeSource);
  const found = await page.evaluate<Violation[]>(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => r.violations)`,
  );
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe.skipIf(missing !== undefined)('browser: accessibility of /call and /console', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    gw = await startGateway({ media: true, devSecret: true, devLogin: true });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser.close();
    await gw.close();
  });

  it('the call page, signed in and in a call, has no serious violations and works from the keyboard', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${gw.url}/call`);
    expect(await violations(page)).toEqual([]);

    // Sign in and call with the keyboard only: type, Tab between controls, Enter and Space to press.
    await page.getByLabel('Your name', { exact: true }).focus();
    await page.keyboard.type('erin');
    await page.keyboard.press('Tab');
    await page.keyboard.type('a11y-room');
    await page.keyboard.press('Enter');
    await page.locator('#connection[data-state="connected"]').waitFor();
    await page.locator('#call').focus();
    await page.keyboard.press('Enter');
    await page.locator('#call-status[data-phase="connected"]').waitFor({ timeout: 20_000 });
    await page.locator('#mute').focus();
    await page.keyboard.press('Space');
    await expect.poll(() => page.locator('#mute').getAttribute('aria-pressed')).toBe('true');
    await page.locator('#events li[data-event-type="audio:mute:on"]').waitFor();

    expect(await violations(page)).toEqual([]);
  }, 60_000);

  it('the console, signed in with a leg listed, has no serious violations', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${gw.url}/console`);
    expect(await violations(page)).toEqual([]);
    await signInToConsole(page, gw, 'olivia');
    await page.locator('#legs tr[data-leg-id]').first().waitFor();
    expect(await violations(page)).toEqual([]);
  }, 60_000);
});
