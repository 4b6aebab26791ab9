/**
 * The browser path end to end, in Debian's Chromium (playwright-core, headless, fake devices):
 * two callers join one conversation from the `/call` page with the development login, each with a
 * microphone playing its own tone; each page hears the other's tone (measured in the page by an
 * AnalyserNode on what its <audio> element plays) and not its own; a SIPp call routed into the
 * same conversation receives both tones as PCMU. Then an operator signs in to `/console` and clicks
 * mute on one caller's row: that caller's tone leaves what the other page and the SIP side hear,
 * the row shows it muted and `audio:mute:on` appears in the console's event stream. Screenshots of
 * both pages are written to test-artifacts/browser/.
 *
 * How the SIP side's audio is observed: see test/integration/sip-call.test.ts (RtpCapture).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipp, sippMissing, type StartedSipp } from '../sipp/sipp.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import {
  artifactDir,
  chromiumMissing,
  eventually,
  heardLevels,
  joinOnCallPage,
  launchChromium,
  signInToConsole,
  startCallOnPage,
  writeToneWav,
} from '../support/browser.js';
import { pcmuTonePcap } from '../support/pcap.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { toneLevel } from '../support/tone.js';

const missing = chromiumMissing() ?? sippMissing();
if (missing) console.warn(`browser end-to-end tests skipped: ${missing}`);

const ROOM = 'browser-room';
const ALICE_TONE = 440;
const BOB_TONE = 770;
const SIP_TONE = 1000;
// Of the 8000 each microphone plays: Chromium's audio processing (gain control, noise suppression)
// and Opus leave several hundred; what a page must not hear stays in the single digits.
const AUDIBLE = 250;
const SILENT = 60;
// The SIP side decodes PCMU at 8 kHz; the same tones arrive there at a few hundred as well.
const SIP_AUDIBLE = 150;
const SIP_SILENT = 40;

describe.skipIf(missing !== undefined)('browser: call page, SIP caller and operator console in one conversation', () => {
  let gw: TestGateway;
  let dir = '';
  const browsers: Browser[] = [];
  let alice: Page;
  let bob: Page;
  let console_: Page;
  let sipp: StartedSipp | undefined;
  let capture: RtpCapture | undefined;

  /** Levels of alice's and bob's tones in the last half second the SIP side received. */
  const sipHears = (): [number, number] => {
    const recent = capture!.recent(500);
    return [toneLevel(recent, ALICE_TONE, 8000), toneLevel(recent, BOB_TONE, 8000)];
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-browser-'));
    writeFileSync(join(dir, 'sip-tone.pcap'), pcmuTonePcap({ frequency: SIP_TONE, seconds: 60 }));
    gw = await startGateway({
      media: true,
      devSecret: true,
      devLogin: true,
      env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_ROUTES: `*=${ROOM}`, LEGWAY_SIP_TRUNKS: '127.0.0.1/32' },
    });
  }, 60_000);

  afterAll(async () => {
    for (const b of browsers.splice(0)) await b.close();
    await capture?.close();
    await gw.close();
    if (sipp) await sipp.finished;
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Opens /call in a browser whose microphone plays `tone`, signs in with the dev login and starts a call. */
  async function caller(name: string, tone: number): Promise<Page> {
    const browser = await launchChromium(writeToneWav(join(dir, `${name}.wav`), tone));
    browsers.push(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await joinOnCallPage(page, gw.url, name, ROOM);
    await startCallOnPage(page);
    return page;
  }

  it('two pages hear each other and a SIPp call in the conversation hears them both', async () => {
    // The operator signs in first, so that the console's stream holds the whole call.
    const browser = await launchChromium();
    browsers.push(browser);
    console_ = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signInToConsole(console_, gw, 'olivia');

    alice = await caller('alice', ALICE_TONE);
    bob = await caller('bob', BOB_TONE);

    const tones = [ALICE_TONE, BOB_TONE];
    await eventually(
      () => heardLevels(alice, tones),
      ([a, b]) => b! > AUDIBLE && a! < SILENT,
      "alice's page to hear bob's tone and not her own",
    );
    await eventually(
      () => heardLevels(bob, tones),
      ([a, b]) => a! > AUDIBLE && b! < SILENT,
      "bob's page to hear alice's tone and not his own",
    );

    // A SIP trunk calls in; the static route puts the call into the same conversation.
    capture = await RtpCapture.open();
    const sip = gw.app.sip;
    if (!sip) throw new Error('the gateway runs no SIP server');
    sipp = await startSipp({
      scenario: 'uac-invite-pcmu-rtp-expect-200.xml',
      transport: 'u1',
      target: `127.0.0.1:${sip.port}`,
      timeoutSeconds: 120,
      extra: ['-mi', '127.0.0.1', '-mp', String(capture.sippMediaPort), '-key', 'pcap', join(dir, 'sip-tone.pcap'), '-set', 'talk_ms', '90000'],
    });
    await eventually(
      () => Promise.resolve(sipHears()),
      ([a, b]) => a > SIP_AUDIBLE && b > SIP_AUDIBLE,
      "the SIP caller to receive alice's and bob's tones",
    );
    // And the callers hear the SIP side.
    await eventually(
      () => heardLevels(alice, [SIP_TONE]),
      ([s]) => s! > AUDIBLE,
      "alice's page to hear the SIP caller",
    );

    // The member list shows everyone in the call, bob speaking (his microphone plays a steady tone).
    await expect.poll(() => alice.locator('#members li[data-state="joined"]').count()).toBe(3);
    await expect.poll(() => alice.locator('#members li', { hasText: 'bob' }).locator('[data-speaking]').isVisible()).toBe(true);
    await alice.screenshot({ path: join(artifactDir(), 'call-page.png') });
  }, 120_000);

  it("clicking mute on alice's row in the console silences her for the others; the row and the event stream show it", async () => {
    const row = console_.locator('#legs tr[data-leg-id]').filter({ has: console_.locator('[data-field="member"]', { hasText: /^alice$/ }) });
    await row.waitFor();
    await expect.poll(() => console_.locator('#legs tr[data-leg-id]').count()).toBe(3);
    expect(await row.getAttribute('data-muted')).toBe('false');
    // Both callers' microphones play a steady tone: the console shows them speaking from the start.
    await expect.poll(() => row.getAttribute('data-speaking')).toBe('true');

    await row.locator('button[data-action="mute"]').click();

    await expect.poll(() => row.getAttribute('data-muted')).toBe('true');
    await expect.poll(() => row.locator('button[data-action="mute"]').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => row.locator('[data-field="muted"]').textContent()).toContain('muted');
    await console_.locator('#events li[data-event-type="audio:mute:on"]').first().waitFor();

    // Alice's tone is gone from what bob's page and the SIP caller hear; bob is still heard.
    await eventually(
      () => heardLevels(bob, [ALICE_TONE]),
      ([a]) => a! < SILENT,
      "bob's page to stop hearing muted alice",
    );
    await eventually(
      () => Promise.resolve(sipHears()),
      ([a, b]) => a < SIP_SILENT && b > SIP_AUDIBLE,
      'the SIP caller to stop receiving muted alice while still receiving bob',
    );
    await eventually(
      () => heardLevels(alice, [BOB_TONE]),
      ([b]) => b! > AUDIBLE,
      'muted alice to still hear bob',
    );
    // Alice's own page learns of the mute from the gateway, and bob's no longer shows her speaking.
    await expect.poll(() => alice.locator('#mute').getAttribute('aria-pressed')).toBe('true');
    const aliceOnBobsPage = bob.locator('#members li[data-state="joined"]', { hasText: 'alice' });
    await expect.poll(() => aliceOnBobsPage.locator('[data-muted]').isVisible()).toBe(true);
    await expect.poll(() => aliceOnBobsPage.locator('[data-speaking]').isVisible()).toBe(false);

    await console_.screenshot({ path: join(artifactDir(), 'console-page.png') });
    console.log(`screenshots: ${artifactDir()}/call-page.png, console-page.png`);
  }, 90_000);
});
