import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Wavefile from 'wavefile';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { LegwayError, type ErrorCode } from '../../src/domain/errors.js';
import { MediaLoader } from '../../src/media/sources/mediaLoader.js';
import { SpeechSynth } from '../../src/media/sources/speech.js';
import { decodeWav, encodeWav } from '../../src/media/sources/wav.js';
import { rms, sine, toneLevel } from '../support/tone.js';

const { WaveFile } = createRequire(import.meta.url)('wavefile') as typeof Wavefile;

/** The error a promise or call ends with; fails the test if it succeeds or throws something else. */
async function refusal(action: Promise<unknown> | (() => unknown)): Promise<LegwayError> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    if (err instanceof LegwayError) return err;
    throw err;
  }
  throw new Error('expected a LegwayError, but it succeeded');
}

async function expectRefused(action: Promise<unknown> | (() => unknown), code: ErrorCode, message?: RegExp): Promise<LegwayError> {
  const err = await refusal(action);
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

/** A 1 kHz sine of `seconds` at `rate`, as floats in -1..1 with peak `amplitude`. */
function toneFloats(rate: number, seconds: number, amplitude: number): Float64Array {
  const n = Math.round(rate * seconds);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin((2 * Math.PI * 1000 * i) / rate);
  return out;
}

/** The floats in wavefile's sample convention for a bit depth. */
function scaled(samples: Float64Array, bitDepth: string): Float64Array {
  switch (bitDepth) {
    case '8':
      return samples.map((x) => Math.round(128 + x * 127));
    case '16':
      return samples.map((x) => Math.round(x * 32767));
    case '24':
      return samples.map((x) => Math.round(x * 8388607));
    case '32':
      return samples.map((x) => Math.round(x * 2147483647));
    default:
      return samples;
  }
}

function makeWav(rate: number, bitDepth: string, channels: Float64Array[]): Uint8Array {
  const file = new WaveFile();
  const data = channels.map((c) => scaled(c, bitDepth));
  file.fromScratch(data.length, rate, bitDepth, data.length === 1 ? data[0]! : data);
  return file.toBuffer();
}

/** The middle of the decoded audio, away from the resampler's edges. */
function middle(samples: Int16Array): Int16Array {
  const margin = Math.floor(samples.length / 5);
  return samples.subarray(margin, samples.length - margin);
}

/** The 1 kHz tone is there at `amplitude` (±5 %), and 2 kHz is not (below `leak` of it). */
function expectTone(samples: Int16Array, amplitude: number, leak = 0.01): void {
  const level = toneLevel(middle(samples), 1000);
  expect(level).toBeGreaterThan(amplitude * 0.95);
  expect(level).toBeLessThan(amplitude * 1.05);
  expect(toneLevel(middle(samples), 2000)).toBeLessThan(amplitude * leak);
}

describe('decodeWav', () => {
  const seconds = 0.5;
  const expected = seconds * 48_000;

  for (const rate of [8000, 16_000, 44_100, 48_000]) {
    for (const bitDepth of ['8', '16', '24', '32f']) {
      it(`decodes ${bitDepth}-bit mono at ${rate} Hz to 48 kHz with the tone intact`, () => {
        const out = decodeWav(makeWav(rate, bitDepth, [toneFloats(rate, seconds, 0.5)]), 'tone.wav');
        expect(Math.abs(out.length - expected)).toBeLessThanOrEqual(4);
        expectTone(out, 0.5 * 32767);
      });
    }
  }

  for (const rate of [8000, 22_050, 44_100, 48_000]) {
    it(`downmixes stereo at ${rate} Hz by averaging the channels`, () => {
      const left = toneFloats(rate, seconds, 0.5);
      const right = new Float64Array(left.length);
      const out = decodeWav(makeWav(rate, '16', [left, right]), 'stereo.wav');
      expect(Math.abs(out.length - expected)).toBeLessThanOrEqual(4);
      expectTone(out, 0.25 * 32767);
    });
  }

  it('decodes 32-bit integer PCM and 24-bit stereo', () => {
    expectTone(decodeWav(makeWav(16_000, '32', [toneFloats(16_000, seconds, 0.5)]), 'a.wav'), 0.5 * 32767);
    const tone = toneFloats(44_100, seconds, 0.5);
    expectTone(decodeWav(makeWav(44_100, '24', [tone, tone]), 'b.wav'), 0.5 * 32767);
  });

  it('decodes µ-law and A-law (G.711) WAVs', () => {
    for (const encode of ['toMuLaw', 'toALaw'] as const) {
      const file = new WaveFile(makeWav(8000, '16', [toneFloats(8000, seconds, 0.5)]));
      file[encode]();
      const out = decodeWav(file.toBuffer(), 'g711.wav');
      expect(Math.abs(out.length - expected)).toBeLessThanOrEqual(4);
      // G.711's companding noise is about -38 dB: allow 2 % at 2 kHz.
      expectTone(out, 0.5 * 32767, 0.02);
    }
  });

  it('decodes WAVE_FORMAT_EXTENSIBLE PCM', () => {
    const plain = encodeWav(sine(1000, 16_000, 8000, 16_000), 16_000);
    const fmt = new Uint8Array(40);
    const view = new DataView(fmt.buffer);
    view.setUint16(0, 0xfffe, true);
    view.setUint16(2, 1, true);
    view.setUint32(4, 16_000, true);
    view.setUint32(8, 32_000, true);
    view.setUint16(12, 2, true);
    view.setUint16(14, 16, true);
    view.setUint16(16, 22, true);
    view.setUint16(18, 16, true);
    view.setUint32(20, 4, true);
    fmt.set([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 24);
    const audio = plain.subarray(44);
    const file = riff([
      ['fmt ', fmt],
      ['data', audio],
    ]);
    const out = decodeWav(file, 'ext.wav');
    expect(Math.abs(out.length - 24_000)).toBeLessThanOrEqual(4);
    expectTone(out, 16_000);
  });

  it('round-trips encodeWav at 48 kHz sample for sample', () => {
    const samples = sine(1000, 12_000, 4800);
    expect(decodeWav(encodeWav(samples, 48_000), 'x.wav')).toEqual(samples);
  });

  it('takes what a streamed WAV holds when its data size is a placeholder, and cuts to whole frames', () => {
    const wav = new Uint8Array(encodeWav(sine(1000, 8000, 4800), 48_000));
    new DataView(wav.buffer).setUint32(40, 0x7ffff000, true);
    expect(decodeWav(wav, 'stream.wav')).toHaveLength(4800);
    expect(decodeWav(wav.subarray(0, wav.length - 1), 'cut.wav')).toHaveLength(4799);
  });

  it('ignores metadata chunks, even one whose counts would keep a parser busy for minutes', () => {
    const plain = encodeWav(sine(1000, 8000, 4800), 48_000);
    const cue = new Uint8Array(4);
    new DataView(cue.buffer).setUint32(0, 0x7fffffff, true);
    const file = riff([
      ['fmt ', plain.subarray(20, 36)],
      ['cue ', cue],
      ['LIST', new Uint8Array(4)],
      ['data', plain.subarray(44)],
    ]);
    const started = performance.now();
    expect(decodeWav(file, 'cue.wav')).toHaveLength(4800);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('returns no samples for a WAV without audio', () => {
    expect(decodeWav(encodeWav(new Int16Array(0), 8000), 'empty.wav')).toHaveLength(0);
  });

  it('refuses garbage, other containers and compressed formats as UnsupportedMediaType', async () => {
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) & 0xff);
    await expectRefused(() => decodeWav(random, 'noise.bin'), 'UnsupportedMediaType', /noise\.bin is not a WAV file/);
    await expectRefused(() => decodeWav(new Uint8Array(0), 'empty.bin'), 'UnsupportedMediaType');
    await expectRefused(() => decodeWav(new TextEncoder().encode('RIFF'), 'short.wav'), 'UnsupportedMediaType');
    const mp3 = new Uint8Array(2048);
    mp3.set([0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfb, 0x90, 0x64]);
    await expectRefused(() => decodeWav(mp3, 'song.mp3'), 'UnsupportedMediaType', /not a WAV file/);

    const mp3InWav = new Uint8Array(makeWav(8000, '16', [toneFloats(8000, 0.1, 0.5)]));
    new DataView(mp3InWav.buffer).setUint16(20, 85, true);
    await expectRefused(() => decodeWav(mp3InWav, 'mp3.wav'), 'UnsupportedMediaType', /MP3/);

    const adpcm = new WaveFile(makeWav(8000, '16', [toneFloats(8000, 0.1, 0.5)]));
    adpcm.toIMAADPCM();
    await expectRefused(() => decodeWav(adpcm.toBuffer(), 'adpcm.wav'), 'UnsupportedMediaType', /IMA ADPCM/);

    const tone = toneFloats(8000, 0.1, 0.5);
    await expectRefused(() => decodeWav(makeWav(8000, '16', [tone, tone, tone]), 'three.wav'), 'UnsupportedMediaType', /3 channels/);
    await expectRefused(() => decodeWav(makeWav(4000, '16', [tone]), 'slow.wav'), 'UnsupportedMediaType', /sample rate/);
    const odd = new Uint8Array(makeWav(8000, '16', [tone]));
    new DataView(odd.buffer).setUint16(34, 12, true);
    await expectRefused(() => decodeWav(odd, 'odd.wav'), 'UnsupportedMediaType', /12-bit/);

    const noData = riff([['fmt ', mp3InWav.subarray(20, 36)]]);
    await expectRefused(() => decodeWav(noData, 'nodata.wav'), 'UnsupportedMediaType', /no audio data/);
    const rifx = new Uint8Array(makeWav(8000, '16', [tone]));
    rifx.set([0x52, 0x49, 0x46, 0x58], 0);
    await expectRefused(() => decodeWav(rifx, 'rifx.wav'), 'UnsupportedMediaType', /RIFX/);
  });

  it('refuses audio longer than maxSeconds before decoding it', async () => {
    const wav = encodeWav(new Int16Array(16_000 * 3), 16_000);
    expect(decodeWav(wav, 'three.wav', { maxSeconds: 3 })).toHaveLength(48_000 * 3);
    await expectRefused(() => decodeWav(wav, 'three.wav', { maxSeconds: 2 }), 'PayloadTooLarge', /three\.wav is 3 s long/);
  });
});

/** A RIFF WAVE file of the given chunks. */
function riff(chunks: [string, Uint8Array][]): Uint8Array {
  const size = chunks.reduce((n, [, body]) => n + 8 + body.length + (body.length & 1), 4);
  const out = new Uint8Array(8 + size);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode('RIFF'), 0);
  view.setUint32(4, size, true);
  out.set(new TextEncoder().encode('WAVE'), 8);
  let at = 12;
  for (const [id, body] of chunks) {
    out.set(new TextEncoder().encode(id), at);
    view.setUint32(at + 4, body.length, true);
    out.set(body, at + 8);
    at += 8 + body.length + (body.length & 1);
  }
  return out;
}

describe('MediaLoader', () => {
  const MAX_BYTES = 256 * 1024;
  let dir: string;
  let mediaDir: string;
  let toneWav: Uint8Array;
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  const streamClosedEarly: boolean[] = [];
  const loaders: MediaLoader[] = [];

  function loader(options: Partial<ConstructorParameters<typeof MediaLoader>[0]> = {}): MediaLoader {
    const made = new MediaLoader({ mediaDir, maxBytes: MAX_BYTES, timeoutMs: 5000, allowPrivateUrls: true, ...options });
    loaders.push(made);
    return made;
  }

  function route(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case '/tone.wav':
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': toneWav.length });
        res.end(toneWav);
        return;
      case '/redirect':
        res.writeHead(302, { location: '/tone.wav' });
        res.end();
        return;
      case '/big-declared':
        // Declares too much, then sends nothing: only an early check can answer before the deadline.
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': MAX_BYTES + 1 });
        res.flushHeaders();
        return;
      case '/big-stream': {
        // No length, and no end: only counting what arrives can stop it.
        res.writeHead(200, { 'content-type': 'audio/wav' });
        const chunk = Buffer.alloc(16 * 1024, 1);
        const timer = setInterval(() => res.write(chunk), 5);
        res.on('close', () => {
          clearInterval(timer);
          streamClosedEarly.push(!res.writableEnded);
        });
        return;
      }
      case '/stall':
        res.writeHead(200, { 'content-type': 'audio/wav' });
        res.write(toneWav.subarray(0, 64));
        return;
      case '/silent':
        return;
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>not audio</title>');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-media-'));
    mediaDir = join(dir, 'media');
    mkdirSync(join(mediaDir, 'sub'), { recursive: true });
    mkdirSync(join(mediaDir, 'folder'));
    toneWav = encodeWav(sine(1000, 10_000, 8000, 16_000), 16_000);
    writeFileSync(join(mediaDir, 'tone.wav'), toneWav);
    writeFileSync(join(mediaDir, 'sub', 'inner.wav'), toneWav);
    // Valid audio just outside the folder: refusing to reach it shows nothing was read.
    writeFileSync(join(dir, 'x.wav'), toneWav);
    symlinkSync(join(dir, 'x.wav'), join(mediaDir, 'out.wav'));
    symlinkSync(dir, join(mediaDir, 'up'));
    symlinkSync('tone.wav', join(mediaDir, 'in.wav'));
    // 3 GiB, sparse: reading it would fail in another way (or take the disk), so a clean
    // PayloadTooLarge shows it was judged by its size alone.
    const fd = openSync(join(mediaDir, 'huge.wav'), 'w');
    ftruncateSync(fd, 3 * 1024 * 1024 * 1024);
    closeSync(fd);

    server = createServer(route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await Promise.all(loaders.splice(0).map((l) => l.close()));
    server.closeAllConnections();
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a WAV from the media folder by name, in sub-folders and through links that stay inside', async () => {
    const media = loader();
    for (const name of ['tone.wav', 'sub/inner.wav', './tone.wav', 'in.wav']) {
      const out = await media.load(name);
      expect(Math.abs(out.length - 24_000)).toBeLessThanOrEqual(4);
      expectTone(out, 10_000);
    }
  });

  it('refuses names that leave the media folder, before reading anything', async () => {
    const media = loader();
    const cases: [string, ErrorCode][] = [
      ['../x.wav', 'BadRequest'],
      ['/etc/passwd', 'BadRequest'],
      [join(dir, 'x.wav'), 'BadRequest'],
      ['a/../../x.wav', 'BadRequest'],
      ['sub/../../x.wav', 'BadRequest'],
      ['..\\x.wav', 'BadRequest'],
      ['tone.wav\0.txt', 'BadRequest'],
      ['', 'BadRequest'],
      ['out.wav', 'Forbidden'],
      ['up/x.wav', 'Forbidden'],
    ];
    for (const [name, code] of cases) {
      const err = await expectRefused(media.load(name), code);
      // The message may repeat the name given, and nothing more of the file system.
      expect(err.message.replace(JSON.stringify(name), '')).not.toContain(dir);
    }
  });

  it('refuses a folder, a missing file, a file too large and a FIFO with their codes, naming only the given name', async () => {
    const media = loader({ maxBytes: 1024 * 1024 });
    await expectRefused(media.load('folder'), 'BadRequest', /"folder" is a folder/);
    await expectRefused(media.load('.'), 'BadRequest', /is a folder/);
    const missing = await expectRefused(media.load('nope/missing.wav'), 'NotFound', /media file "nope\/missing\.wav" not found/);
    expect(missing.message).not.toContain(dir);
    const started = performance.now();
    await expectRefused(media.load('huge.wav'), 'PayloadTooLarge', /huge\.wav" is 3221225472 bytes/);
    expect(performance.now() - started).toBeLessThan(1000);
    await expectRefused(loader({ maxBytes: 1000 }).load('tone.wav'), 'PayloadTooLarge');
  });

  it.skipIf(spawnSync('mkfifo', ['--version']).status !== 0)('refuses a FIFO without opening it (opening would block)', async () => {
    spawnSync('mkfifo', [join(mediaDir, 'pipe.wav')]);
    await expectRefused(loader().load('pipe.wav'), 'BadRequest', /not a regular file/);
  });

  it.skipIf(process.getuid?.() === 0)('reports an unreadable file as Forbidden (not run as root, who reads everything)', async () => {
    writeFileSync(join(mediaDir, 'secret.wav'), toneWav);
    chmodSync(join(mediaDir, 'secret.wav'), 0o000);
    await expectRefused(loader().load('secret.wav'), 'Forbidden', /cannot be read/);
  });

  it('refuses a media folder that does not exist without naming it', async () => {
    const err = await expectRefused(loader({ mediaDir: join(dir, 'gone') }).load('tone.wav'), 'Unavailable');
    expect(err.message).not.toContain(dir);
  });

  it('fetches a WAV over HTTP', async () => {
    const out = await loader().load(`${base}/tone.wav`);
    expect(Math.abs(out.length - 24_000)).toBeLessThanOrEqual(4);
    expectTone(out, 10_000);
  });

  it('refuses error statuses and redirects as BadRequest, following no redirect', async () => {
    const media = loader();
    await expectRefused(media.load(`${base}/missing.wav`), 'BadRequest', /answered HTTP 404/);
    const before = hits.get('/tone.wav') ?? 0;
    await expectRefused(media.load(`${base}/redirect`), 'BadRequest', /HTTP 302 \(redirects are not followed\)/);
    expect(hits.get('/tone.wav') ?? 0).toBe(before);
  });

  it('refuses a body larger than maxBytes, declared or streamed, without waiting for the rest', async () => {
    const media = loader({ timeoutMs: 10_000 });
    const started = performance.now();
    await expectRefused(media.load(`${base}/big-declared`), 'PayloadTooLarge', /262145 bytes/);
    await expectRefused(media.load(`${base}/big-stream`), 'PayloadTooLarge', /larger than 262144 bytes/);
    expect(performance.now() - started).toBeLessThan(5000);
    await expect.poll(() => streamClosedEarly.length).toBe(1);
    expect(streamClosedEarly[0]).toBe(true);
  });

  it('gives up on a server that stalls, after headers or before them, as Unavailable', async () => {
    const media = loader({ timeoutMs: 300 });
    await expectRefused(media.load(`${base}/stall`), 'Unavailable', /timed out after 300 ms/);
    await expectRefused(media.load(`${base}/silent`), 'Unavailable', /timed out after 300 ms/);
  });

  it('decodes what it fetched like a file: a web page instead of audio is UnsupportedMediaType', async () => {
    await expectRefused(loader().load(`${base}/page.html`), 'UnsupportedMediaType', /is not a WAV file/);
  });

  it('refuses other URL schemes and URLs with credentials', async () => {
    const media = loader();
    for (const ref of ['ftp://x', 'file:///etc/passwd', 'data:audio/wav;base64,UklGRg==', 'gopher://x/']) {
      await expectRefused(media.load(ref), 'BadRequest', /http or https/);
    }
    await expectRefused(media.load(`http://user:pw@127.0.0.1:1/tone.wav`), 'BadRequest', /credentials/);
  });

  it('refuses loopback and private addresses unless allowed, without sending a request', async () => {
    const media = loader({ allowPrivateUrls: false });
    const port = (server.address() as AddressInfo).port;
    const before = hits.get('/tone.wav') ?? 0;
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '169.254.169.254', '10.1.2.3', '[::ffff:127.0.0.1]']) {
      await expectRefused(media.load(`http://${host}:${port}/tone.wav`), 'Forbidden', /private or local address/);
    }
    expect(hits.get('/tone.wav') ?? 0).toBe(before);
  });
});

