/**
 * The client library in a real browser survives a gateway restart: the `/call` page (which joins
 * with the client library) loses its connection when the gateway shuts down, reconnects by itself
 * when a new gateway listens on the same port and data, joins again and replays the events it
 * missed, each once: the page's event list ends up holding every event id of the conversation,
 * without gaps and without duplicates. The operator console, watching, reconnects and watches again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { chromiumMissing, joinOnCallPage, launchChromium, signInToConsole } from '../support/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`browser reconnect test skipped: ${missing}`);

const ROOM = 'reconnect-room';
const BACKEND: Principal = { role: 'application', sub: 'backend', join: [] };

/** The event ids the page lists, in page order. */
async function listedIds(page: Page): Promise<number[]> {
  return page.locator('#events li[data-event-id]').evaluateAll((items) => items.map((li) => Number(li.getAttribute('data-event-id'))));
}

describe.skipIf(missing !== undefined)('browser: the client library across a gateway restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'legway-restart-'));
  let gw: TestGateway | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reconnects after the gateway restarts and replays the events it missed, none twice', async () => {
    gw = await startGateway({ devSecret: true, devLogin: true, dataDir });
    const port = Number(new URL(gw.url).port);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await joinOnCallPage(page, gw.url, 'carol', ROOM);
    await page.getByLabel('Message', { exact: true }).fill('before the restart');
    await page.locator('#send').click();
    await page.locator('#events li[data-event-type="text"]', { hasText: 'before the restart' }).waitFor();
    // An operator's console watches too; after the restart it must watch again by itself.
    const console_ = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInToConsole(console_, gw, 'olivia');
    const conversationId = gw.app.services.conversations.resolve(ROOM)?.id;
    expect(conversationId).toMatch(/^CON-/);
    const memberId = await page.evaluate(() => (globalThis as any).legwayCall.client.joined[0].member_id as string);

    await gw.close();
    gw = undefined;
    await page.locator('#connection[data-state="reconnecting"]').waitFor();

    // The new gateway logs two texts before it listens: the page can only learn of them by replay.
    gw = await startGateway({
      devSecret: true,
      devLogin: true,
      dataDir,
      port,
      beforeListen: (app) => {
        app.services.events.post(conversationId!, { type: 'text', from: memberId, body: { text: 'missed while away 1' } }, BACKEND);
        app.services.events.post(conversationId!, { type: 'text', from: memberId, body: { text: 'missed while away 2' } }, BACKEND);
      },
    });
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    await page.locator('#events li[data-event-type="text"]', { hasText: 'missed while away 2' }).waitFor();

    // And live events flow again after the replay.
    const live = await gw.api('POST', `/v1/conversations/${conversationId}/events`, {
      body: { type: 'text', from: memberId, body: { text: 'live after the restart' } },
    });
    expect(live.status).toBe(201);
    await page.locator('#events li[data-event-type="text"]', { hasText: 'live after the restart' }).waitFor();
    // The console renews its watch right after reconnecting: a text posted from then on reaches it.
    await console_
      .locator('#connection')
      .filter({ hasText: /^connected$/ })
      .waitFor();
    let seenByConsole = false;
    for (let attempt = 1; attempt <= 10 && !seenByConsole; attempt++) {
      const posted = await gw.api('POST', `/v1/conversations/${conversationId}/events`, {
        body: { type: 'text', from: memberId, body: { text: `to the console ${attempt}` } },
      });
      seenByConsole = await console_
        .locator(`#events li[data-event-type="text"][data-event-id="${posted.body.id}"]`)
        .waitFor({ timeout: 1000 })
        .then(
          () => true,
          () => false,
        );
    }
    expect(seenByConsole, 'the console to show a text posted after it reconnected').toBe(true);

    const last = gw.app.services.events.lastId(conversationId!);
    await page.locator(`#events li[data-event-id="${last}"]`).waitFor();
    const ids = await listedIds(page);
    expect(ids).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    for (const text of ['before the restart', 'missed while away 1', 'missed while away 2', 'live after the restart', 'to the console 1']) {
      await expect(page.locator('#events li[data-event-type="text"]', { hasText: text }).count(), text).resolves.toBe(1);
    }
  }, 90_000);
});
