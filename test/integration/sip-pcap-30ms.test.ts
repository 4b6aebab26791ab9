/**
 * SIPp's own `uac_pcap` call against the gateway, with a WebRTC peer in the conversation: real
 * recorded speech as PCMA in 30 ms packets (SIPp's g711a.pcap), then an RFC 4733 key press on
 * another SSRC (dtmf_2833_1.pcap), as SIPp ships them (Debian package sip-tester).
 *
 * The scenario is the built-in one exported (`sipp -sd uac_pcap`) with its pcap paths made keys
 * (test/sipp/uac-invite-play-pcma-30ms-pcap-then-rfc4733-pcap-expect-200.xml says why). What the
 * pcaps hold is read from the files themselves (test/support/pcap.ts), not assumed.
 *
 * Asserted on the audio the peer hears (decoded by libwebrtc): before the call, the level in the
 * telephone band (300–3400 Hz) is the silence floor; while the pcap plays, it is well above it,
 * for about as much of the call as the pcap holds speech; after the BYE, it is back to the floor.
 * And the conversation logs one `audio:dtmf` per key pressed in the DTMF pcap.
 *
 * SIPp plays pcaps through a raw socket: root (or CAP_NET_RAW) is needed, or the file is skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeG711 } from '../../src/media/rtp/g711.js';
import { sippMissing, startSipp, type StartedSipp } from '../sipp/sipp.js';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { readPcap } from '../support/pcap.js';
import { waitUntil } from '../support/resources.js';
import { TestPeer } from '../support/webrtcPeer.js';
import { peerMissing } from '../support/requiredPeers.js';

const SPEECH_PCAP = '/usr/share/sip-tester/g711a.pcap';
const DTMF_PCAP = '/usr/share/sip-tester/dtmf_2833_1.pcap';
const SCENARIO = 'uac-invite-play-pcma-30ms-pcap-then-rfc4733-pcap-expect-200.xml';
const ROOM = 'pcap-room';
const PEER_RATE = 48_000;
const TELEPHONE_EVENTS = '0123456789*#ABCD';

/** Why this file cannot run here, or undefined. */
function whyNot(): string | undefined {
  const sipp = sippMissing();
  if (sipp) return sipp;
  for (const f of [SPEECH_PCAP, DTMF_PCAP]) if (!existsSync(f)) return `${f} missing (Debian package sip-tester ships it)`;
  if (process.getuid?.() !== 0) return "SIPp's pcap playback needs root or CAP_NET_RAW (a raw socket), and the tests do not run as root";
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  // CAP_NET_RAW is capability 13.
  if (capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << 13n)) === 0n)
    return 'running as root without CAP_NET_RAW: SIPp cannot open its raw socket for pcap playback';
  return undefined;
}

const missing = peerMissing(whyNot());
if (missing) console.warn(`SIPp uac_pcap tests skipped: ${missing}`);

/**
 * RMS of samples[start, end) in the telephone band: after a 300 Hz high-pass and a 3400 Hz
 * low-pass (each two 2nd-order Butterworth sections).
 */
function bandLevel(samples: ArrayLike<number>, sampleRate: number, start = 0, end = samples.length): number {
  const sections = [
    biquad('highpass', 300, sampleRate),
    biquad('highpass', 300, sampleRate),
    biquad('lowpass', 3400, sampleRate),
    biquad('lowpass', 3400, sampleRate),
  ];
  let sum = 0;
  for (let i = start; i < end; i++) {
    let x = samples[i] ?? 0;
    for (const s of sections) x = s(x);
    sum += x * x;
  }
  return end <= start ? 0 : Math.sqrt(sum / (end - start));
}

/** One RBJ-cookbook biquad (Q = 1/√2), as a stateful sample-by-sample filter. */
function biquad(kind: 'highpass' | 'lowpass', f0: number, fs: number): (x: number) => number {
  const w0 = (2 * Math.PI * f0) / fs;
  const alpha = Math.sin(w0) / (2 * Math.SQRT1_2);
  const cos = Math.cos(w0);
  const b1 = kind === 'lowpass' ? 1 - cos : -(1 + cos);
  const b0 = kind === 'lowpass' ? (1 - cos) / 2 : (1 + cos) / 2;
  const a0 = 1 + alpha;
  const [nb0, nb1, nb2, na1, na2] = [b0 / a0, b1 / a0, b0 / a0, (-2 * cos) / a0, (1 - alpha) / a0];
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  return (x) => {
    const y = nb0 * x + nb1 * x1 + nb2 * x2 - na1 * y1 - na2 * y2;
    x2 = x1;
    x1 = x;
    y2 = y1;
    y1 = y;
    return y;
  };
}

/** How many `windowMs` windows of the samples have a band level above `threshold`. */
function windowsAbove(samples: ArrayLike<number>, sampleRate: number, windowMs: number, threshold: number): { above: number; of: number } {
  const size = Math.round((sampleRate * windowMs) / 1000);
  let above = 0;
  let of = 0;
  for (let i = 0; i + size <= samples.length; i += size) {
    of++;
    if (bandLevel(samples, sampleRate, i, i + size) > threshold) above++;
  }
  return { above, of };
}

/** The keys an RFC 4733 pcap presses, in order: one per event (a new timestamp or event code). */
function keysIn(pcap: ReturnType<typeof readPcap>): string[] {
  const keys: string[] = [];
  let last: string | undefined;
  for (const p of pcap.packets) {
    const rtp = p.rtp;
    if (!rtp || rtp.payload.length < 4) continue;
    const id = `${rtp.ssrc}/${rtp.timestamp}/${rtp.payload[0]}`;
    if (id === last) continue;
    last = id;
    keys.push(TELEPHONE_EVENTS[rtp.payload[0]!] ?? '?');
  }
  return keys;
}

