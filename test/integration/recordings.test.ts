import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEventBody } from '../../src/events/catalogue.js';
import type { WavWriter } from '../../src/media/recording/wavWriter.js';
import { recordDoneBody } from '../../src/services/recordingService.js';
import { startGateway, type ApiResponse, type TestGateway } from '../support/gateway.js';
import { sine, toneLevel } from '../support/tone.js';

const RATE = 48_000;
const AMPLITUDE = 8000;

/** Asserts a JSON problem response with the given status and stable code. */
function expectProblem(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
}

/** The header fields of a WAV file and its samples. */
function parseWav(bytes: Buffer) {
  return {
    riff: bytes.toString('ascii', 0, 4),
    riffSize: bytes.readUInt32LE(4),
    wave: bytes.toString('ascii', 8, 12),
    format: bytes.readUInt16LE(20),
    channels: bytes.readUInt16LE(22),
    sampleRate: bytes.readUInt32LE(24),
    bitsPerSample: bytes.readUInt16LE(34),
    dataSize: bytes.readUInt32LE(40),
    samples: new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length)),
  };
}

/** Writes `seconds` of a 440 Hz tone in 20 ms frames, as the audio bridge's tap does. */
function writeTone(writer: WavWriter, seconds: number): void {
  const tone = sine(440, AMPLITUDE, seconds * RATE);
  for (let i = 0; i < tone.length; i += 960) writer.write(tone.subarray(i, i + 960));
}