const ESPEAK = 'espeak-ng';
const haveEspeak = await SpeechSynth.available(ESPEAK);
if (!haveEspeak) console.warn(`SpeechSynth tests skipped: ${ESPEAK} is not installed (apt-get install espeak-ng)`);

describe('SpeechSynth', () => {
  const synth = (options: { maxTextLength?: number; timeoutMs?: number; binary?: string; maxOutputBytes?: number } = {}): SpeechSynth =>
    new SpeechSynth({ binary: ESPEAK, timeoutMs: 10_000, maxTextLength: 2000, ...options });

  it('reports a binary that does not exist as Unavailable', async () => {
    expect(await SpeechSynth.available('/nonexistent/espeak-ng')).toBe(false);
    await expectRefused(synth({ binary: '/nonexistent/espeak-ng' }).synth({ text: 'hello' }), 'Unavailable', /espeak-ng not installed/);
  });

  it('validates text, language and rate before running anything', async () => {
    const tts = synth({ binary: '/nonexistent/espeak-ng', maxTextLength: 20 });
    await expectRefused(tts.synth({ text: 'x'.repeat(21) }), 'PayloadTooLarge', /at most 20/);
    await expectRefused(tts.synth({ text: '' }), 'BadRequest', /empty/);
    await expectRefused(tts.synth({ text: '  \n ' }), 'BadRequest', /empty/);
    await expectRefused(tts.synth({ text: 'a\0b' }), 'BadRequest', /NUL/);
    for (const language of ['-v', 'en; rm -rf /', '--help', 'EN', 'e', 'en us', '../../etc/passwd', 'en+', 'x'.repeat(50)]) {
      await expectRefused(tts.synth({ text: 'hi', language }), 'BadRequest', /not a valid voice name/);
    }
    for (const rate of [79, 451, Number.NaN, Infinity]) {
      await expectRefused(tts.synth({ text: 'hi', rate }), 'BadRequest', /80–450/);
    }
  });

  it('kills a synthesis that overruns its deadline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'legway-tts-'));
    try {
      const slow = join(dir, 'slow-tts');
      writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n');
      chmodSync(slow, 0o755);
      const started = performance.now();
      await expectRefused(synth({ binary: slow, timeoutMs: 200 }).synth({ text: 'hello' }), 'Unavailable', /timed out after 200 ms/);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.skipIf(!haveEspeak)('with espeak-ng', () => {
    it('speaks "hello world" as at least 0.3 s of 48 kHz audio with speech energy', async () => {
      const out = await synth().synth({ text: 'hello world' });
      expect(out.length).toBeGreaterThan(0.3 * 48_000);
      expect(rms(out)).toBeGreaterThan(500);
    });

    it('speaks text that looks like an option instead of obeying it', async () => {
      const out = await synth().synth({ text: '--help -v xx --stdout' });
      expect(out.length).toBeGreaterThan(0.3 * 48_000);
      expect(rms(out)).toBeGreaterThan(500);
    });

    it('honours language, voice variant and rate', async () => {
      const slow = await synth().synth({ text: 'hello world', rate: 80 });
      const fast = await synth().synth({ text: 'hello world', rate: 400 });
      expect(slow.length).toBeGreaterThan(fast.length * 2);
      expect(rms(await synth().synth({ text: 'guten Tag', language: 'de' }))).toBeGreaterThan(500);
      expect(rms(await synth().synth({ text: 'hello', language: 'en-us+f3' }))).toBeGreaterThan(500);
    });

    it('refuses a well-formed language espeak-ng does not have as BadRequest', async () => {
      await expectRefused(synth().synth({ text: 'hello', language: 'zz' }), 'BadRequest', /"zz" is not available/);
    });

    it('stops a child whose output passes the cap', async () => {
      await expectRefused(synth({ maxOutputBytes: 10_000 }).synth({ text: 'hello world, this is long enough' }), 'PayloadTooLarge');
    });
  });
});

describe('configuration of the audio sources', () => {
  it('has defaults and reads LEGWAY_MEDIA_* and LEGWAY_TTS_*', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'legway-sources-config-'));
    try {
      const defaults = loadConfig({ env: {}, cwd });
      expect(defaults.mediaMaxBytes).toBe(50 * 1024 * 1024);
      expect(defaults.mediaFetchTimeoutMs).toBe(10_000);
      expect(defaults.tts).toEqual({ binary: 'espeak-ng', timeoutMs: 10_000, maxTextLength: 2000 });
      const set = loadConfig({
        env: {
          LEGWAY_MEDIA_MAX_BYTES: '1048576',
          LEGWAY_MEDIA_FETCH_TIMEOUT_MS: '2500',
          LEGWAY_TTS_BINARY: '/opt/espeak-ng',
          LEGWAY_TTS_TIMEOUT_MS: '3000',
          LEGWAY_TTS_MAX_TEXT: '500',
        },
        cwd,
      });
      expect(set.mediaMaxBytes).toBe(1_048_576);
      expect(set.mediaFetchTimeoutMs).toBe(2500);
      expect(set.tts).toEqual({ binary: '/opt/espeak-ng', timeoutMs: 3000, maxTextLength: 500 });
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
