/**
 * The SIP media path end to end with scripted phones (test/support/scriptedPhone.ts): two phones
 * call the gateway into one conversation (`*=room`), phone A talks (1000 Hz), phone B listens
 * (and talks 600 Hz, which A must hear). What the gateway does with A's RTP is judged by what B
 * receives, by A's leg statistics (`GET /v1/legs/:id` → `stats`), by the conversation's
 * `audio:dtmf` events, by the RTCP A receives and by `/metrics`.
 *
 * - Source learning: RTP from an expected IP (the SDP's c= address, or the IP the call's
 *   signalling came from) is taken at once; a stranger on another IP only after probation and
 *   only while the expected IP is silent; an expected stream takes over at once, after which the
 *   stranger is dropped and counted, and our RTP goes to the learned source.
 * - Packet times 10–60 ms, and a size change mid-call, play without dropouts.
 * - RTCP: the gateway's compound reports reach port+1 and describe A's loss and jitter; A's
 *   report about the gateway's stream shows up in `stats.remote`.
 *
 * SIP legs need no mediasoup: the gateway runs with media off. Nothing here asserts on timing;
 * only audio levels, counters and parsed packets, polled with generous timeouts. Set
 * LEGWAY_TEST_LOG_LEVEL=debug to see the gateway's log (e.g. 'rtp source learned').
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactNtp } from '../../src/media/rtp/rtcp.js';
import { request, startGateway, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { pcmOf, ScriptedPhone, Sprayer, type ScriptedPhoneOptions } from '../support/scriptedPhone.js';
import { toneLevel } from '../support/tone.js';

const ROOM = 'room';
const A_TONE = 1000;
const B_TONE = 600;
const STRANGER_TONE = 2500;
/** Of the 8000 the phones send: well above codec and mixing loss. */
const AUDIBLE = 1500;
const SILENT = 300;
/** 3 dB either way of the steady level. */
const STEADY = Math.SQRT2;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('SIP media with scripted phones: source learning, packet times, RTCP', () => {
  let gw: TestGateway | undefined;
  const phones: ScriptedPhone[] = [];
  const sprayers: Sprayer[] = [];

  afterEach(async () => {
    await Promise.all(sprayers.splice(0).map((s) => s.close()));
    await Promise.all(phones.splice(0).map((p) => p.close()));
    await gw?.close();
    gw = undefined;
  });

  async function start(env: Record<string, string> = {}): Promise<{ g: TestGateway; cid: string }> {
    gw = await startGateway({
      env: {
        LEGWAY_SIP_ENABLED: 'true',
        LEGWAY_SIP_ROUTES: `*=${ROOM}`,
        LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
        LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent',
        ...env,
      },
    });
    const created = await gw.api('POST', '/v1/conversations', { body: { name: ROOM } });
    expect(created.status).toBe(201);
    return { g: gw, cid: created.body.id as string };
  }

  async function phone(options: ScriptedPhoneOptions): Promise<ScriptedPhone> {
    const p = await ScriptedPhone.open(options);
    phones.push(p);
    return p;
  }

  async function sprayer(): Promise<Sprayer> {
    const s = await Sprayer.open({ address: '127.0.0.2' });
    sprayers.push(s);
    return s;
  }

  async function sipLegIds(g: TestGateway, cid: string): Promise<string[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/legs`);
    expect(res.status).toBe(200);
    return (res.body._embedded.legs as any[]).filter((l) => l.type === 'sip').map((l) => l.id as string);
  }

  /** Calls the room from `p`; resolves with the id of the new SIP leg, once it is connected. */
  async function join(g: TestGateway, cid: string, p: ScriptedPhone): Promise<string> {
    const before = new Set(await sipLegIds(g, cid));
    const port = g.app.sip?.port;
    if (port === undefined) throw new Error('the gateway runs no SIP server');
    const answer = await p.call({ address: '127.0.0.1', port }, ROOM);
    expect(answer.payloadTypes[0], answer.sdp).toBe(0);
    let legId: string | undefined;
    await waitUntil(
      async () => {
        legId = (await sipLegIds(g, cid)).find((id) => !before.has(id));
        return legId !== undefined && (await g.api('GET', `/v1/legs/${legId}`)).body.status === 'connected';
      },
      { timeoutMs: 5000, what: `${p.name}'s SIP leg to connect` },
    );
    return legId!;
  }

  async function statsOf(g: TestGateway, legId: string): Promise<any> {
    const res = await g.api('GET', `/v1/legs/${legId}`);
    expect(res.status).toBe(200);
    expect(res.body.stats, `GET /v1/legs/${legId} has no stats: ${JSON.stringify(res.body)}`).toBeDefined();
    return res.body.stats;
  }

  async function dtmfEvents(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100&event_type=audio:dtmf`);
    expect(res.status).toBe(200);
    return res.body._embedded.events as any[];
  }

  /** One sample of `/metrics`: the value of `name` with exactly these labels (0 when absent). */
  async function metric(g: TestGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await g.api('GET', '/metrics', { token: null });
    expect(res.status).toBe(200);
    const text = String(res.body);
    const wanted = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .sort()
      .join(',');
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = (m[2] ?? '')
        .split(',')
        .filter((s) => s.length > 0)
        .sort()
        .join(',');
      if (have === wanted) return Number(m[3]);
    }
    return 0;
  }

  function levelBetween(p: ScriptedPhone, frequency: number, from: number, to: number): number {
    return toneLevel(pcmOf(p.between(from, to)), frequency, 8000);
  }

  it('multi-homed phone: SDP says 127.0.0.5, media and signalling come from 127.0.0.1 → learned at once as expected, heard, and answered there', async () => {
    const { g, cid } = await start();
    const a = await phone({ name: 'alice', sdpAddress: '127.0.0.5' });
    const b = await phone({ name: 'bob' });
    const legA = await join(g, cid, a);
    await join(g, cid, b);
    b.startTone({ frequency: B_TONE });
    a.startTone({ frequency: A_TONE });

    await b.until((pcm) => toneLevel(pcm, A_TONE, 8000) > AUDIBLE, "B to hear A's 1000 Hz");
    await a.until((pcm) => toneLevel(pcm, B_TONE, 8000) > AUDIBLE, "A to receive the conversation's audio (B's 600 Hz) at its socket on 127.0.0.1");

    const stats = await statsOf(g, legA);
    expect(stats.source, JSON.stringify(stats)).toEqual({ address: '127.0.0.1', port: a.port, learned_by: 'expected' });
    expect(stats.codec).toBe('PCMU');
    expect(stats.dropped_wrong_source).toBe(0);
    expect(stats.dropped_probation).toBe(0);
    expect(stats.packets_in).toBeGreaterThan(0);
    // Symmetric RTP: everything A got came from the port the answer announced.
    expect(new Set(a.received.map((p) => p.source))).toEqual(new Set([`${a.answer!.address}:${a.answer!.port}`]));

    // The operator's leg:list shows the same statistics.
    const operator = await g.connect(await g.token('olga', 'operator'), { namespace: '/operator' });
    const listed = await request(operator, 'leg:list', { conversation_id: cid });
    const legOfA = (listed.legs as any[]).find((l) => l.id === legA);
    expect(legOfA?.stats, JSON.stringify(listed)).toMatchObject({ codec: 'PCMU', source: { address: '127.0.0.1', port: a.port, learned_by: 'expected' } });
  });

  it('a stranger rotating its source port every 3 packets never passes probation; A is then learned at once', async () => {
    const { g, cid } = await start();
    const a = await phone({ name: 'alice' });
    const b = await phone({ name: 'bob' });
    const legA = await join(g, cid, a);
    await join(g, cid, b);
    b.startTone({ frequency: B_TONE });

    const s = await Sprayer.open({ address: '127.0.0.2', ports: 4, rotateEvery: 3 });
    sprayers.push(s);
    s.start(a.gatewayRtp, { frequency: STRANGER_TONE });
    await waitUntil(async () => (await statsOf(g, legA)).dropped_probation > 40, { timeoutMs: 5000, what: 'the rotating stranger to be held on probation' });
    const held = await statsOf(g, legA);
    expect(held.source, JSON.stringify(held)).toBeNull();
    expect(held.packets_in).toBe(0);
    expect(b.level(STRANGER_TONE, 500)).toBeLessThan(SILENT);

    a.startTone({ frequency: A_TONE });
    await b.until((pcm) => toneLevel(pcm, A_TONE, 8000) > AUDIBLE, "B to hear A's 1000 Hz");
    const taken = await statsOf(g, legA);
    expect(taken.source).toEqual({ address: '127.0.0.1', port: a.port, learned_by: 'expected' });
    expect(taken.dropped_wrong_source).toBeGreaterThan(0);
    expect(b.level(STRANGER_TONE, 500)).toBeLessThan(SILENT);
    expect(s.received, 'RTP the gateway sent to the rotating stranger').toEqual([]);
  });

  it('a stranger on 127.0.0.2 before, during and after A: A takes over at once, the stranger is dropped and counted, its tone and digits never get through while A sends', async () => {
    const { g, cid } = await start();
    const a = await phone({ name: 'alice' });
    const b = await phone({ name: 'bob' });
    const legA = await join(g, cid, a);
    await join(g, cid, b);
    b.startTone({ frequency: B_TONE });

    // Before A sends anything: the stranger sprays 2500 Hz and '9's at A's leg port. Nothing came
    // from an expected IP, so by the policy it may pass probation and be learned (and heard).
    const s = await sprayer();
    s.start(a.gatewayRtp, { frequency: STRANGER_TONE, digit: '9', digitEveryMs: 500, digitMs: 100 });
    await waitUntil(async () => (await statsOf(g, legA)).source !== null, { timeoutMs: 5000, what: 'the stranger to be learned by probation before A sends' });
    const before = await statsOf(g, legA);
    expect(before.source, JSON.stringify(before)).toMatchObject({ address: '127.0.0.2', learned_by: 'probation' });
    await b.until((pcm) => toneLevel(pcm, STRANGER_TONE, 8000) > AUDIBLE, "B to hear the probation-learned stranger's 2500 Hz before A sends", 5000);

    // No stranger press may be on the wire when A starts: then any '9' reported from now on was
    // taken from the stranger after A's stream took over (a precise "never while A sends").
    await s.pauseDigits();
    await sleep(150);
    const aStartEpoch = Date.now();
    const aStart = performance.now();
    a.startTone({ frequency: A_TONE });
    await waitUntil(async () => (await statsOf(g, legA)).source?.learned_by === 'expected', {
      timeoutMs: 3000,
      what: "A's stream to take over from the stranger",
    });
    s.resumeDigits();
    // Symmetric RTP: while the stranger was the learned source, the conversation's audio went to it.
    expect(s.received.filter((p) => p.at < aStart).length, 'RTP the gateway sent to the probation-learned stranger').toBeGreaterThan(0);

    await sleep(1000);
    const digitsStart = performance.now();
    await a.sendDigits('123', { durationMs: 100, gapMs: 200 });
    const digitsEnd = performance.now();
    await sleep(800);
    const during = await statsOf(g, legA);
    const aStop = performance.now();
    a.stopTone();

    // B: A's tone, never the stranger's, from 300 ms after A started to when A stopped.
    const strangerLevels = b.windowLevels(STRANGER_TONE, aStart + 300, aStop, 100);
    expect(strangerLevels.length).toBeGreaterThan(15);
    expect(Math.max(...strangerLevels), `2500 Hz heard by B while A sends: ${strangerLevels.map(Math.round).join(' ')}`).toBeLessThan(SILENT);
    expect(levelBetween(b, A_TONE, aStart + 300, digitsStart), "B hears A's 1000 Hz before the digits").toBeGreaterThan(AUDIBLE);
    expect(levelBetween(b, A_TONE, digitsEnd + 300, aStop), "B hears A's 1000 Hz after the digits").toBeGreaterThan(AUDIBLE);

    // The digits: exactly 1, 2, 3 from A's leg once each, in order; no '9' since A's first packet.
    await waitUntil(async () => (await dtmfEvents(g, cid)).filter((e) => Date.parse(e.timestamp) >= aStartEpoch).length >= 3, {
      timeoutMs: 5000,
      what: "A's three digits as audio:dtmf",
    });
    await sleep(500); // room for any extra (wrong) event to show up
    const events = await dtmfEvents(g, cid);
    const since = events.filter((e) => Date.parse(e.timestamp) >= aStartEpoch);
    expect(
      since.map((e) => e.body.digit),
      `audio:dtmf since A's first packet: ${JSON.stringify(since.map((e) => e.body))}; before: ${JSON.stringify(events.filter((e) => !since.includes(e)).map((e) => e.body.digit))}`,
    ).toEqual(['1', '2', '3']);
    for (const e of since) expect(e.body).toMatchObject({ leg_id: legA, method: 'rfc4733' });

    // A's leg: learned A's address and port as expected, dropped the stranger and counted it.
    expect(during.source, JSON.stringify(during)).toEqual({ address: '127.0.0.1', port: a.port, learned_by: 'expected' });
    expect(during.dropped_wrong_source, JSON.stringify(during)).toBeGreaterThan(0);
    // Symmetric RTP: A gets the conversation's audio; the stranger got nothing after the takeover.
    expect(levelBetween(a, B_TONE, aStart + 300, aStop)).toBeGreaterThan(AUDIBLE);
    expect(
      s.received.filter((p) => p.at > aStart + 300),
      'RTP the gateway sent to the stranger after A took over',
    ).toEqual([]);

    // After A stops (briefly, well inside the 3 s before re-learning): still dropped and counted, all healthy.
    await sleep(1000);
    const after = await statsOf(g, legA);
    expect(after.dropped_wrong_source).toBeGreaterThan(during.dropped_wrong_source);
    expect(after.source).toEqual({ address: '127.0.0.1', port: a.port, learned_by: 'expected' });
    expect((await g.api('GET', `/v1/legs/${legA}`)).body.status).toBe('connected');
    expect((await g.api('GET', '/healthz', { token: null })).status).toBe(200);
    expect(await metric(g, 'legway_sip_rtp_dropped_packets_total', { reason: 'wrong_source' })).toBeGreaterThan(0);
    expect(s.sent).toBeGreaterThan(100);
  });

  /**
   * The decision this case pins down: a stranger learned by probation while the phone was silent
   * is the leg's source for that while (its audio is heard, its finished presses are reported),
   * but a press still on the wire when the phone's stream takes over never finished: from A's
   * first packet on, nothing of the stranger's may reach the conversation, so no '9' at all.
   */
  it("a stranger's press cut off by A's takeover is not reported after A's first packet", async () => {
    const { g, cid } = await start();
    const a = await phone({ name: 'alice' });
    const b = await phone({ name: 'bob' });
    const legA = await join(g, cid, a);
    await join(g, cid, b);
    b.startTone({ frequency: B_TONE });

    // Long presses (1.5 s, one every 2 s): A starts in the middle of one.
    const s = await sprayer();
    s.start(a.gatewayRtp, { frequency: STRANGER_TONE, digit: '9', digitEveryMs: 2000, digitMs: 1500 });
    await waitUntil(async () => (await statsOf(g, legA)).source?.learned_by === 'probation', {
      timeoutMs: 5000,
      what: 'the stranger to be learned by probation',
    });
    // The first press started with the spray and lasts 1.5 s: A starts while it is on the wire.
    await sleep(300);
    expect(s.inDigit, 'a stranger press on the wire when A starts').toBe(true);
    const aStartEpoch = Date.now();
    a.startTone({ frequency: A_TONE });
    await sleep(1500);
    const since = (await dtmfEvents(g, cid)).filter((e) => Date.parse(e.timestamp) >= aStartEpoch);
    expect(
      since.map((e) => e.body),
      "audio:dtmf reported since A's first packet",
    ).toEqual([]);
  });

  const PTIMES: { name: string; steps: { ptime: number; ms: number }[] }[] = [
    { name: '10 ms', steps: [{ ptime: 10, ms: 2500 }] },
    { name: '30 ms', steps: [{ ptime: 30, ms: 2500 }] },
    { name: '40 ms', steps: [{ ptime: 40, ms: 2500 }] },
    { name: '60 ms', steps: [{ ptime: 60, ms: 2500 }] },
    {
      name: '20 → 30 → 60 ms mid-call',
      steps: [
        { ptime: 20, ms: 1000 },
        { ptime: 30, ms: 1000 },
        { ptime: 60, ms: 1200 },
      ],
    },
  ];

  for (const { name, steps } of PTIMES) {
    it(`packets of ${name}: B hears a continuous 1000 Hz, ptime_in_ms is what A sends, nothing concealed`, async () => {
      const { g, cid } = await start();
      const a = await phone({ name: 'alice' });
      const b = await phone({ name: 'bob' });
      const legA = await join(g, cid, a);
      await join(g, cid, b);
      b.startTone({ frequency: B_TONE });

      const t0 = performance.now();
      const stream = a.startTone({ frequency: A_TONE, ptimeMs: steps[0]!.ptime });
      for (const [i, step] of steps.entries()) {
        if (i > 0) stream.setPtime(step.ptime);
        await sleep(step.ms);
      }
      // Read while A still sends: its end would be concealed (and rightly so).
      const stats = await statsOf(g, legA);
      const t1 = performance.now();
      a.stopTone();

      const levels = b.windowLevels(A_TONE, t0 + 600, t1, 100);
      const sorted = [...levels].sort((x, y) => x - y);
      const steady = sorted[Math.floor(sorted.length / 2)] ?? 0;
      const shown = levels.map(Math.round).join(' ');
      expect(levels.length, shown).toBeGreaterThan(15);
      expect(steady, `steady level of 1000 Hz at B: ${shown}`).toBeGreaterThan(AUDIBLE);
      expect(Math.min(...levels), `a dropout: 100 ms windows of 1000 Hz at B: ${shown}`).toBeGreaterThan(steady / STEADY);
      expect(Math.max(...levels), `100 ms windows of 1000 Hz at B: ${shown}`).toBeLessThan(steady * STEADY);

      expect(stats.ptime_in_ms, JSON.stringify(stats)).toBe(steps.at(-1)!.ptime);
      expect(stats.concealed_ms, JSON.stringify(stats)).toBeLessThanOrEqual(20);
      expect(stats.lost, JSON.stringify(stats)).toBe(0);
      expect(stats.source).toEqual({ address: '127.0.0.1', port: a.port, learned_by: 'expected' });
    });
  }

  it("RTCP: the gateway reports A's loss and jitter to A's port+1, and A's report about the gateway's stream lands in stats.remote", async () => {
    const { g, cid } = await start({ LEGWAY_SIP_RTCP_INTERVAL_MS: '500' });
    const a = await phone({ name: 'alice' });
    const b = await phone({ name: 'bob' });
    const legA = await join(g, cid, a);
    await join(g, cid, b);
    b.startTone({ frequency: B_TONE });
    a.startTone({ frequency: A_TONE, dropEvery: 10, delayEvery: { every: 3, ms: 40 } });
    const ssrcA = a.defaultSsrc;

    // The gateway's compound report on port+1, with a block about A's stream showing loss and jitter.
    const blockAboutA = () =>
      a.reports
        .filter((r) => r.port === 'rtcp')
        .flatMap((r) => [...r.compound.senderReports, ...r.compound.receiverReports].flatMap((rep) => rep.blocks))
        .find((block) => block.ssrc === ssrcA && block.fractionLost > 0 && block.jitter > 0);
    // A clean stream on loopback shows about 1 ms of jitter; every third packet 40 ms late makes far more.
    await waitUntil(() => blockAboutA() !== undefined, {
      timeoutMs: 10_000,
      what: () =>
        `an RTCP report block about A's SSRC with loss and jitter on port+1 (${a.rtcp.length} RTCP datagrams, ${a.reports.length} valid: ${JSON.stringify(a.reports.map((r) => ({ port: r.port, sr: r.compound.senderReports, rr: r.compound.receiverReports })))})`,
    });
    expect(
      a.rtcp.filter((r) => r.compound === undefined),
      'RTCP datagrams that are not valid compound packets',
    ).toEqual([]);
    const report = a.reports.find((r) => r.port === 'rtcp')!;
    expect(report.source.startsWith(`${a.answer!.address}:`)).toBe(true);
    const block = blockAboutA()!;
    // One in ten lost: about 26/256 per interval, give or take the interval's edges.
    expect(block.fractionLost).toBeGreaterThan(5);
    expect(block.fractionLost).toBeLessThan(80);
    expect(block.cumulativeLost).toBeGreaterThan(0);
    expect(block.jitter, 'jitter in 8 kHz ticks').toBeGreaterThan(40);
    // The gateway sends RTP to A, so it sends SRs, under the SSRC of its RTP, with a CNAME.
    const srs = a.reports.flatMap((r) => r.compound.senderReports);
    expect(srs.length).toBeGreaterThan(0);
    expect(new Set(srs.map((sr) => sr.ssrc))).toEqual(new Set([a.gatewaySsrc]));
    expect(srs.at(-1)!.sender.packetCount).toBeGreaterThan(0);
    expect(a.reports.at(-1)!.compound.cnames.get(a.gatewaySsrc!)).toBeTruthy();

    const stats = await statsOf(g, legA);
    expect(stats.lost, JSON.stringify(stats)).toBeGreaterThan(0);
    expect(stats.jitter_ms, JSON.stringify(stats)).toBeGreaterThan(5);
    expect(stats.rtcp_out, JSON.stringify(stats)).toBeGreaterThan(0);

    // A's receiver report about the gateway's stream: 25/256 lost, 10 in all, jitter 80 ticks (10 ms),
    // echoing the gateway's last SR so that the gateway can work out the round trip.
    const lastSr = a.rtcp.filter((r) => r.compound && r.compound.senderReports.length > 0).at(-1)!;
    const sr = lastSr.compound!.senderReports[0]!;
    a.sendReport({
      fractionLost: 25,
      cumulativeLost: 10,
      jitter: 80,
      lastSenderReport: compactNtp(sr.sender.ntpSeconds, sr.sender.ntpFraction),
      delaySinceLastSenderReport: Math.round(((performance.now() - lastSr.at) / 1000) * 65536),
    });
    await waitUntil(async () => (await statsOf(g, legA)).remote !== null, { timeoutMs: 5000, what: "A's report in stats.remote" });
    const after = await statsOf(g, legA);
    expect(after.rtcp_in, JSON.stringify(after)).toBeGreaterThanOrEqual(1);
    expect(after.remote.fraction_lost).toBeCloseTo(25 / 256, 3);
    expect(after.remote.cumulative_lost).toBe(10);
    expect(after.remote.jitter_ms).toBeCloseTo(10, 1);
    expect(after.remote.rtt_ms, JSON.stringify(after.remote)).not.toBeNull();
    expect(after.remote.rtt_ms).toBeGreaterThanOrEqual(0);
    expect(after.remote.rtt_ms).toBeLessThan(500);

    expect(await metric(g, 'legway_sip_rtp_lost_packets_total')).toBeGreaterThan(0);
    expect(await metric(g, 'legway_sip_rtcp_reports_total', { direction: 'in' })).toBeGreaterThanOrEqual(1);
    expect(await metric(g, 'legway_sip_rtcp_reports_total', { direction: 'out' })).toBeGreaterThanOrEqual(1);
    expect(await metric(g, 'legway_sip_rtp_packets_total', { direction: 'in' })).toBeGreaterThan(0);
    expect(await metric(g, 'legway_sip_legs', { codec: 'PCMU' })).toBe(2);
  });
});
