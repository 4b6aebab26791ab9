/**
 * The life of one SIP call, on real parts: SIPp callers and callees, raw UDP INVITEs
 * (test/support/sipProbe.ts), scripted phones (sip.js + UDP media) and a real answer_url server,
 * against a gateway on 127.0.0.1.
 *
 * - Outbound, a 200 that crosses our CANCEL (no answer in time, or hung up while it rang) is ACKed
 *   and then BYEd; the callee never stays joined.
 * - Inbound, a hang-up between our 200 and the caller's ACK ends the leg at once and takes its
 *   audio out of the bridge; the BYE goes once the ACK comes. A caller that never ACKs gets one BYE
 *   once the ACK can no longer come (not sip.js's and the leg's both).
 * - Admission: a burst beyond LEGWAY_SIP_MAX_CALLS while calls are still being routed is refused
 *   503 with Retry-After, and never more than the limit is taken.
 * - The route's `mute` and `canSpeak` are applied: the caller joins muted (and nobody hears it),
 *   and the audience of an INVITE without SDP holds once the ACK's answer brings its audio.
 * - POST /v1/calls checks the request before it invites anyone or opens a port.
 *
 * Nothing asserts on timing: states, events, SIP messages and audio levels, polled with generous
 * timeouts.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sippMissing, startSipp, type SippRun, type StartedSipp } from '../sipp/sipp.js';
import { AnswerServer } from '../support/answerServer.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { pcmuSamplesPcap } from '../support/pcap.js';
import { udpSocketsOf, waitUntil } from '../support/resources.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { ScriptedPhone } from '../support/scriptedPhone.js';
import { SipProbe } from '../support/sipProbe.js';
import { sine, toneLevel } from '../support/tone.js';

const missing = sippMissing();
if (missing) console.warn(`SIP call lifecycle tests skipped: ${missing}`);

/** Of the 8000 the callers send: well above codec and mixing loss. */
const AUDIBLE = 1500;
const SILENT = 300;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(missing !== undefined)('the life of a SIP call', () => {
  let gw: TestGateway | undefined;
  let answers: AnswerServer | undefined;
  const sipps: StartedSipp[] = [];
  const phones: ScriptedPhone[] = [];
  const probes: SipProbe[] = [];
  const captures: RtpCapture[] = [];
  let pcapDir = '';

  beforeAll(() => {
    pcapDir = mkdtempSync(join(tmpdir(), 'legway-lifecycle-'));
    // 1 kHz for 8 s at 8000 of 32767, as PCMU from 127.0.0.1.
    writeFileSync(join(pcapDir, 'tone-1000.pcap'), pcmuSamplesPcap({ samples: sine(1000, 8000, 8 * 8000, 8000) }));
  });
  afterAll(() => rmSync(pcapDir, { recursive: true, force: true }));

  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.close()));
    await Promise.all(probes.splice(0).map((p) => p.close()));
    await gw?.close();
    gw = undefined;
    // Each SIPp ends by its scenario or its own -timeout.
    await Promise.all(sipps.splice(0).map((s) => s.finished));
    await Promise.all(captures.splice(0).map((c) => c.close()));
    await answers?.close();
    answers = undefined;
  });

  async function start(env: Record<string, string> = {}): Promise<TestGateway> {
    gw = await startGateway({
      env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_TRUNKS: '127.0.0.0/8', LEGWAY_LOG_LEVEL: process.env.LEGWAY_TEST_LOG_LEVEL ?? 'silent', ...env },
    });
    return gw;
  }

  async function withAnswerUrl(env: Record<string, string> = {}): Promise<{ g: TestGateway; server: AnswerServer }> {
    answers = await AnswerServer.start();
    return { g: await start({ LEGWAY_ANSWER_URL: answers.url, ...env }), server: answers };
  }

  function sipTarget(g: TestGateway): { address: string; port: number } {
    const sip = g.app.sip;
    if (sip === undefined) throw new Error('the gateway runs no SIP server');
    return { address: '127.0.0.1', port: sip.port };
  }

  async function sipp(options: Parameters<typeof startSipp>[0]): Promise<StartedSipp> {
    const started = await startSipp(options);
    sipps.push(started);
    return started;
  }

  async function phone(name: string): Promise<ScriptedPhone> {
    const p = await ScriptedPhone.open({ name });
    phones.push(p);
    return p;
  }

  async function probe(g: TestGateway): Promise<SipProbe> {
    const p = await SipProbe.open(sipTarget(g));
    probes.push(p);
    return p;
  }

  const expectPassed = (run: SippRun): void => expect(run.code, run.trace).toBe(0);

  async function conversationNamed(g: TestGateway, name: string): Promise<string | undefined> {
    const res = await g.api('GET', '/v1/conversations?page_size=100');
    return (res.body._embedded.conversations as any[]).find((c) => c.name === name)?.id as string | undefined;
  }

  async function waitConversation(g: TestGateway, name: string): Promise<string> {
    let cid: string | undefined;
    await waitUntil(async () => (cid = await conversationNamed(g, name)) !== undefined, { timeoutMs: 10_000, what: `the conversation ${name}` });
    return String(cid);
  }

  async function events(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`);
    expect(res.status).toBe(200);
    return res.body._embedded.events as any[];
  }

  async function legsOf(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/legs`);
    expect(res.status).toBe(200);
    return res.body._embedded.legs as any[];
  }

  async function membersOf(g: TestGateway, cid: string): Promise<any[]> {
    const res = await g.api('GET', `/v1/conversations/${cid}/members?page_size=100`);
    expect(res.status).toBe(200);
    return res.body._embedded.members as any[];
  }

  const ofLeg = (list: any[], legId: string, type: string): any[] => list.filter((e) => e.type === type && e.body?.leg_id === legId);
  const memberEvents = (list: any[], name: string): string[] =>
    list.filter((e) => e.type.startsWith('member:') && e.body?.user?.name === name).map((e) => e.type as string);

  /** The leg of `cid` that passes `test`, once there is one. */
  async function legWhere(g: TestGateway, cid: string, test: (leg: any) => boolean, what: string): Promise<any> {
    let found: any;
    await waitUntil(async () => (found = (await legsOf(g, cid)).find(test)) !== undefined, { timeoutMs: 10_000, what });
    return found;
  }

  describe('outbound: a 200 that crosses our CANCEL', () => {
    const ways = [
      { how: 'the ringing_timer runs out', body: { ringing_timer: 3 }, hangup: false, cause: { cause: 'no answer', by: 'system' } },
      { how: 'the application hangs up while it rings', body: {}, hangup: true, cause: { by: 'local' } },
    ];
    for (const way of ways) {
      it(`is ACKed and then BYEd when ${way.how}; the call ends and the callee never stays joined`, async () => {
        const g = await start();
        const cid = (await g.api('POST', '/v1/conversations', { body: { name: 'dial-out' } })).body.id as string;
        // The callee rings, and answers the INVITE 200 after our CANCEL; it fails without our ACK and BYE.
        const callee = await sipp({ scenario: 'uas-invite-answer-200-after-cancel-expect-ack-bye.xml', transport: 'u1', timeoutSeconds: 20 });
        const res = await g.api('POST', '/v1/calls', {
          body: { to: { type: 'sip', uri: `sip:bob@127.0.0.1:${callee.port}` }, conversation_id: cid, ...way.body },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        const legId = res.body.id as string;
        if (way.hangup) {
          await waitUntil(async () => ofLeg(await events(g, cid), legId, 'sip:ringing').length > 0, { timeoutMs: 10_000, what: 'the callee to ring' });
          const hung = await g.api('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } });
          expect(hung.status, JSON.stringify(hung.body)).toBe(200);
        }
        expectPassed(await callee.finished);

        await waitUntil(async () => ofLeg(await events(g, cid), legId, 'sip:hangup').length === 1, { timeoutMs: 10_000, what: 'sip:hangup' });
        await waitUntil(() => g.app.legs.active === 0, { timeoutMs: 10_000, what: 'no leg running' });
        const list = await events(g, cid);
        expect(ofLeg(list, legId, 'sip:hangup').map((e) => e.body)).toEqual([expect.objectContaining(way.cause)]);
        // The late answer is no answer: the call never connected.
        expect(ofLeg(list, legId, 'sip:answered')).toEqual([]);
        expect((await g.api('GET', `/v1/legs/${legId}`)).body.status).toBe('ended');
        expect(memberEvents(list, 'sip-bob')).not.toContain('member:joined');
        expect((await membersOf(g, cid)).filter((m) => m.state === 'joined')).toEqual([]);
      });
    }
  });

  describe('inbound: a hang-up before the caller ACKs our 200', () => {
    it('ends the leg at once and takes its audio out of the bridge; the BYE goes after the ACK, and is answered', async () => {
      const g = await start({ LEGWAY_SIP_ROUTES: '*=slow-ack' });
      // The caller waits 4 s between our 200 and its ACK, then expects our BYE.
      const caller = await sipp({
        scenario: 'uac-invite-delay-ack-expect-bye.xml',
        transport: 'u1',
        target: `127.0.0.1:${sipTarget(g).port}`,
        timeoutSeconds: 20,
        extra: ['-set', 'ack_delay_ms', '4000'],
      });
      const cid = await waitConversation(g, 'slow-ack');
      // Answered, waiting for the ACK.
      const leg = await legWhere(g, cid, (l) => l.type === 'sip' && l.status === 'connecting', 'the answered leg waiting for its ACK');
      expect(g.app.legs.liveBridge(cid)?.has(leg.id)).toBe(true);

      // SIPp's run ends only once it has had our BYE, which must wait for its ACK.
      let finished = false;
      void caller.finished.then(() => (finished = true));
      const res = await g.api('PUT', `/v1/legs/${String(leg.id)}`, { body: { action: 'hangup' } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // Ended before the caller has ACKed (SIPp is still pausing: its run has not finished).
      await waitUntil(async () => (await g.api('GET', `/v1/legs/${String(leg.id)}`)).body.status === 'ended', { timeoutMs: 10_000, what: 'the leg to end' });
      expect(finished, 'the caller had already been BYEd when the leg ended').toBe(false);
      expect(g.app.legs.liveBridge(cid)?.has(leg.id) ?? false).toBe(false);
      expect(ofLeg(await events(g, cid), leg.id, 'sip:hangup').map((e) => e.body)).toEqual([expect.objectContaining({ by: 'local' })]);

      // Its ACK comes, and then our BYE, which it answers 200.
      expectPassed(await caller.finished);
      await waitUntil(async () => memberEvents(await events(g, cid), 'sip-sipp').includes('member:left'), { timeoutMs: 10_000, what: 'the caller to leave' });
      expect(g.app.legs.active).toBe(0);
    });
  });

  describe('inbound: a caller that never ACKs our 200', () => {
    // 64·T1 (32 s) must pass before the ACK can no longer come: this test takes that long.
    it('gets exactly one BYE once the ACK can no longer come, and its leg ends "no ACK"', { timeout: 70_000 }, async () => {
      const g = await start({ LEGWAY_SIP_ROUTES: '*=never-ack' });
      // The caller answers the BYE 200, and fails if a second BYE follows within 3 s.
      const caller = await sipp({
        scenario: 'uac-invite-never-ack-expect-one-bye.xml',
        transport: 'u1',
        target: `127.0.0.1:${sipTarget(g).port}`,
        timeoutSeconds: 60,
      });
      const cid = await waitConversation(g, 'never-ack');
      const leg = await legWhere(g, cid, (l) => l.type === 'sip', 'the answered leg');
      expectPassed(await caller.finished);
      await waitUntil(async () => (await g.api('GET', `/v1/legs/${String(leg.id)}`)).body.status === 'ended', { timeoutMs: 10_000, what: 'the leg to end' });
      expect(ofLeg(await events(g, cid), leg.id, 'sip:hangup').map((e) => e.body)).toEqual([expect.objectContaining({ cause: 'no ACK', by: 'system' })]);
      expect(g.app.legs.active).toBe(0);
    });
  });

  describe('admission', () => {
    it('with LEGWAY_SIP_MAX_CALLS=20, 200 INVITEs at once while answer_url takes 1 s: at most 20 are taken, every other one gets 503 with Retry-After', async () => {
      const { g, server } = await withAnswerUrl({ LEGWAY_SIP_MAX_CALLS: '20' });
      server.reply = () => ({ body: [{ action: 'conversation', name: 'burst' }], delayMs: 1000 });
      const p = await probe(g);
      const calls = await p.inviteMany(200, (i) => ({ user: 'burst', fromUser: `caller${i}` }), { perTick: 200, tickMs: 0 });
      await waitUntil(() => calls.every((c) => c.final !== undefined), {
        timeoutMs: 20_000,
        what: () => `a final response to every INVITE (${calls.filter((c) => c.final).length} of 200)`,
      });

      const finals = calls.map((c) => c.final!);
      const answered = calls.filter((c) => c.final?.status === 200);
      const refused = finals.filter((f) => f.status === 503);
      expect(answered.length + refused.length, JSON.stringify(finals.map((f) => f.startLine).filter((l) => !/ (200|503) /.test(l)))).toBe(200);
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.length).toBeLessThanOrEqual(20);
      for (const f of refused) expect(f.header('retry-after'), f.text).toMatch(/^\d+$/);
      // Never more than 20 set up: answer_url was asked for 20 calls at most, and the store holds as many legs and members.
      expect(server.requests.length).toBeLessThanOrEqual(20);
      const cid = await waitConversation(g, 'burst');
      expect((await legsOf(g, cid)).length).toBe(answered.length);
      expect((await membersOf(g, cid)).length).toBe(answered.length);

      // The slots come back when the calls end: the next call is taken.
      for (const c of answered) c.bye();
      await waitUntil(() => g.app.legs.active === 0, { timeoutMs: 10_000, what: 'every call to end' });
      const next = p.invite({ user: 'burst', fromUser: 'late' });
      await waitUntil(() => next.final !== undefined, { timeoutMs: 10_000, what: 'the answer to the next call' });
      expect(next.final?.status).toBe(200);
      next.bye();
    });
  });

  describe("the route's mute and audience", () => {
    const ROOM = 'room';

    it('an NCCO with mute: true connects the caller muted (audio:mute:on, media.muted), and the others do not hear it until it is unmuted', async () => {
      const { g, server } = await withAnswerUrl();
      server.reply = (r) => ({ body: [{ action: 'conversation', name: ROOM, ...(r.from === 'caller' && { mute: true }) }] });
      const target = sipTarget(g);
      const b = await phone('listener');
      await b.call(target, ROOM);
      b.startTone({ frequency: 600 });
      const a = await phone('caller');
      await a.call(target, ROOM);
      const cid = await waitConversation(g, ROOM);
      const legA = String(server.requests.find((r) => r.from === 'caller')?.leg_id);

      await waitUntil(async () => ofLeg(await events(g, cid), legA, 'audio:mute:on').length === 1, {
        timeoutMs: 10_000,
        what: "audio:mute:on for the caller's leg",
      });
      const got = (await g.api('GET', `/v1/legs/${legA}`)).body;
      expect(got).toMatchObject({ status: 'connected', media: { muted: true } });

      // The caller talks (1000 Hz) and hears the room (600 Hz from B); B hears none of it.
      a.startTone({ frequency: 1000 });
      await a.until((pcm) => toneLevel(pcm, 600, 8000) > AUDIBLE, "the caller to hear B's 600 Hz");
      await waitUntil(async () => ((await g.api('GET', `/v1/legs/${legA}`)).body.stats?.packets_in ?? 0) >= 50, {
        timeoutMs: 10_000,
        what: "the caller's RTP to reach the gateway",
      });
      const from = performance.now();
      await sleep(1500);
      const levels = b.windowLevels(1000, from, performance.now(), 100);
      expect(levels.length).toBeGreaterThan(5);
      expect(Math.max(...levels), `B heard the muted caller: ${levels.map((l) => l.toFixed(0)).join(' ')}`).toBeLessThan(SILENT);

      // Unmuted, the same caller is heard: the silence above was the mute.
      expect((await g.api('PUT', `/v1/legs/${legA}`, { body: { action: 'unmute' } })).status).toBe(200);
      await b.until((pcm) => toneLevel(pcm, 1000, 8000) > AUDIBLE, 'B to hear the unmuted caller');
    });

    it('an NCCO with canSpeak: [] for an INVITE without SDP: once the ACK answers our offer, nobody hears the caller, who hears the room', async () => {
      const { g, server } = await withAnswerUrl();
      server.reply = (r) => ({ body: [{ action: 'conversation', name: ROOM, ...(r.from === 'sipp' && { canSpeak: [] }) }] });
      const target = sipTarget(g);
      // B listens; C talks at 1400 Hz, which B must hear (B's ears work).
      const b = await phone('listener');
      await b.call(target, ROOM);
      const c = await phone('talker');
      await c.call(target, ROOM);
      c.startTone({ frequency: 1400 });
      b.startTone({ frequency: 600 });
      await b.until((pcm) => toneLevel(pcm, 1400, 8000) > AUDIBLE, "B to hear C's 1400 Hz");

      // The SIPp caller offers nothing; its ACK answers PCMU, and it plays 1 kHz from then on.
      const capture = await RtpCapture.open();
      captures.push(capture);
      const caller = await sipp({
        scenario: 'uac-invite-no-sdp-answer-in-ack-play-pcap-expect-200.xml',
        transport: 'u1',
        target: `${target.address}:${target.port}`,
        timeoutSeconds: 20,
        extra: ['-mi', '127.0.0.1', '-mp', String(capture.sippMediaPort), '-key', 'pcap', join(pcapDir, 'tone-1000.pcap'), '-set', 'talk_ms', '6000'],
      });
      const cid = await waitConversation(g, ROOM);
      await waitUntil(() => server.requests.some((r) => r.from === 'sipp'), { timeoutMs: 10_000, what: 'answer_url to be asked for the SIPp caller' });
      const legId = String(server.requests.find((r) => r.from === 'sipp')?.leg_id);
      await legWhere(g, cid, (l) => l.id === legId && l.status === 'connected', "the SIPp caller's leg to connect");

      // The caller hears the room (B's 600 Hz): its audio is in the bridge, and canSpeak does not limit what it hears.
      await capture.until((pcm) => toneLevel(pcm, 600, 8000) > AUDIBLE, "the SIPp caller to hear B's 600 Hz");
      await waitUntil(async () => ((await g.api('GET', `/v1/legs/${legId}`)).body.stats?.packets_in ?? 0) >= 50, {
        timeoutMs: 10_000,
        what: "the SIPp caller's RTP to reach the gateway",
      });
      const from = performance.now();
      await sleep(1500);
      const now = performance.now();
      const caller1000 = b.windowLevels(1000, from, now, 100);
      expect(caller1000.length).toBeGreaterThan(5);
      expect(Math.max(...caller1000), `B heard the caller that may speak to nobody: ${caller1000.map((l) => l.toFixed(0)).join(' ')}`).toBeLessThan(SILENT);
      expect(Math.min(...b.windowLevels(1400, from, now, 100)), 'B still hears C meanwhile').toBeGreaterThan(AUDIBLE);
      expectPassed(await caller.finished);
    });
  });

  describe('POST /v1/calls checks the request before anything is made', () => {
    it('an invalid from, a callee user over 128 characters or with control characters: 422, and no member, no leg, no port, no INVITE', async () => {
      const g = await start();
      const cid = (await g.api('POST', '/v1/conversations', { body: { name: 'dial-out' } })).body.id as string;
      // Where the calls would go: a socket that records whatever arrives.
      const callee = createSocket('udp4');
      const arrived: string[] = [];
      callee.on('message', (m) => arrived.push(m.toString('utf8')));
      await new Promise<void>((resolve) => callee.bind(0, '127.0.0.1', () => resolve()));
      try {
        const at = `127.0.0.1:${callee.address().port}`;
        const udpBefore = udpSocketsOf(process.pid);
        const bad = [
          { to: { type: 'sip', uri: `sip:bob@${at}` }, from: 'not a user' },
          { to: { type: 'sip', uri: `sip:bob@${at}` }, from: 'x'.repeat(65) },
          { to: { type: 'sip', uri: `sip:${'b'.repeat(129)}@${at}` } },
          { to: { type: 'sip', uri: `sip:${'b'.repeat(300)}@${at}` }, from: 'helpdesk' },
          { to: { type: 'sip', uri: `sip:bob%0d%0aX-Injected:%20yes@${at}` } },
        ];
        for (const body of bad) {
          const res = await g.api('POST', '/v1/calls', { body: { conversation_id: cid, ringing_timer: 3, ...body } });
          expect(res.status, `${JSON.stringify(body).slice(0, 120)} → ${JSON.stringify(res.body)}`).toBe(422);
        }
        // No RTP port was opened (the gateway runs in this process), and nothing was stored.
        expect(udpSocketsOf(process.pid)).toBe(udpBefore);
        expect(await membersOf(g, cid)).toEqual([]);
        expect(await legsOf(g, cid)).toEqual([]);
        expect((await events(g, cid)).filter((e) => e.type.startsWith('member:') || e.type.startsWith('sip:'))).toEqual([]);
        expect(g.app.legs.active).toBe(0);
        // An INVITE would have been sent before the 201; a moment's grace for the datagram to land.
        await sleep(300);
        expect(arrived).toEqual([]);
      } finally {
        callee.close();
      }
    });
  });
});
