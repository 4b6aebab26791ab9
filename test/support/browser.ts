/**
 * A real browser for the end-to-end tests: Debian's Chromium driven by playwright-core, headless,
 * with fake media devices whose microphone plays a WAV file (a sine tone, so that what each page
 * hears can be told apart by frequency).
 */
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import wavefile from 'wavefile';
import { sine } from './tone.js';
import { peerMissing } from './requiredPeers.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return peerMissing(`${CHROMIUM} not found (Debian package chromium; .ci/run installs it)`);
  }
}

/** Writes a 48 kHz mono WAV holding `seconds` of a sine tone (Chromium loops the file). */
export function writeToneWav(path: string, frequency: number, amplitude = 8000, seconds = 5): string {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, 48_000, '16', sine(frequency, amplitude, 48_000 * seconds));
  writeFileSync(path, wav.toBuffer());
  return path;
}

/** Launches a headless Chromium whose fake microphone plays `micWav` (each browser has one microphone). */
export async function launchChromium(micWav?: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...(micWav ? [`--use-file-for-fake-audio-capture=${micWav}`] : []),
      '--autoplay-policy=no-user-gesture-required',
      // The gateway's ICE candidates are on loopback; keep WebRTC there.
      '--force-webrtc-ip-handling-policy=default',
    ],
  });
}

/** Where the browser tests leave their screenshots (a CI artifact folder, ignored by git). */
export function artifactDir(): string {
  const dir = join(process.cwd(), 'test-artifacts', 'browser');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Amplitude of each frequency in what the page's `<audio selector>` element plays (its srcObject),
 * in 16-bit sample units, measured in the page by an AnalyserNode over the last ~170 ms.
 */
export async function heardLevels(page: Page, freqs: number[], selector = '#remote-audio'): Promise<number[]> {
  return page.evaluate(
    ({ freqs, selector }) => {
      // Runs in the page; the test's own TypeScript has no DOM types, hence `any`.
      const w = globalThis as any;
      const el = w.document.querySelector(selector);
      if (!el?.srcObject) return freqs.map(() => 0);
      if (w.__legwayProbe?.stream !== el.srcObject) {
        // One analyser per stream: a new call gives the element a new stream.
        const ctx = new w.AudioContext();
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 8192;
        ctx.createMediaStreamSource(el.srcObject).connect(analyser);
        w.__legwayProbe = { stream: el.srcObject, ctx, analyser };
      }
      const { ctx, analyser } = w.__legwayProbe;
      const buf = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(buf);
      return freqs.map((f: number) => {
        // Goertzel with a Hann window, scaled so that a sine of amplitude A (in 16-bit units) gives A.
        const coeff = 2 * Math.cos((2 * Math.PI * f) / ctx.sampleRate);
        let s1 = 0;
        let s2 = 0;
        let windowSum = 0;
        for (let i = 0; i < buf.length; i++) {
          const h = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / buf.length);
          windowSum += h;
          const s0 = buf[i]! * h + coeff * s1 - s2;
          s2 = s1;
          s1 = s0;
        }
        return (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2)) * 32768) / windowSum;
      });
    },
    { freqs, selector },
  );
}

/** Polls `check` until it holds; fails with `what` and the last value seen. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Opens `/call` and signs in through the development login, into `conversation`. */
export async function joinOnCallPage(page: Page, gatewayUrl: string, name: string, conversation: string): Promise<void> {
  await page.goto(`${gatewayUrl}/call`);
  await page.getByLabel('Your name', { exact: true }).fill(name);
  await page.getByLabel('Conversation', { exact: true }).fill(conversation);
  await page.locator('#join').click();
  await page.locator('#connection[data-state="connected"]').waitFor();
}

/** Presses Call on a signed-in call page (with video when asked) and waits until media flows. */
export async function startCallOnPage(page: Page, options: { video?: boolean } = {}): Promise<void> {
  if (options.video) await page.locator('#with-video').check();
  await page.locator('#call').click();
  await page.locator('#call-status[data-phase="connected"]').waitFor({ timeout: 20_000 });
}

/**
 * Opens `/console` signed in as operator `name`, as production does it: the application (here the
 * test) mints an operator token and links to `/console#token=…` (the development login never
 * mints operator tokens).
 */
export async function signInToConsole(
  page: Page,
  gateway: { url: string; token: (sub: string, role: 'operator') => Promise<string> },
  name: string,
): Promise<void> {
  await page.goto(`${gateway.url}/console#token=${await gateway.token(name, 'operator')}`);
  await page
    .locator('#connection')
    .filter({ hasText: /^connected$/ })
    .waitFor();
}
