/**
 * Acceptance of inbound SIP calls with real RTP both ways: SIPp calls the gateway (over UDP and
 * over TCP); the call is answered with a PCMU SDP; a WebRTC peer in the same conversation hears the
 * tone SIPp plays as RTP from a pcap, and SIPp's side receives the gateway's RTP carrying the
 * peer's tone. Also hold and unhold by re-INVITE, with audio checked in each phase.
 *
 * How the SIP side's audio is observed. SIPp plays RTP (`play_pcap_audio`, from a pcap that
 * test/support/pcap.ts writes: 1 kHz as PCMU) but cannot keep or check what it receives, and its
 * `-rtp_echo` would send our audio back into the call. The gateway uses symmetric RTP with
 * source learning (src/media/rtp/sourceLearning.ts): it sends to the address its SIP peer's RTP comes from, and
 * before that to the SDP's. So the SDP's port and the pcap's source port must be one port, that
 * SIPp does not read and the test does. SIPp's pcap playback writes its UDP headers itself (a raw
 * socket, hence root or CAP_NET_RAW) with the source port of the SDP line its port keyword stands
 * on; the scenarios write `m=audio [media_port+4]`, so the pcap leaves from -mp + 4 and the offer
 * announces -mp + 4, while SIPp's own sockets sit on -mp and -mp + 2. RtpCapture listens on
 * -mp + 4 and decodes whatever the gateway sends there. Thus SIPp does all the signalling and
 * plays its RTP itself, and the gateway's RTP is checked sample by sample. (The other way, the
 * test playing the pcap from its own socket, would leave SIPp with the signalling only.)
 * test/integration/sipp-rtp-harness.test.ts checks this arrangement against a stand-in answerer.
 *
 * The gateway's SIP server is reached at `app.sip.port` (SIP is on only with LEGWAY_SIP_ENABLED).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSipp, sippMissing, type SippRun, type StartedSipp } from '../sipp/sipp.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { pcmuTonePcap } from '../support/pcap.js';
import { waitUntil } from '../support/resources.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { toneLevel } from '../support/tone.js';
import type { TestPeer } from '../support/webrtcPeer.js';
import { roomWithPeer } from '../support/roomWithPeer.js';

const missing = sippMissing();
if (missing) console.warn(`SIP call tests skipped: ${missing}`);

const SIP_TONE = 1000; // what SIPp plays (the pcap)
const PEER_TONE = 440; // what the WebRTC peer sends
const AUDIBLE = 1500; // of the 8000 both sides send: well above codec, resampling and mixing loss
const SILENT = 300;
const ROOM = 'sip-room';

const TRANSPORTS = [
  { flag: 'u1', name: 'UDP' },
  { flag: 't1', name: 'TCP' },
] as const;

/** The gateway's SIP port. */
function sipPort(gw: TestGateway): number {
  const sip = gw.app.sip;
  if (sip === undefined) throw new Error('the gateway runs no SIP server: app.sip is undefined (LEGWAY_SIP_ENABLED is true, so it should)');
  return sip.port;
}

/** Waits for `promise`, failing at once (with SIPp's trace) if SIPp ends first. */
function unlessSippEnds<T>(promise: Promise<T>, sipp: StartedSipp): Promise<T> {
  return Promise.race([promise, sipp.finished.then((run) => Promise.reject(new Error(`SIPp ended first:\n${run.trace}`)))]);
}

/** The port of the SDP answer SIPp received (in the 200 to the INVITE), from its message log. */
function answeredRtpPort(run: SippRun): number | undefined {
  const received = run.trace.split(/-{20,}.*\n/).find((m) => /message received/.test(m) && /SIP\/2\.0 200/.test(m) && /CSeq: 1 INVITE/i.test(m));
  const port = /m=audio (\d+) /.exec(received ?? '')?.[1];
  return port === undefined ? undefined : Number(port);
}

