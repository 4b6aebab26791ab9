/**
 * The pages as production uses them: the gateway runs with a configured secret (no development
 * login), the application mints tokens and links to `/call#token=…&conversation=…` and
 * `/console#token=…`. The pages sign in from the fragment, remove it from the address bar, and
 * without a token explain that the application must link to them.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { chromiumMissing, launchChromium } from '../support/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`browser production token tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)('browser: pages signed in by the application', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    gw = await startGateway();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser.close();
    await gw.close();
  });

  it('/call joins from #token=…&conversation=… and drops the token from the address bar', async () => {
    expect((await gw.api('POST', '/v1/conversations', { body: { name: 'support-42' } })).status).toBe(201);
    const token = await gw.token('frank', 'user', { join: ['support-42'] });
    const page = await browser.newPage();
    await page.goto(`${gw.url}/call#token=${token}&conversation=support-42`);
    await page.locator('#connection[data-state="connected"]').waitFor();
    await page.locator('#events li[data-event-type="member:joined"]', { hasText: 'frank' }).waitFor();
    expect(page.url()).toBe(`${gw.url}/call`);
  });

  it('/call without a token says the application must link to it', async () => {
    const page = await browser.newPage();
    await page.goto(`${gw.url}/call`);
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('#token=');
  });

  it('/console signs in from #token=… with an operator token, and refuses a user token', async () => {
    const page = await browser.newPage();
    await page.goto(`${gw.url}/console#token=${await gw.token('olga', 'operator')}`);
    await page
      .locator('#connection')
      .filter({ hasText: /^connected$/ })
      .waitFor();
    expect(page.url()).toBe(`${gw.url}/console`);

    const refused = await browser.newPage();
    await refused.goto(`${gw.url}/console#token=${await gw.token('frank')}`);
    await expect.poll(() => refused.locator('#login-error').textContent()).toMatch(/Forbidden|operator/i);
  });
});
