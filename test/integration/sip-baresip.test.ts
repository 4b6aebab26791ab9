/**
 * SIP legs against a real third-party softphone: baresip (test/support/baresip.ts) with one codec
 * (PCMU, G.722 or Opus), sending a 1 kHz sine and recording what it decodes, talks through a
 * conversation with a WebRTC peer (libwebrtc, test/support/webrtcPeer.ts) sending 440 Hz.
 *
 * For each codec, with the gateway limited to it (`LEGWAY_SIP_CODECS`) and baresip offering and
 * accepting only it:
 * - baresip calls in (routed by `LEGWAY_SIP_ROUTES` to the peer's conversation) and hangs up;
 * - the gateway calls baresip out (`POST /v1/calls`; baresip answers by itself) and hangs up
 *   (`PUT /v1/legs/:id {action: hangup}`).
 * Each time the WebRTC peer hears baresip's 1 kHz, baresip's decoded audio holds the peer's 440 Hz
 * and not its own 1 kHz (no echo), and the peer never hears itself.
 *
 * Every call is the multi-homed softphone: baresip writes `c=IN IP4 127.0.0.2` in its SDP while
 * its RTP leaves from 127.0.0.1 (its RTP socket listens on all addresses; see the helper). Its SIP
 * comes from 127.0.0.1, except in the last test, where SIP (127.0.0.3), SDP (127.0.0.2) and RTP
 * (127.0.0.1) are three different addresses.
 *
 * Everything stays on 127.0.0.0/8. Nothing asserts on timing: tones are waited for with generous
 * timeouts and then measured.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { baresipMissing, startBaresip, type Baresip, type BaresipCodec } from '../support/baresip.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { toneLevel } from '../support/tone.js';
import type { TestPeer } from '../support/webrtcPeer.js';
import { roomWithPeer } from '../support/roomWithPeer.js';

const missing = baresipMissing();
if (missing) console.warn(`baresip SIP tests skipped: ${missing}`);

const BARESIP_TONE = 1000; // ausine: peak 16383
const PEER_TONE = 440; // the WebRTC peer: peak 8000
/** Well above codec, resampling and mixing loss of either tone. */
const AUDIBLE = 1500;
const SILENT = 300;
const ROOM = 'baresip-room';
/** What baresip writes in its SDP; its RTP comes from 127.0.0.1. */
const SDP_ADDRESS = '127.0.0.2';
/** The rate baresip decodes each codec at (what its recording holds). */
const DECODED_RATE: Record<BaresipCodec, number> = { PCMU: 8000, G722: 16000, opus: 48000 };

const CODECS: BaresipCodec[] = ['PCMU', 'G722', 'opus'];