describe('recordings', () => {
  let gw: TestGateway;

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await gw.close();
  });

  async function createConversation(): Promise<string> {
    const res = await gw.api('POST', '/v1/conversations', { body: {} });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function addMember(cid: string, name: string): Promise<void> {
    const res = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    expect(res.status).toBe(201);
  }

  /** A finished 1.5 s recording of a 440 Hz tone. */
  async function recordTone(cid: string): Promise<{ id: string; path: string }> {
    const { id, path, writer } = await gw.app.services.recordings.create({ conversationId: cid, createdBy: 'application' });
    writeTone(writer, 1.5);
    await gw.app.services.recordings.finish(id, writer);
    return { id, path };
  }

  /** GET of the audio with fetch (binary body). */
  async function download(id: string, options: { token?: string; headers?: Record<string, string> } = {}) {
    const res = await fetch(`${gw.url}/v1/recordings/${id}`, {
      headers: { authorization: `Bearer ${options.token ?? gw.appToken}`, ...options.headers },
    });
    return { res, bytes: Buffer.from(await res.arrayBuffer()) };
  }

  it('stores a tone and serves it as a 48 kHz mono 16-bit WAV, with matching metadata', async () => {
    // Arrange
    const cid = await createConversation();

    // Act
    const { id, path } = await recordTone(cid);
    const { res, bytes } = await download(id);
    const meta = await gw.api('GET', `/v1/recordings/${id}`, { headers: { accept: 'application/json' } });

    // Assert: the file as served.
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${id}.wav"`);
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    const wav = parseWav(bytes);
    expect(wav).toMatchObject({ riff: 'RIFF', wave: 'WAVE', format: 1, channels: 1, sampleRate: 48_000, bitsPerSample: 16 });
    expect(wav.dataSize).toBe(bytes.length - 44);
    expect(wav.riffSize).toBe(bytes.length - 8);
    expect(wav.samples.length / wav.sampleRate).toBe(1.5);
    expect(toneLevel(wav.samples, 440)).toBeGreaterThan(0.95 * AMPLITUDE);
    expect(toneLevel(wav.samples, 1000)).toBeLessThan(0.01 * AMPLITUDE);
    // It is the file on disk, under the data folder.
    expect(bytes.equals(readFileSync(path))).toBe(true);
    expect(path).toBe(join(gw.dataDir, 'recordings', cid, `${id}.wav`));

    // Assert: the metadata.
    expect(meta.status).toBe(200);
    expect(meta.body).toEqual({
      id,
      conversation_id: cid,
      format: 'wav',
      status: 'done',
      url: `/v1/recordings/${id}`,
      duration: 1.5,
      size: bytes.length,
      created_by: 'application',
      timestamp: { started: expect.any(String), ended: expect.any(String) },
    });
    // What the capture will announce is a valid audio:record:done body.
    expect(parseEventBody('audio:record:done', recordDoneBody(meta.body))).toMatchObject({
      ok: true,
      body: { recording_id: id, duration: 1.5, size: bytes.length },
    });
    const list = await gw.api('GET', `/v1/conversations/${cid}/recordings`);
    expect(list.status).toBe(200);
    expect(list.body._embedded.recordings).toEqual([meta.body]);
  });

  it('serves a byte range, and 416 past the end', async () => {
    const { id } = await recordTone(await createConversation());

    const head = await download(id, { headers: { range: 'bytes=0-43' } });
    expect(head.res.status).toBe(206);
    expect(head.res.headers.get('content-range')).toBe('bytes 0-43/144044');
    expect(head.bytes.length).toBe(44);
    expect(head.bytes.toString('ascii', 0, 4)).toBe('RIFF');

    const tail = await download(id, { headers: { range: 'bytes=-4' } });
    expect(tail.res.status).toBe(206);
    expect(tail.res.headers.get('content-range')).toBe('bytes 144040-144043/144044');

    const past = await gw.api('GET', `/v1/recordings/${id}`, { headers: { range: 'bytes=144044-' } });
    expectProblem(past, 416, 'RangeNotSatisfiable');
    expect(past.headers.get('content-range')).toBe('bytes */144044');
  });

  it('lets members and operators read, refuses other users', async () => {
    // Arrange
    const cid = await createConversation();
    await addMember(cid, 'alice');
    const { id } = await recordTone(cid);
    const alice = await gw.token('alice');
    const mallory = await gw.token('mallory');
    const operator = await gw.token('olga', 'operator');

    // Act + Assert: a member reads metadata, audio and the list.
    expect((await gw.api('GET', `/v1/recordings/${id}`, { token: alice, headers: { accept: 'application/json' } })).status).toBe(200);
    const audio = await download(id, { token: alice });
    expect(audio.res.status).toBe(200);
    expect(audio.bytes.length).toBe(144_044);
    expect((await gw.api('GET', `/v1/conversations/${cid}/recordings`, { token: alice })).status).toBe(200);
    // An operator reads everything.
    expect((await download(id, { token: operator })).res.status).toBe(200);

    // A non-member gets the answer of a recording or conversation that does not exist.
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`, { token: mallory }), 404, 'RecordingNotFound');
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`, { token: mallory, headers: { accept: 'application/json' } }), 404, 'RecordingNotFound');
    expectProblem(await gw.api('GET', `/v1/conversations/${cid}/recordings`, { token: mallory }), 404, 'ConversationNotFound');
    // Only the application deletes.
    expectProblem(await gw.api('DELETE', `/v1/recordings/${id}`, { token: alice }), 403, 'Forbidden');
    expectProblem(await gw.api('DELETE', `/v1/recordings/${id}`, { token: operator }), 403, 'Forbidden');
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`, { token: null }), 401, 'Unauthorized');
  });

  it('deletes the row and the file', async () => {
    const cid = await createConversation();
    const { id, path } = await recordTone(cid);

    const res = await gw.api('DELETE', `/v1/recordings/${id}`);

    expect(res.status).toBe(204);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(dirname(path))).toBe(false);
    expect(gw.app.store.recordings.get(id)).toBeUndefined();
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`), 404, 'RecordingNotFound');
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`, { headers: { accept: 'application/json' } }), 404, 'RecordingNotFound');
    expectProblem(await gw.api('DELETE', `/v1/recordings/${id}`), 404, 'RecordingNotFound');
    expect((await gw.api('GET', `/v1/conversations/${cid}/recordings`)).body._embedded.recordings).toEqual([]);
  });

  it('refuses to delete or download a recording still being written', async () => {
    // Arrange
    const cid = await createConversation();
    const { id, path, writer } = await gw.app.services.recordings.create({ conversationId: cid, createdBy: 'application' });
    writeTone(writer, 0.2);

    // Act + Assert
    expectProblem(await gw.api('DELETE', `/v1/recordings/${id}`), 409, 'InvalidState');
    expectProblem(await gw.api('GET', `/v1/recordings/${id}`), 409, 'InvalidState');
    const meta = await gw.api('GET', `/v1/recordings/${id}`, { headers: { accept: 'application/json' } });
    expect(meta.body).toMatchObject({ id, status: 'recording' });
    expect(meta.body.duration).toBeUndefined();
    expect(existsSync(path)).toBe(true);

    // Once finished, it goes.
    const done = await gw.app.services.recordings.finish(id, writer);
    expect(done).toMatchObject({ status: 'done', duration: 0.2, size: 44 + 0.2 * RATE * 2 });
    expect((await gw.api('DELETE', `/v1/recordings/${id}`)).status).toBe(204);
  });

  it('answers malformed and hostile ids with 404 and never serves another file', async () => {
    const cid = await createConversation();
    await recordTone(cid);
    const hostile = [
      '..%2F..%2F..%2Fetc%2Fpasswd',
      '..%2F..%2Flegway.sqlite',
      `..%2F${cid}`,
      'REC-x',
      '%2e%2e',
      '00000000-0000-0000-0000-000000000000', // well formed, unknown
      'a'.repeat(36),
    ];
    for (const id of hostile) {
      const res = await gw.api('GET', `/v1/recordings/${id}`);
      expect([400, 404]).toContain(res.status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(res.body)).not.toMatch(/root:|SQLite format/);
      expect([400, 404]).toContain((await gw.api('DELETE', `/v1/recordings/${id}`)).status);
    }
    expectProblem(await gw.api('GET', '/v1/recordings/REC-x'), 404, 'RecordingNotFound');
    // The un-encoded form is normalised away by the client before it is even sent.
    expect((await gw.api('GET', '/v1/recordings/../../etc/passwd')).status).toBe(404);
    expectProblem(await gw.api('GET', '/v1/conversations/CON-nope/recordings'), 404, 'ConversationNotFound');
  });
});

describe('recordings across a restart', () => {
  let dataDir: string;
  let gateways: TestGateway[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'legway-rec-'));
  });
  afterEach(async () => {
    for (const g of gateways) await g.close();
    gateways = [];
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes a recording cut off by a stop from what reached its file', async () => {
    // Arrange: 1 s written, never finished, then the gateway stops.
    const first = await startGateway({ dataDir });
    gateways.push(first);
    const cid = (await first.api('POST', '/v1/conversations', { body: {} })).body.id as string;
    const { id, path, writer } = await first.app.services.recordings.create({ conversationId: cid, createdBy: 'application' });
    writeTone(writer, 1);
    await writer.flushed();
    await first.close();
    expect(parseWav(readFileSync(path)).dataSize).toBe(0);

    // Act: a new gateway on the same data folder.
    const second = await startGateway({ dataDir });
    gateways.push(second);

    // Assert: done, with the duration and size on disk, the header patched, the audio intact.
    const meta = await second.api('GET', `/v1/recordings/${id}`, { headers: { accept: 'application/json' } });
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({ id, status: 'done', duration: 1, size: 44 + RATE * 2, timestamp: { ended: expect.any(String) } });
    const res = await fetch(`${second.url}/v1/recordings/${id}`, { headers: { authorization: `Bearer ${second.appToken}` } });
    expect(res.status).toBe(200);
    const wav = parseWav(Buffer.from(await res.arrayBuffer()));
    expect(wav.dataSize).toBe(RATE * 2);
    expect(wav.riffSize).toBe(36 + RATE * 2);
    expect(toneLevel(wav.samples, 440)).toBeGreaterThan(0.95 * AMPLITUDE);

    // The cut-off writer's own handle is still open in this test process: release it.
    await writer.close();
  });

  it('marks failed a cut-off recording whose file is gone', async () => {
    const first = await startGateway({ dataDir });
    gateways.push(first);
    const cid = (await first.api('POST', '/v1/conversations', { body: {} })).body.id as string;
    const { id, path, writer } = await first.app.services.recordings.create({ conversationId: cid, createdBy: 'application' });
    await first.close();
    await writer.close();
    rmSync(path);

    const second = await startGateway({ dataDir });
    gateways.push(second);

    const meta = await second.api('GET', `/v1/recordings/${id}`, { headers: { accept: 'application/json' } });
    expect(meta.body).toMatchObject({ id, status: 'failed' });
    expectProblem(await second.api('GET', `/v1/recordings/${id}`), 409, 'InvalidState');
    expect((await second.api('DELETE', `/v1/recordings/${id}`)).status).toBe(204);
  });
});
