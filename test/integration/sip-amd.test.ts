import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Downsampler } from '../../src/media/rtp/resampler.js';
import { SpeechSynth } from '../../src/media/sources/speech.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { pcmuSamplesPcap } from '../support/pcap.js';
import { waitUntil } from '../support/resources.js';
import { freePort, sippMissing, startSipp } from '../sipp/sipp.js';

const missing = sippMissing() ?? ((await SpeechSynth.available('espeak-ng')) ? undefined : 'espeak-ng is not installed');
if (missing) console.warn(`skipping answering-machine detection tests: ${missing}`);

/** Speech from espeak-ng at 8 kHz, followed by `silenceMs` of silence: what the callee says. */
async function speech(text: string, silenceMs: number): Promise<Int16Array> {
  const at48 = await new SpeechSynth({ binary: 'espeak-ng', timeoutMs: 10_000, maxTextLength: 2000 }).synth({ text, language: 'en', rate: 160 });
  const frames = Math.ceil(at48.length / 960);
  const padded = new Int16Array(frames * 960);
  padded.set(at48);
  const down = new Downsampler();
  const out = new Int16Array(frames * 160 + silenceMs * 8);
  for (let i = 0; i < frames; i++) out.set(down.process(padded.subarray(i * 960, (i + 1) * 960)), i * 160);
  return out;
}

describe.skipIf(missing !== undefined)('answering-machine detection on outbound calls', () => {
  let gw: TestGateway;
  let cid: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-amd-'));
    const greeting =
      'Hello, you have reached the voicemail of John Smith. I am not available to take your call right now, please leave a message after the tone.';
    writeFileSync(join(dir, 'machine.pcap'), pcmuSamplesPcap({ samples: await speech(greeting, 1000) }));
    writeFileSync(join(dir, 'human.pcap'), pcmuSamplesPcap({ samples: await speech('Hello?', 4000) }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    gw = await startGateway({ media: true, env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_RINGBACK: 'off' } });
    cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'amd' } })).body.id;
  });
  afterEach(async () => {
    await gw.close();
  });

  const events = async (): Promise<any[]> => (await gw.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events;

  async function call(pcap: string, mode: 'continue' | 'hangup') {
    // SIPp's raw pcap socket sends from the port its SDP announces (-mp + 4), so our RTP latches there.
    const port = await freePort();
    const sipp = await startSipp({
      scenario: 'uas-invite-answer-200-play-pcap.xml',
      transport: 'u1',
      port,
      timeoutSeconds: 30,
      extra: ['-mi', '127.0.0.1', '-mp', String(await freePort(port)), '-key', 'pcap', join(dir, pcap)],
    });
    const res = await gw.api('POST', '/v1/calls', {
      body: { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${String(sipp.port)}` }, conversation_id: cid, machine_detection: mode },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const legId = res.body.id as string;
    await waitUntil(async () => (await events()).some((e) => e.type === 'sip:machine' && e.body.leg_id === legId), { timeoutMs: 15_000, what: 'sip:machine' });
    const verdict = (await events()).find((e) => e.type === 'sip:machine' && e.body.leg_id === legId);
    return { sipp, legId, verdict };
  }

  it('a long uninterrupted greeting is classed machine, and with hangup the call is hung up on', async () => {
    const { sipp, legId, verdict } = await call('machine.pcap', 'hangup');
    expect(verdict.body).toMatchObject({ type: 'machine', confidence: expect.any(Number) });
    expect((await sipp.finished).code).toBe(0);
    await waitUntil(async () => (await events()).some((e) => e.type === 'sip:hangup' && e.body.leg_id === legId), { what: 'sip:hangup' });
    const hangup = (await events()).find((e) => e.type === 'sip:hangup' && e.body.leg_id === legId);
    expect(hangup.body).toMatchObject({ by: 'local', cause: 'answering machine' });
  });

  it('a short "hello" then silence is classed human, and the call goes on', async () => {
    const { sipp, legId, verdict } = await call('human.pcap', 'hangup');
    expect(verdict.body).toMatchObject({ type: 'human' });
    expect((await gw.api('GET', `/v1/legs/${legId}`)).body.status).toBe('connected');
    await gw.api('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } });
    expect((await sipp.finished).code).toBe(0);
  });
});