describe.skipIf(missing !== undefined)('inbound SIP calls with RTP: SIPp and a WebRTC peer in one conversation', () => {
  let gw: TestGateway | undefined;
  let pcapDir = '';
  const peers: TestPeer[] = [];
  const captures: RtpCapture[] = [];

  beforeAll(() => {
    pcapDir = mkdtempSync(join(tmpdir(), 'legway-pcap-'));
    writeFileSync(join(pcapDir, 'tone-12s.pcap'), pcmuTonePcap({ frequency: SIP_TONE, seconds: 12 }));
    writeFileSync(join(pcapDir, 'tone-40s.pcap'), pcmuTonePcap({ frequency: SIP_TONE, seconds: 40 }));
  });
  afterAll(() => rmSync(pcapDir, { recursive: true, force: true }));

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await Promise.all(captures.splice(0).map((c) => c.close()));
    await gw?.close();
    gw = undefined;
  });

  async function start(): Promise<TestGateway> {
    gw = await startGateway({
      media: true,
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_HOST: '127.0.0.1',
        LEGWAY_SIP_PORT: '0',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.1/32',
      },
    });
    return gw;
  }

  async function call(
    g: TestGateway,
    scenario: string,
    transport: 'u1' | 't1',
    pcap: string,
    lengths: Record<string, number>,
  ): Promise<{ sipp: StartedSipp; capture: RtpCapture }> {
    const capture = await RtpCapture.open();
    captures.push(capture);
    const set = Object.entries(lengths).flatMap(([name, ms]) => ['-set', name, String(ms)]);
    const seconds = Object.values(lengths).reduce((a, b) => a + b, 0) / 1000;
    const sipp = await startSipp({
      scenario,
      transport,
      target: `127.0.0.1:${sipPort(g)}`,
      timeoutSeconds: Math.ceil(seconds) + 15,
      extra: ['-mi', '127.0.0.1', '-mp', String(capture.sippMediaPort), '-key', 'pcap', join(pcapDir, pcap), ...set],
    });
    return { sipp, capture };
  }

  async function events(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100&event_type=${encodeURIComponent('member:joined,sip:*')}`);
    expect(res.status).toBe(200);
    return res.body._embedded.events as any[];
  }

  /**
   * The call's events in the conversation: the SIP member joined (channel sip), then its leg's
   * sip:status 180 and 200, sip:ringing, sip:answered, and one sip:hangup by the remote side, in
   * that order, all from that member and about one leg, which has ended.
   */
  async function expectCallLogged(g: TestGateway, cid: string): Promise<void> {
    await waitUntil(async () => (await events(g, cid)).some((e) => e.type === 'sip:hangup'), { timeoutMs: 5000, what: 'sip:hangup in the conversation' });
    const all = await events(g, cid);
    const joined = all.filter((e) => e.type === 'member:joined' && e.body.channel?.type === 'sip');
    expect(joined, JSON.stringify(all, null, 1)).toHaveLength(1);
    const memberId: string = joined[0].body.member_id;
    const sip = all.filter((e) => e.type.startsWith('sip:'));
    expect(new Set(sip.map((e) => e.from))).toEqual(new Set([memberId]));
    const legIds = new Set(sip.map((e) => e.body.leg_id));
    expect(legIds.size, JSON.stringify(sip, null, 1)).toBe(1);

    const ringing = sip.find((e) => e.type === 'sip:ringing');
    const answered = sip.find((e) => e.type === 'sip:answered');
    const hangups = sip.filter((e) => e.type === 'sip:hangup');
    expect(ringing?.body).toMatchObject({ code: 180 });
    expect(answered?.body).toMatchObject({ direction: 'inbound' });
    expect(sip.filter((e) => e.type === 'sip:status').map((e) => e.body.code)).toEqual(expect.arrayContaining([180, 200]));
    expect(hangups).toHaveLength(1);
    expect(hangups[0].body).toMatchObject({ by: 'remote' });
    expect(joined[0].id).toBeLessThan(answered.id);
    expect(ringing.id).toBeLessThan(answered.id);
    expect(answered.id).toBeLessThan(hangups[0].id);

    const [legId] = legIds;
    await waitUntil(async () => (await g.api('GET', `/v1/legs/${String(legId)}`)).body?.status === 'ended', { timeoutMs: 5000, what: 'the SIP leg to end' });
    expect((await g.api('GET', `/v1/legs/${String(legId)}`)).body).toMatchObject({
      type: 'sip',
      direction: 'inbound',
      conversation_id: cid,
      member_id: memberId,
    });
  }

  for (const { flag, name } of TRANSPORTS) {
    it(`over ${name}: answers with PCMU; the peer hears SIPp's pcap and SIPp's side receives the peer as RTP`, async () => {
      const g = await start();
      const { cid, peer } = await roomWithPeer(g, ROOM, PEER_TONE, peers);
      const { sipp, capture } = await call(g, 'uac-invite-pcmu-rtp-expect-200.xml', flag, 'tone-12s.pcap', { talk_ms: 8000 });

      // Both directions while the call is up (SIPp hangs up after talk_ms).
      await unlessSippEnds(
        peer.until((s) => toneLevel(s, SIP_TONE) > AUDIBLE, "the WebRTC peer to hear SIPp's 1 kHz"),
        sipp,
      );
      await unlessSippEnds(
        capture.until((s) => toneLevel(s, PEER_TONE, 8000) > AUDIBLE, "SIPp's side to receive the peer's 440 Hz as PCMU"),
        sipp,
      );
      // Each hears the other, never itself.
      expect(toneLevel(capture.recent(500), SIP_TONE, 8000)).toBeLessThan(SILENT);
      expect(toneLevel(peer.lastReceived(500), PEER_TONE)).toBeLessThan(SILENT);

      const run = await sipp.finished;
      expect(run.code, run.trace).toBe(0);
      // The gateway's RTP is PCMU, 160 bytes per packet, from the port its answer announced (symmetric RTP).
      const audio = capture.packets.filter((p) => p.payloadType === 0);
      expect(audio.length).toBeGreaterThan(100);
      expect(new Set(audio.map((p) => p.payload.length))).toEqual(new Set([160]));
      expect(capture.packets.every((p) => p.payloadType === 0 || p.payloadType === 101)).toBe(true);
      expect(capture.sources).toEqual([`127.0.0.1:${String(answeredRtpPort(run))}`]);
      expect(new Set(audio.map((p) => p.ssrc)).size).toBe(1);

      await expectCallLogged(g, cid);
      // After the BYE the gateway stops sending, and the peer no longer hears the SIP side.
      await capture.untilQuiet(500, 'the gateway to stop sending RTP after the BYE', 5000);
      await peer.until((s) => toneLevel(s, SIP_TONE) < SILENT, 'the peer to stop hearing the hung-up SIP side');
    }, 60_000);
  }

  it('over UDP: hold (re-INVITE a=sendonly, answered a=recvonly) silences both ways; unhold (a=sendrecv) brings audio back both ways', async () => {
    const g = await start();
    const { cid, peer } = await roomWithPeer(g, ROOM, PEER_TONE, peers);
    // SIPp's pcap plays through the whole call, hold included (as music on hold would).
    const { sipp, capture } = await call(g, 'uac-invite-hold-unhold.xml', 'u1', 'tone-40s.pcap', { talk_ms: 8000, hold_ms: 8000 });

    await unlessSippEnds(
      peer.until((s) => toneLevel(s, SIP_TONE) > AUDIBLE, "the WebRTC peer to hear SIPp's 1 kHz"),
      sipp,
    );
    await unlessSippEnds(
      capture.until((s) => toneLevel(s, PEER_TONE, 8000) > AUDIBLE, "SIPp's side to receive the peer's 440 Hz"),
      sipp,
    );

    // Hold: the gateway answered recvonly, so it sends nothing; and the held side leaves the mix.
    await unlessSippEnds(capture.untilQuiet(500, 'the gateway to stop sending RTP to the held side (it answered a=recvonly)', 15_000), sipp);
    await unlessSippEnds(
      peer.until((s) => toneLevel(s, SIP_TONE) < SILENT, 'the peer to stop hearing the held SIP side', 5000),
      sipp,
    );
    // …and stays so for a while, though SIPp's pcap keeps coming.
    const holdChecked = performance.now();
    await peer.receiveMore(1500);
    expect(toneLevel(peer.lastReceived(1500), SIP_TONE), 'the peer hears the held SIP side').toBeLessThan(SILENT);
    expect(
      capture.since(holdChecked).filter((p) => p.payloadType === 0),
      'PCMU the gateway sent to the held side (it answered a=recvonly)',
    ).toHaveLength(0);

    // Unhold: audio both ways again (no one-way audio after hold).
    await unlessSippEnds(
      capture.until((s) => toneLevel(s, PEER_TONE, 8000) > AUDIBLE, "SIPp's side to receive the peer again after unhold", 15_000),
      sipp,
    );
    await unlessSippEnds(
      peer.until((s) => toneLevel(s, SIP_TONE) > AUDIBLE, 'the peer to hear the SIP side again after unhold', 5000),
      sipp,
    );

    const run = await sipp.finished;
    expect(run.code, run.trace).toBe(0);
    await expectCallLogged(g, cid);
  }, 90_000);
});
