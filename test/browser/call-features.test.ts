/**
 * The call page's other controls in Chromium, between two callers with camera and microphone
 * (Chromium's fake camera draws a moving test pattern): each page plays the other's video, and
 * "Stop video" stops it reaching the other page; a text typed on one page shows on the other; a
 * keypad press on one page is logged as `audio:dtmf` and shown on the other; and from the console
 * an operator records a caller and has text spoken to them, each action showing in its event stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { chromiumMissing, eventually, joinOnCallPage, launchChromium, signInToConsole, startCallOnPage, writeToneWav } from '../support/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`browser call feature tests skipped: ${missing}`);

const ROOM = 'features-room';

/** Frames the page's video of `legId` (another member's) presented during `ms`. */
async function framesOf(page: Page, legId: string, ms = 1000): Promise<number> {
  return page.evaluate(
    ({ legId, ms }) => {
      const video = (globalThis as any).document.querySelector(`#videos figure.tile[data-leg-id="${legId}"] video`);
      if (!video) return -1;
      const before = video.getVideoPlaybackQuality().totalVideoFrames as number;
      return new Promise<number>((resolve) => setTimeout(() => resolve((video.getVideoPlaybackQuality().totalVideoFrames as number) - before), ms));
    },
    { legId, ms },
  );
}

async function legIdOf(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as any).legwayCall.call.legId as string);
}

describe.skipIf(missing !== undefined)('browser: video, text, DTMF and console actions', () => {
  let gw: TestGateway;
  let dir = '';
  const browsers: Browser[] = [];
  let alice: Page;
  let bob: Page;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-features-'));
    gw = await startGateway({ media: true, devSecret: true, devLogin: true });
  }, 60_000);
  afterAll(async () => {
    for (const b of browsers.splice(0)) await b.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function caller(name: string, tone: number): Promise<Page> {
    const browser = await launchChromium(writeToneWav(join(dir, `${name}.wav`), tone));
    browsers.push(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await joinOnCallPage(page, gw.url, name, ROOM);
    await startCallOnPage(page, { video: true });
    return page;
  }

  it("each page plays the other's video; Stop video stops it reaching the other page, Start video brings it back", async () => {
    alice = await caller('alice', 440);
    bob = await caller('bob', 770);
    const aliceLeg = await legIdOf(alice);
    const bobLeg = await legIdOf(bob);

    await eventually(
      () => framesOf(bob, aliceLeg),
      (n) => n > 5,
      "bob's page to play alice's video",
    );
    await eventually(
      () => framesOf(alice, bobLeg),
      (n) => n > 5,
      "alice's page to play bob's video",
    );
    await expect.poll(() => bob.locator(`#videos figure.tile[data-leg-id="${aliceLeg}"] figcaption`).textContent()).toBe('alice');

    await alice.locator('#video').click();
    await expect.poll(() => alice.locator('#video').getAttribute('aria-pressed')).toBe('true');
    await eventually(
      () => framesOf(bob, aliceLeg),
      (n) => n === 0,
      "alice's video to stop on bob's page",
    );
    expect(await framesOf(alice, bobLeg)).toBeGreaterThan(5);

    await alice.locator('#video').click();
    await eventually(
      () => framesOf(bob, aliceLeg),
      (n) => n > 5,
      "alice's video to come back on bob's page",
    );
  }, 90_000);

  it("a text typed on alice's page and a key pressed on bob's keypad show on the other page", async () => {
    await alice.getByLabel('Message', { exact: true }).fill('can you see me?');
    await alice.locator('#send').click();
    await bob.locator('#events li[data-event-type="text"]', { hasText: 'can you see me?' }).waitFor();

    await bob.locator('#keypad button[data-digit="7"]').click();
    await alice.locator('#events li[data-event-type="audio:dtmf"]', { hasText: '7' }).waitFor();
  }, 30_000);

  it('from the console an operator records bob and has text spoken to him; the stream shows both', async () => {
    const browser = await launchChromium();
    browsers.push(browser);
    const console_ = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInToConsole(console_, gw, 'olivia');
    const row = console_.locator(`#legs tr[data-leg-id="${await legIdOf(bob)}"]`);
    await row.waitFor();

    await row.locator('button[data-action="record"]').click();
    await expect.poll(() => row.locator('button[data-action="record"]').getAttribute('aria-pressed')).toBe('true');
    await console_.locator('#events li[data-event-type="audio:record"]').waitFor();
    await row.locator('button[data-action="record"]').click();
    await console_.locator('#events li[data-event-type="audio:record:done"]').waitFor({ timeout: 15_000 });
    await expect.poll(() => row.locator('button[data-action="record"]').getAttribute('aria-pressed')).toBe('false');

    await row.locator('button[data-action="say"]').click();
    await console_.locator('#say-text').fill('Your call is being recorded');
    await console_.locator('#say-confirm').click();
    await console_.locator('#events li[data-event-type="audio:say"]', { hasText: 'Your call is being recorded' }).waitFor();
    await console_.locator('#events li[data-event-type="audio:say:done"]').waitFor({ timeout: 20_000 });
  }, 60_000);
});
