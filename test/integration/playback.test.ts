import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/media/sources/wav.js';
import { SpeechSynth } from '../../src/media/sources/speech.js';
import { createConversation, EventRecorder, request, startGateway, type ApiResponse, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { rms, sine, toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

/**
 * In-call audio over the REST API and the operator namespace (README, in-call audio: play, say, record,
 * DTMF), end to end: a real gateway with mediasoup, real libwebrtc peers, a real HTTP server for
 * `play` URLs. Every assertion about audio is made on what the peers decode (or on the recorded
 * file), never on how long something took.
 */

const RATE = 48_000;
/** 100 ms analysis windows. */
const WINDOW = RATE / 10;
const AUDIBLE = 1500; // of the 8000 the files and peers carry: well above codec and mixing loss
const SILENT = 300;
const MAX_BYTES = 200_000;
const FETCH_TIMEOUT_MS = 500;

const espeak = await SpeechSynth.available('espeak-ng');
if (!espeak) console.warn('playback.test.ts: espeak-ng is not installed (apt-get install espeak-ng): the `say` test is skipped');

/** `freq`'s level in each 100 ms window of `samples`. */
function levels(samples: ArrayLike<number>, freq: number): number[] {
  const out: number[] = [];
  for (let at = 0; at + WINDOW <= samples.length; at += WINDOW) out.push(toneLevel(Array.prototype.slice.call(samples, at, at + WINDOW) as number[], freq));
  return out;
}

/** Milliseconds of `samples` in which `freq` is clearly there. */
function audibleMs(samples: ArrayLike<number>, freq: number): number {
  return levels(samples, freq).filter((l) => l > AUDIBLE).length * 100;
}

/** The largest of per-window measurements; an empty list (no audio to judge) is an error, not a pass. */
function peak(values: number[]): number {
  if (values.length === 0) throw new Error('no audio window to measure');
  return Math.max(...values);
}

/** RMS of each 100 ms window. */
function windowRms(samples: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let at = 0; at + WINDOW <= samples.length; at += WINDOW) out.push(rms(Array.prototype.slice.call(samples, at, at + WINDOW) as number[]));
  return out;
}

const DTMF_ROWS = [697, 770, 852, 941];
const DTMF_COLUMNS = [1209, 1336, 1477, 1633];
const KEYPAD = ['123A', '456B', '789C', '*0#D'];

/**
 * The DTMF keys heard in `samples`, in order, each once per run (40 ms windows, 10 ms apart; a key
 * is one row and one column tone both clear and each well above the rest of its group).
 */
function dtmfKeys(samples: ArrayLike<number>): string[] {
  const keys: string[] = [];
  const size = RATE / 25;
  const step = RATE / 100;
  const strongest = (freqs: number[], frame: number[]) => {
    const ls = freqs.map((f) => toneLevel(frame, f));
    const best = ls.indexOf(Math.max(...ls));
    const others = ls.filter((_, i) => i !== best);
    return { index: best, level: ls[best] ?? 0, next: Math.max(...others) };
  };
  for (let at = 0; at + size <= samples.length; at += step) {
    const frame = Array.prototype.slice.call(samples, at, at + size) as number[];
    const row = strongest(DTMF_ROWS, frame);
    const col = strongest(DTMF_COLUMNS, frame);
    if (row.level < AUDIBLE || col.level < AUDIBLE || row.next > row.level / 4 || col.next > col.level / 4) continue;
    const key = KEYPAD[row.index]?.[col.index];
    if (key !== undefined && keys.at(-1) !== key) keys.push(key);
  }
  return keys;
}

/** The header fields of a canonical 44-byte-header PCM WAV and its samples. */
function parseWav(bytes: Buffer) {
  return {
    riff: bytes.toString('ascii', 0, 4),
    riffSize: bytes.readUInt32LE(4),
    wave: bytes.toString('ascii', 8, 12),
    format: bytes.readUInt16LE(20),
    channels: bytes.readUInt16LE(22),
    sampleRate: bytes.readUInt32LE(24),
    bitsPerSample: bytes.readUInt16LE(34),
    dataTag: bytes.toString('ascii', 36, 40),
    dataSize: bytes.readUInt32LE(40),
    samples: new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length)),
  };
}