describe.skipIf(missing !== undefined)("SIPp's uac_pcap (30 ms PCMA speech, then RFC 4733) with a WebRTC peer in the conversation", () => {
  let gw: TestGateway | undefined;
  const peers: TestPeer[] = [];
  const sipps: StartedSipp[] = [];

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    // A SIPp still running (the test failed midway) ends by its own -timeout; wait for it.
    await Promise.all(sipps.splice(0).map((s) => s.finished));
    await gw?.close();
    gw = undefined;
  });

  it('the peer hears the speech (telephone-band level well above the floor heard before the call, for most of the pcap) and the conversation logs each key of the DTMF pcap once', async () => {
    // What the pcaps hold: 30 ms PCMA speech; the keys of the DTMF pcap.
    const speech = readPcap(readFileSync(SPEECH_PCAP));
    const rtp = speech.packets.map((p) => p.rtp!);
    expect(
      rtp.every((r) => r.payloadType === 8 && r.payload.length === 240),
      'g711a.pcap: PCMA, 240 bytes (30 ms) per packet',
    ).toBe(true);
    expect(new Set(rtp.slice(1).map((r, i) => (r.timestamp - rtp[i]!.timestamp) >>> 0)), 'g711a.pcap: timestamps 240 apart').toEqual(new Set([240]));
    const speechPcm = new Int16Array(rtp.flatMap((r) => [...decodeG711('PCMA', r.payload)]));
    const keys = keysIn(readPcap(readFileSync(DTMF_PCAP)));
    expect(keys.length, 'dtmf_2833_1.pcap presses at least one key').toBeGreaterThan(0);

    const g = (gw = await startGateway({
      media: true,
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.1/32',
        LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent',
      },
    }));
    const sip = g.app.sip;
    if (sip === undefined) throw new Error('the gateway runs no SIP server');
    const created = await g.api('POST', '/v1/conversations', { body: { name: ROOM } });
    expect(created.status).toBe(201);
    const cid: string = created.body.id;
    await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    const socket = await g.connect(await g.token('alice'));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket); // sends silence
    peers.push(peer);
    expect(await peer.connect(cid)).toMatchObject({ ok: true });
    await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected', 10_000);

    // The floor: what the peer hears in an otherwise empty conversation.
    await peer.receiveMore(1000);
    const floor = bandLevel(peer.lastReceived(1000), PEER_RATE);
    // Speech is 1500–3000 RMS over most half seconds of the pcap; the floor is near 0.
    const threshold = Math.max(10 * floor, 200);

    const sipp = await startSipp({
      scenario: SCENARIO,
      transport: 'u1',
      target: `127.0.0.1:${sip.port}`,
      timeoutSeconds: 30,
      extra: ['-mi', '127.0.0.1', '-key', 'audio_pcap', SPEECH_PCAP, '-key', 'dtmf_pcap', DTMF_PCAP],
    });
    sipps.push(sipp);
    const from = peer.received.length;

    const answered = await seen.waitFor((e) => e.type === 'sip:answered', 10_000);
    const legId: string = answered.body.leg_id;
    await peer
      .until((s) => bandLevel(s, PEER_RATE) > threshold, `the peer to hear the pcap's speech (floor ${floor.toFixed(1)})`, 10_000)
      .catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}; leg stats ${JSON.stringify((await g.api('GET', `/v1/legs/${legId}`)).body?.stats)}`);
      });
    // While the call is up: the gateway took the 30 ms PCMA stream as such.
    const stats = (await g.api('GET', `/v1/legs/${legId}`)).body?.stats;
    expect(stats, JSON.stringify(stats)).toMatchObject({ codec: 'PCMA', ptime_in_ms: 30 });

    const run = await sipp.finished;
    expect(run.code, run.trace).toBe(0);
    const during = peer.received.slice(from);

    // How much speech got through: 100 ms windows above the threshold, against the pcap's own.
    const heard = windowsAbove(during, PEER_RATE, 100, threshold);
    const sent = windowsAbove(speechPcm, 8000, 100, threshold);
    expect(sent.above, 'the pcap has speech above the threshold').toBeGreaterThan(30);
    expect(
      heard.above,
      `100 ms windows with speech: heard ${heard.above} of ${heard.of}, the pcap has ${sent.above} of ${sent.of} (floor ${floor.toFixed(1)}, threshold ${threshold.toFixed(1)})`,
    ).toBeGreaterThanOrEqual(Math.floor(0.8 * sent.above));

    // After the BYE: back to the floor.
    await waitUntil(() => seen.events.some((e) => e.type === 'sip:hangup' && e.body.leg_id === legId), { timeoutMs: 5000, what: 'sip:hangup' });
    await peer.until((s) => bandLevel(s, PEER_RATE) < threshold / 4, 'the peer to hear only the floor after the BYE');

    // Each key of the DTMF pcap, once, as RFC 4733.
    const dtmf = ((await g.api('GET', `/v1/conversations/${cid}/events?page_size=100&event_type=audio:dtmf`)).body._embedded.events as any[]).map(
      (e) => e.body,
    );
    expect(dtmf, JSON.stringify(dtmf)).toEqual(keys.map((digit) => expect.objectContaining({ digit, method: 'rfc4733', leg_id: legId })));
  }, 45_000);
});