describe.skipIf(missing !== undefined)('SIP calls with baresip and a WebRTC peer in one conversation', () => {
  let gw: TestGateway | undefined;
  const peers: TestPeer[] = [];
  const phones: Baresip[] = [];

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await Promise.all(phones.splice(0).map((b) => b.close()));
    await gw?.close();
    gw = undefined;
  });

  async function start(codec: BaresipCodec): Promise<TestGateway> {
    gw = await startGateway({
      media: true,
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
        LEGWAY_SIP_CODECS: codec,
        // No ringback: the US one is 440 + 480 Hz, and the peer's tone is 440 Hz. baresip answers
        // our calls with a 180 and a 200 right behind it, and a main thread slow to get from one to
        // the other (a loaded machine) plays ringback to the peer meanwhile; when the peer hears
        // baresip soon after, the measured half second still holds it, as if the peer heard itself.
        // Ringback has its own tests (sip-outbound.test.ts).
        LEGWAY_RINGBACK: 'off',
        LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent',
      },
    });
    return gw;
  }

  function sipPort(g: TestGateway): number {
    const sip = g.app.sip;
    if (sip === undefined) throw new Error('the gateway runs no SIP server (LEGWAY_SIP_ENABLED is true, so it should)');
    return sip.port;
  }

  async function phone(codec: BaresipCodec, sipAddress?: string): Promise<Baresip> {
    const b = await startBaresip({ codec, toneHz: BARESIP_TONE, sdpAddress: SDP_ADDRESS, ...(sipAddress !== undefined && { sipAddress }) });
    phones.push(b);
    return b;
  }

  async function legStats(g: TestGateway, legId: string): Promise<any> {
    return (await g.api('GET', `/v1/legs/${legId}`)).body?.stats;
  }

  /** The SIP leg of the conversation's answered call (inbound calls: the gateway made it). */
  async function answeredLeg(g: TestGateway, cid: string): Promise<string> {
    let legId: string | undefined;
    await waitUntil(
      async () => {
        const list = (await g.api('GET', `/v1/conversations/${cid}/events?page_size=100&event_type=sip:answered`)).body._embedded.events as any[];
        legId = list[0]?.body?.leg_id;
        return legId !== undefined;
      },
      { timeoutMs: 5000, what: 'sip:answered in the conversation' },
    );
    return legId!;
  }

  /**
   * Both ways while the call is up: the peer hears baresip, baresip hears the peer; then, measured
   * on the same last half second, each hears the other and not itself. Failure messages carry the
   * leg's media statistics (what the gateway received and from where).
   */
  async function expectTwoWayAudio(g: TestGateway, legId: string, peer: TestPeer, b: Baresip, codec: BaresipCodec): Promise<void> {
    const stats = async (): Promise<string> => JSON.stringify(await legStats(g, legId));
    try {
      await peer.until((s) => toneLevel(s, BARESIP_TONE) > AUDIBLE, `the WebRTC peer to hear baresip's ${BARESIP_TONE} Hz (${codec})`, 15_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; leg stats ${await stats()}\nbaresip:\n${b.output(4000)}`);
    }
    try {
      await b.until((s, rate) => toneLevel(s, PEER_TONE, rate) > AUDIBLE, `baresip to decode the peer's ${PEER_TONE} Hz (${codec})`, 15_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; leg stats ${await stats()}`);
    }
    const rate = b.sampleRate!;
    expect(rate, 'baresip decodes at the codec rate').toBe(DECODED_RATE[codec]);
    // No echo: baresip's decoded audio holds the peer, not baresip's own tone; the peer does not hear itself.
    const decoded = b.recent(500);
    expect(toneLevel(decoded, BARESIP_TONE, rate), `baresip hears its own ${BARESIP_TONE} Hz back`).toBeLessThan(SILENT);
    const heard = peer.lastReceived(500);
    // 480 Hz beside it tells ringback (440 + 480 Hz) from the peer's own tone.
    expect(toneLevel(heard, PEER_TONE), `the peer hears itself (480 Hz: ${toneLevel(heard, 480).toFixed(0)})`).toBeLessThan(SILENT);
    expect(toneLevel(heard, BARESIP_TONE)).toBeGreaterThan(AUDIBLE);
    expect(toneLevel(decoded, PEER_TONE, rate)).toBeGreaterThan(AUDIBLE);

    const s = await legStats(g, legId);
    expect(s, 'leg stats').toMatchObject({ codec });
    // The staging held: baresip announced SDP_ADDRESS and its RTP came from 127.0.0.1.
    expect(s.source?.address, JSON.stringify(s)).toBe('127.0.0.1');
  }

  describe.each(CODECS)('%s', (codec) => {
    it(`baresip calls in (SDP c=${SDP_ADDRESS}, RTP from 127.0.0.1): the peer hears it, it hears the peer and not itself`, async () => {
      const g = await start(codec);
      const { cid, peer } = await roomWithPeer(g, ROOM, PEER_TONE, peers);
      const b = await phone(codec);
      const mark = b.mark();
      await b.dial(`sip:${ROOM}@127.0.0.1:${sipPort(g)}`);
      await b.established(10_000, mark);
      expect(new Set(await b.sdpAddressesSent())).toEqual(new Set([SDP_ADDRESS]));
      const legId = await answeredLeg(g, cid);

      await expectTwoWayAudio(g, legId, peer, b, codec);

      // baresip hangs up: the leg ends, and the peer stops hearing baresip.
      await b.hangup();
      await b.closed(10_000, mark);
      await waitUntil(async () => (await g.api('GET', `/v1/legs/${legId}`)).body?.status === 'ended', { timeoutMs: 10_000, what: 'the SIP leg to end' });
      await peer.until((s) => toneLevel(s, BARESIP_TONE) < SILENT, 'the peer to stop hearing the hung-up baresip');
    }, 45_000);

    it(`the gateway calls baresip out (POST /v1/calls; answer c=${SDP_ADDRESS}, RTP from 127.0.0.1): the same both ways`, async () => {
      const g = await start(codec);
      const { cid, peer } = await roomWithPeer(g, ROOM, PEER_TONE, peers);
      const b = await phone(codec);
      const mark = b.mark();
      const res = await g.api('POST', '/v1/calls', { body: { to: { type: 'sip', uri: b.uri }, conversation_id: cid } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const legId: string = res.body.id;
      await b.waitForCall(10_000, mark);
      await b.established(10_000, mark);
      expect(new Set(await b.sdpAddressesSent())).toEqual(new Set([SDP_ADDRESS]));

      await expectTwoWayAudio(g, legId, peer, b, codec);

      // The gateway hangs up: baresip's call closes, and the peer stops hearing it.
      expect((await g.api('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } })).status).toBe(200);
      await b.closed(10_000, mark);
      await peer.until((s) => toneLevel(s, BARESIP_TONE) < SILENT, 'the peer to stop hearing the hung-up baresip');
    }, 45_000);
  });

  it('a softphone whose SIP (127.0.0.3), SDP (127.0.0.2) and RTP (127.0.0.1) addresses all differ: heard and hearing, both directions of call', async () => {
    const g = await start('PCMU');
    const { cid, peer } = await roomWithPeer(g, ROOM, PEER_TONE, peers);
    const b = await phone('PCMU', '127.0.0.3');

    let mark = b.mark();
    await b.dial(`sip:${ROOM}@127.0.0.1:${sipPort(g)}`);
    await b.established(10_000, mark);
    expect(new Set(await b.sdpAddressesSent())).toEqual(new Set([SDP_ADDRESS]));
    // baresip's SIP is on 127.0.0.3: every message it traced went from or to there.
    for (const m of b.sipMessages()) expect([m.from, m.to]).toContain(`127.0.0.3:${b.sipPort}`);
    const inbound = await answeredLeg(g, cid);
    await expectTwoWayAudio(g, inbound, peer, b, 'PCMU');
    await b.hangup();
    await b.closed(10_000, mark);
    await waitUntil(async () => (await g.api('GET', `/v1/legs/${inbound}`)).body?.status === 'ended', { timeoutMs: 10_000, what: 'the inbound leg to end' });
    await peer.until((s) => toneLevel(s, BARESIP_TONE) < SILENT, 'the peer to stop hearing baresip between the calls');

    mark = b.mark();
    const res = await g.api('POST', '/v1/calls', { body: { to: { type: 'sip', uri: b.uri }, conversation_id: cid } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await b.established(10_000, mark);
    await expectTwoWayAudio(g, res.body.id, peer, b, 'PCMU');
    expect((await g.api('PUT', `/v1/legs/${String(res.body.id)}`, { body: { action: 'hangup' } })).status).toBe(200);
    await b.closed(10_000, mark);
  }, 60_000);
});