/** Asserts a JSON problem response with the given status and stable code, with a message. */
function expectProblem(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
}

/** 1 kHz at 16 kHz (resampled to 48 kHz by the gateway), amplitude 8000. */
const toneWav = (seconds: number): Uint8Array => encodeWav(sine(1000, 8000, seconds * 16_000, 16_000), 16_000);

interface Joined {
  peer: TestPeer;
  seen: EventRecorder;
  socket: Socket;
}

/** A local HTTP server of `play` URLs: good, too large, too slow, not audio. */
async function mediaServer(): Promise<{ url: string; server: Server; close(): void }> {
  const good = toneWav(1);
  // A valid WAV header that promises 1.5 s at 48 kHz (144 044 bytes) … padded past the limit.
  const big = encodeWav(sine(1000, 8000, 150_000, RATE), RATE);
  const pending = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    pending.add(res);
    res.on('close', () => pending.delete(res));
    switch (req.url) {
      case '/tone.wav':
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': good.length }).end(good);
        return;
      case '/big.wav':
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': big.length }).end(big);
        return;
      case '/big-chunked.wav': {
        // No length announced: the limit must hold while the body streams in.
        res.writeHead(200, { 'content-type': 'audio/wav' });
        for (let at = 0; at < big.length; at += 16_384) res.write(big.subarray(at, at + 16_384));
        res.end();
        return;
      }
      case '/stall.wav':
        // Headers, then nothing.
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': good.length });
        res.flushHeaders();
        return;
      case '/trickle.wav': {
        // One byte every 100 ms: never idle long enough for a per-read timeout, never done.
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': good.length });
        let at = 0;
        const timer = setInterval(() => res.write(good.subarray(at, ++at)), 100);
        timers.add(timer);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/page.wav':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>not audio at all</body></html>');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close() {
      for (const t of timers) clearInterval(t);
      for (const res of pending) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('play, say, record and DTMF in calls', () => {
  let gw: TestGateway | undefined;
  let mediaDir = '';
  const peers: TestPeer[] = [];
  const cleanups: (() => void)[] = [];

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    for (const c of cleanups.splice(0)) c();
    await gw?.close();
    gw = undefined;
    if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
    mediaDir = '';
  });

  /** A media gateway with a fresh media folder holding `files`. */
  async function start(files: Record<string, Uint8Array | string> = {}): Promise<TestGateway> {
    mediaDir = mkdtempSync(join(tmpdir(), 'legway-media-'));
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(mediaDir, name), bytes);
    gw = await startGateway({
      media: true,
      env: {
        LEGWAY_MEDIA_DIR: mediaDir,
        LEGWAY_MEDIA_ALLOW_PRIVATE_URLS: 'true',
        LEGWAY_MEDIA_MAX_BYTES: String(MAX_BYTES),
        LEGWAY_MEDIA_FETCH_TIMEOUT_MS: String(FETCH_TIMEOUT_MS),
      },
    });
    return gw;
  }

  /** A user joined to `cid` with a connected WebRTC leg sending `tone` (0 = silence), audio flowing. */
  async function joinCall(g: TestGateway, cid: string, name: string, tone = 0): Promise<Joined> {
    await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await g.connect(await g.token(name));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    peer.tone(tone);
    expect(await peer.connect(cid)).toMatchObject({ ok: true });
    await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected', 10_000);
    await peer.receiveMore(300);
    return { peer, seen, socket };
  }

  async function events(g: TestGateway, cid: string, types: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100&event_type=${encodeURIComponent(types)}`);
    expect(res.status).toBe(200);
    return res.body._embedded.events as any[];
  }

  async function download(g: TestGateway, id: string): Promise<Buffer> {
    const res = await fetch(`${g.url}/v1/recordings/${id}`, { headers: { authorization: `Bearer ${g.appToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    return Buffer.from(await res.arrayBuffer());
  }

  /** Resolves once `freq` is clearly in the peer's last 100 ms (waiting on audio, not on a clock). */
  const hears = (peer: TestPeer, freq: number, what: string) =>
    waitUntil(() => toneLevel(peer.lastReceived(100), freq) > AUDIBLE, { timeoutMs: 10_000, intervalMs: 20, what });

  it('a WAV played to the conversation is heard by every peer, then audio:play:done; the tone is gone after', async () => {
    const g = await start({ 'tone.wav': toneWav(2) });
    const cid = await createConversation(g, 'play-all');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob', 440);
    const c = await joinCall(g, cid, 'carol');
    const all = [a, b, c];
    await Promise.all(all.map((p) => p.peer.receiveMore(300)));
    for (const { peer } of all) expect(peak(levels(peer.lastReceived(300), 1000))).toBeLessThan(SILENT);
    const marks = all.map(({ peer }) => peer.received.length);

    const res = await g.api('PUT', `/v1/conversations/${cid}/stream`, { body: { stream_url: ['tone.wav'] } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Stream started', uuid: cid, play_id: expect.any(String) });
    const playId = res.body.play_id as string;

    const done = await a.seen.waitFor((e) => e.type === 'audio:play:done' && e.body.play_id === playId, 10_000);
    expect(done).toMatchObject({ conversation_id: cid, body: { play_id: playId } });
    // What was still on its way when the player ended reaches the peers, then silence.
    await Promise.all(all.map((p) => p.peer.receiveMore(600)));

    for (const [i, { peer }] of all.entries()) {
      const since = peer.received.slice(marks[i]);
      // 2 s of 1 kHz, heard once (loop 1): most of its 2 s, never much more.
      expect(audibleMs(since, 1000)).toBeGreaterThanOrEqual(1500);
      expect(audibleMs(since, 1000)).toBeLessThanOrEqual(2600);
      expect(peak(levels(peer.lastReceived(300), 1000))).toBeLessThan(SILENT);
    }
    // B's own tone still reaches the others, and B never hears itself. (Judged per 100 ms window:
    // on a loaded machine one window of the last 300 ms can hold a gap, which the whole span's
    // level would count against a tone that is plainly there.)
    expect(peak(levels(a.peer.lastReceived(300), 440))).toBeGreaterThan(AUDIBLE);
    expect(toneLevel(b.peer.lastReceived(300), 440)).toBeLessThan(SILENT);

    const logged = await events(g, cid, 'audio:play*');
    expect(logged.map((e) => e.type)).toEqual(['audio:play', 'audio:play:done']);
    expect(logged[0].body).toEqual({ play_id: playId, stream_url: ['tone.wav'], loop: 1, level: 0 });
    expect(logged[1].body).toEqual({ play_id: playId });
    expect(logged[0].id).toBeLessThan(logged[1].id);
    // Every peer was pushed both, in order.
    for (const { seen } of all) {
      await seen.waitFor((e) => e.type === 'audio:play:done' && e.body.play_id === playId);
      const pushed = seen.events.filter((e) => e.type.startsWith('audio:play')).map((e) => e.type);
      expect(pushed).toEqual(['audio:play', 'audio:play:done']);
    }
  });

  it('a play with loop 0 goes on until DELETE /stream, which logs audio:play:stop (not done) and silences it', async () => {
    const g = await start({ 'short.wav': toneWav(0.5) });
    const cid = await createConversation(g, 'play-forever');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob');

    const res = await g.api('PUT', `/v1/conversations/${cid}/stream`, { body: { stream_url: 'short.wav', loop: 0, level: 0 } });
    expect(res.status).toBe(200);
    const playId = res.body.play_id as string;
    await hears(a.peer, 1000, 'A to hear the looped tone');
    // Well past the 0.5 s file: it loops.
    await a.peer.receiveMore(1200);
    expect(audibleMs(a.peer.lastReceived(1000), 1000)).toBeGreaterThanOrEqual(700);
    await b.peer.receiveMore(0);
    expect(audibleMs(b.peer.lastReceived(1000), 1000)).toBeGreaterThanOrEqual(700);

    const stop = await g.api('DELETE', `/v1/conversations/${cid}/stream`);
    expect(stop.status).toBe(200);
    expect(stop.body).toEqual({ message: 'Stream stopped', uuid: cid, stopped: [playId] });
    await a.seen.waitFor((e) => e.type === 'audio:play:stop' && e.body.play_id === playId, 5000);
    await Promise.all([a.peer.receiveMore(600), b.peer.receiveMore(600)]);
    for (const { peer } of [a, b]) expect(peak(levels(peer.lastReceived(300), 1000))).toBeLessThan(SILENT);

    const logged = await events(g, cid, 'audio:play*');
    expect(logged.map((e) => e.type)).toEqual(['audio:play', 'audio:play:stop']);
    expect(logged[0].body).toMatchObject({ play_id: playId, loop: 0 });
    expect(logged[1].body).toEqual({ play_id: playId });
    // Nothing left to stop.
    expectProblem(await g.api('DELETE', `/v1/conversations/${cid}/stream`), 404, 'NotFound');
  });

  it('a play to one leg (PUT /v1/legs/:id/stream) is heard by that leg only', async () => {
    const g = await start({ 'tone.wav': toneWav(1) });
    const cid = await createConversation(g, 'play-one');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob');
    const marks = [a.peer.received.length, b.peer.received.length];

    const res = await g.api('PUT', `/v1/legs/${a.peer.legId}/stream`, { body: { stream_url: 'tone.wav' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Stream started', uuid: a.peer.legId, play_id: expect.any(String) });
    const playId = res.body.play_id as string;
    await b.seen.waitFor((e) => e.type === 'audio:play:done' && e.body.play_id === playId, 10_000);
    await Promise.all([a.peer.receiveMore(500), b.peer.receiveMore(500)]);

    expect(audibleMs(a.peer.received.slice(marks[0]), 1000)).toBeGreaterThanOrEqual(700);
    expect(peak(levels(b.peer.received.slice(marks[1]), 1000))).toBeLessThan(SILENT);

    const logged = await events(g, cid, 'audio:play*');
    expect(logged.map((e) => e.type)).toEqual(['audio:play', 'audio:play:done']);
    expect(logged[0].body).toEqual({ play_id: playId, leg_id: a.peer.legId, stream_url: ['tone.wav'], loop: 1, level: 0 });
    expect(logged[1].body).toEqual({ play_id: playId, leg_id: a.peer.legId });
  });

  it.skipIf(!espeak)('say (PUT /talk) is heard as speech by the peers, then audio:say:done', async () => {
    const g = await start();
    const cid = await createConversation(g, 'say');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob');
    await Promise.all([a.peer.receiveMore(300), b.peer.receiveMore(300)]);
    const before = [a, b].map(({ peer }) => rms(peer.lastReceived(300)));
    for (const level of before) expect(level).toBeLessThan(SILENT);
    const marks = [a.peer.received.length, b.peer.received.length];

    const text = 'Hello, this is a test of the gateway speaking';
    const res = await g.api('PUT', `/v1/conversations/${cid}/talk`, { body: { text, language: 'en' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Talk started', uuid: cid, say_id: expect.any(String) });
    const sayId = res.body.say_id as string;
    await a.seen.waitFor((e) => e.type === 'audio:say:done' && e.body.say_id === sayId, 15_000);
    await Promise.all([a.peer.receiveMore(500), b.peer.receiveMore(500)]);

    for (const [i, { peer }] of [a, b].entries()) {
      const loud = windowRms(peer.received.slice(marks[i]));
      // Speech: many loud windows (a sentence of several words), far above the silence before.
      const speaking = loud.filter((l) => l > Math.max(500, 10 * (before[i] ?? 0)));
      expect(speaking.length).toBeGreaterThanOrEqual(8);
      expect(rms(peer.lastReceived(300))).toBeLessThan(SILENT);
    }
    const logged = await events(g, cid, 'audio:say*');
    expect(logged.map((e) => e.type)).toEqual(['audio:say', 'audio:say:done']);
    expect(logged[0].body).toEqual({ say_id: sayId, text, language: 'en', loop: 1, level: 0 });
    expect(logged[1].body).toEqual({ say_id: sayId });
  });

  it('records the conversation mix and legs to 48 kHz mono WAVs that hold what was sent', async () => {
    const g = await start();
    const cid = await createConversation(g, 'record');
    const a = await joinCall(g, cid, 'alice', 440);
    const b = await joinCall(g, cid, 'bob');
    await hears(b.peer, 440, 'B to hear A');

    // The conversation's mix, stopped on request.
    const res = await g.api('PUT', `/v1/conversations/${cid}/record`, { body: {} });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Recording started', uuid: cid, recording_id: expect.any(String) });
    const recordingId = res.body.recording_id as string;
    await b.peer.receiveMore(2000);
    const stop = await g.api('DELETE', `/v1/conversations/${cid}/record`);
    expect(stop.status).toBe(200);
    expect(stop.body).toEqual({ message: 'Recording stopped', uuid: cid, stopped: [recordingId] });
    await a.seen.waitFor((e) => e.type === 'audio:record:stop' && e.body.recording_id === recordingId, 5000);
    const done = await a.seen.waitFor((e) => e.type === 'audio:record:done' && e.body.recording_id === recordingId, 5000);
    expect(done.body).toMatchObject({ recording_id: recordingId, url: `/v1/recordings/${recordingId}`, format: 'wav' });
    expect(done.body.leg_id).toBeUndefined();
    expect(done.body.duration).toBeGreaterThan(1.5);
    expect(done.body.duration).toBeLessThan(4);

    const file = await download(g, recordingId);
    expect(file.length).toBe(done.body.size);
    const wav = parseWav(file);
    expect(wav).toMatchObject({ riff: 'RIFF', wave: 'WAVE', format: 1, channels: 1, sampleRate: 48_000, bitsPerSample: 16, dataTag: 'data' });
    expect(wav.riffSize).toBe(file.length - 8);
    expect(wav.dataSize).toBe(file.length - 44);
    expect(Math.abs(wav.dataSize / 2 / 48_000 - done.body.duration)).toBeLessThan(0.1);
    const tone = levels(wav.samples, 440);
    expect(tone.filter((l) => l > AUDIBLE).length).toBeGreaterThanOrEqual(0.8 * tone.length);
    const meta = await g.api('GET', `/v1/recordings/${recordingId}`, { headers: { accept: 'application/json' } });
    expect(meta.body).toMatchObject({ id: recordingId, conversation_id: cid, status: 'done', duration: done.body.duration, size: file.length });

    const conversationLog = await events(g, cid, 'audio:record*');
    expect(conversationLog.map((e) => e.type)).toEqual(['audio:record', 'audio:record:stop', 'audio:record:done']);
    expect(conversationLog[0].body).toEqual({ recording_id: recordingId, format: 'wav' });

    // One leg each, ending by themselves after max_duration: A's own audio (440 Hz), B's (silence).
    const legA = await g.api('PUT', `/v1/legs/${a.peer.legId}/record`, { body: { max_duration: 1 } });
    const legB = await g.api('PUT', `/v1/legs/${b.peer.legId}/record`, { body: { max_duration: 1, format: 'wav' } });
    expect([legA.status, legB.status]).toEqual([200, 200]);
    const [idA, idB] = [legA.body.recording_id as string, legB.body.recording_id as string];
    const doneA = await a.seen.waitFor((e) => e.type === 'audio:record:done' && e.body.recording_id === idA, 10_000);
    const doneB = await a.seen.waitFor((e) => e.type === 'audio:record:done' && e.body.recording_id === idB, 10_000);
    expect(doneA.body).toMatchObject({ recording_id: idA, leg_id: a.peer.legId, format: 'wav' });
    expect(doneB.body).toMatchObject({ recording_id: idB, leg_id: b.peer.legId, format: 'wav' });
    const all = await events(g, cid, 'audio:record*');
    expect(all.filter((e) => e.type === 'audio:record:stop').map((e) => e.body.recording_id)).toEqual([recordingId]);

    for (const d of [doneA, doneB]) {
      expect(d.body.duration).toBeGreaterThan(0.8);
      expect(d.body.duration).toBeLessThan(1.5);
    }
    const fileA = await download(g, idA);
    const wavA = parseWav(fileA);
    expect(fileA.length).toBe(doneA.body.size);
    expect(Math.abs(wavA.dataSize / 2 / 48_000 - doneA.body.duration)).toBeLessThan(0.1);
    const toneA = levels(wavA.samples, 440);
    expect(toneA.filter((l) => l > AUDIBLE).length).toBeGreaterThanOrEqual(0.8 * toneA.length);

    const fileB = await download(g, idB);
    const wavB = parseWav(fileB);
    expect(fileB.length).toBe(doneB.body.size);
    expect(wavB).toMatchObject({ channels: 1, sampleRate: 48_000, bitsPerSample: 16 });
    expect(peak(levels(wavB.samples, 440))).toBeLessThan(SILENT);
    expect(rms(wavB.samples)).toBeLessThan(SILENT);
  });

  it('a split conversation recording also makes one file per leg, stopped with it', async () => {
    const g = await start();
    const cid = await createConversation(g, 'split');
    const a = await joinCall(g, cid, 'alice', 440);
    const b = await joinCall(g, cid, 'bob', 880);
    await hears(a.peer, 880, 'A to hear B');
    const res = await g.api('PUT', `/v1/conversations/${cid}/record`, { body: { split: true } });
    expect(res.status).toBe(200);
    const split = res.body.split as { leg_id: string; recording_id: string }[];
    expect(split.map((s) => s.leg_id).sort()).toEqual([a.peer.legId, b.peer.legId].sort());
    await a.peer.receiveMore(1500);
    const stop = await g.api('DELETE', `/v1/conversations/${cid}/record`);
    expect((stop.body.stopped as string[]).sort()).toEqual([res.body.recording_id, ...split.map((s) => s.recording_id)].sort());
    for (const { leg_id, recording_id } of split) {
      const done = await a.seen.waitFor((e) => e.type === 'audio:record:done' && e.body.recording_id === recording_id, 10_000);
      expect(done.body.leg_id).toBe(leg_id);
      const samples = parseWav(await download(g, recording_id)).samples;
      const own = leg_id === a.peer.legId ? 440 : 880;
      const other = leg_id === a.peer.legId ? 880 : 440;
      const ownLevels = levels(samples, own);
      expect(ownLevels.filter((l) => l > AUDIBLE).length).toBeGreaterThanOrEqual(0.7 * ownLevels.length);
      expect(peak(levels(samples, other))).toBeLessThan(SILENT);
    }
    const mix = parseWav(await download(g, res.body.recording_id)).samples;
    expect(peak(levels(mix, 440))).toBeGreaterThan(AUDIBLE);
    expect(peak(levels(mix, 880))).toBeGreaterThan(AUDIBLE);
  });

  it('refuses paths outside the media folder, missing files, too large, too slow and non-WAV media, and plays nothing', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'legway-outside-'));
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    writeFileSync(join(outside, 'secret.wav'), toneWav(1));
    const g = await start({ 'notes.wav': 'just some text, not a RIFF file at all', 'big.wav': new Uint8Array(MAX_BYTES + 1) });
    symlinkSync(join(outside, 'secret.wav'), join(mediaDir, 'escape.wav'));
    mkdirSync(join(mediaDir, 'folder.wav'));
    const web = await mediaServer();
    cleanups.push(() => web.close());

    const cid = await createConversation(g, 'refusals');
    const a = await joinCall(g, cid, 'alice');
    const mark = a.peer.received.length;
    const play = (stream_url: string) => g.api('PUT', `/v1/conversations/${cid}/stream`, { body: { stream_url: [stream_url] } });

    const cases: { url: string; status: number; code: string }[] = [
      // The schema: no `..`, no absolute path, no other scheme.
      { url: '../secret.wav', status: 422, code: 'ValidationFailed' },
      { url: 'sub/../../secret.wav', status: 422, code: 'ValidationFailed' },
      { url: join(outside, 'secret.wav'), status: 422, code: 'ValidationFailed' },
      { url: `file://${join(outside, 'secret.wav')}`, status: 422, code: 'ValidationFailed' },
      // The loader: a symbolic link out of the folder, a missing file, a folder, a file too large, not a WAV.
      { url: 'escape.wav', status: 403, code: 'Forbidden' },
      { url: 'missing.wav', status: 404, code: 'NotFound' },
      { url: 'folder.wav', status: 400, code: 'BadRequest' },
      { url: 'big.wav', status: 413, code: 'PayloadTooLarge' },
      { url: 'notes.wav', status: 415, code: 'UnsupportedMediaType' },
      // URLs: too large (announced, and streamed), too slow (stalled, trickling), not audio, not there.
      { url: `${web.url}/big.wav`, status: 413, code: 'PayloadTooLarge' },
      { url: `${web.url}/big-chunked.wav`, status: 413, code: 'PayloadTooLarge' },
      { url: `${web.url}/stall.wav`, status: 503, code: 'Unavailable' },
      { url: `${web.url}/trickle.wav`, status: 503, code: 'Unavailable' },
      { url: `${web.url}/page.wav`, status: 415, code: 'UnsupportedMediaType' },
      { url: `${web.url}/gone.wav`, status: 400, code: 'BadRequest' },
    ];
    const failures: string[] = [];
    for (const c of cases) {
      const res = await play(c.url);
      const ok =
        res.status === c.status &&
        res.body?.code === c.code &&
        /^application\/problem\+json/.test(res.headers.get('content-type') ?? '') &&
        typeof res.body.detail === 'string';
      if (!ok) failures.push(`${c.url} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    // The timeouts say so.
    expect((await play(`${web.url}/stall.wav`)).body.detail).toMatch(/timed out/);

    // Nothing was played or logged, and A heard nothing but silence.
    expect(await events(g, cid, 'audio:play*')).toEqual([]);
    await a.peer.receiveMore(300);
    const since = a.peer.received.slice(mark);
    expect(peak(levels(since, 1000))).toBeLessThan(SILENT);
    expect(peak(windowRms(since))).toBeLessThan(SILENT);

    // The same server's good file plays.
    const good = await play(`${web.url}/tone.wav`);
    expect(good.status).toBe(200);
    await hears(a.peer, 1000, 'A to hear the tone from the URL');
    await a.seen.waitFor((e) => e.type === 'audio:play:done' && e.body.play_id === good.body.play_id, 10_000);
    expect((await events(g, cid, 'audio:play*')).map((e) => e.body.stream_url ?? e.type)).toEqual([[`${web.url}/tone.wav`], 'audio:play:done']);
  });

  it('the detail of a refused play names the media, not the request body', async () => {
    const g = await start({ 'notes.wav': 'not a RIFF file', 'big.wav': new Uint8Array(MAX_BYTES + 1) });
    const cid = await createConversation(g, 'details');
    await joinCall(g, cid, 'alice');
    const notWav = await g.api('PUT', `/v1/conversations/${cid}/stream`, { body: { stream_url: 'notes.wav' } });
    const tooBig = await g.api('PUT', `/v1/conversations/${cid}/stream`, { body: { stream_url: 'big.wav' } });
    expect([notWav.status, tooBig.status]).toEqual([415, 413]);
    expect(notWav.body.detail).toMatch(/notes\.wav/);
    expect(tooBig.body.detail).toMatch(/big\.wav/);
  });

  it('the operator plays to a leg and stops it over /operator (leg:action play, play:stop)', async () => {
    const g = await start({ 'short.wav': toneWav(0.5) });
    const cid = await createConversation(g, 'operator');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob');
    const socket = await g.connect(await g.token('olga', 'operator'), { namespace: '/operator' });
    const watched = new EventRecorder(socket);
    expect(await request(socket, 'watch', { conversation_ids: [cid] })).toMatchObject({ ok: true });
    const markB = b.peer.received.length;

    const ack = await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'play', stream_url: ['short.wav'], loop: 0 });
    expect(ack).toEqual({ ok: true, play_id: expect.any(String) });
    const started = await watched.waitFor((e) => e.name === 'audio:play' && e.body.play_id === ack.play_id);
    expect(started.body).toEqual({ play_id: ack.play_id, leg_id: a.peer.legId, stream_url: ['short.wav'], loop: 0, level: 0 });
    await hears(a.peer, 1000, 'A to hear the operator’s play');
    await a.peer.receiveMore(800);
    expect(audibleMs(a.peer.lastReceived(700), 1000)).toBeGreaterThanOrEqual(500);

    const stopped = await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'play:stop' });
    expect(stopped).toEqual({ ok: true, stopped: [ack.play_id] });
    await watched.waitFor((e) => e.name === 'audio:play:stop' && e.body.play_id === ack.play_id);
    await Promise.all([a.peer.receiveMore(600), b.peer.receiveMore(600)]);
    expect(peak(levels(a.peer.lastReceived(300), 1000))).toBeLessThan(SILENT);
    // B heard none of it.
    expect(peak(levels(b.peer.received.slice(markB), 1000))).toBeLessThan(SILENT);
    expect((await events(g, cid, 'audio:play*')).map((e) => e.type)).toEqual(['audio:play', 'audio:play:stop']);
    // A second stop has nothing to stop.
    expect(await request(socket, 'leg:action', { leg_id: a.peer.legId, action: 'play:stop' })).toMatchObject({ ok: false, error: { code: 'NotFound' } });
  });

  it('PUT /v1/legs/:id/dtmf plays the keys to that leg and logs audio:dtmf for each', async () => {
    const g = await start();
    const cid = await createConversation(g, 'dtmf');
    const a = await joinCall(g, cid, 'alice');
    const b = await joinCall(g, cid, 'bob');
    const marks = [a.peer.received.length, b.peer.received.length];

    const res = await g.api('PUT', `/v1/legs/${a.peer.legId}/dtmf`, { body: { digits: '15#' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'DTMF sent', uuid: a.peer.legId });
    await waitUntil(() => dtmfKeys(a.peer.received.slice(marks[0])).includes('#'), { timeoutMs: 10_000, intervalMs: 50, what: 'A to hear #' });
    await Promise.all([a.peer.receiveMore(300), b.peer.receiveMore(300)]);

    const heardA = a.peer.received.slice(marks[0]);
    expect(dtmfKeys(heardA)).toEqual(['1', '5', '#']);
    expect(peak(levels(heardA, 697))).toBeGreaterThan(AUDIBLE);
    expect(peak(levels(heardA, 1209))).toBeGreaterThan(AUDIBLE);
    const heardB = b.peer.received.slice(marks[1]);
    expect(dtmfKeys(heardB)).toEqual([]);
    for (const f of [...DTMF_ROWS, ...DTMF_COLUMNS]) expect(peak(levels(heardB, f))).toBeLessThan(SILENT);

    const logged = await events(g, cid, 'audio:dtmf');
    expect(logged.map((e) => e.body)).toEqual(['1', '5', '#'].map((digit) => ({ leg_id: a.peer.legId, digit, duration: 100, method: 'api' })));
  });
});
