import type { Socket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { activeTimers, settledTimerCount, waitUntil, workerUdpSockets } from '../support/resources.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

/** Tone level of `freq` in the peer's last half second of received audio. */
const heard = (peer: TestPeer, freq: number): number => toneLevel(peer.lastReceived(500), freq);
const AUDIBLE = 1500; // of the 8000 the peers send: well above codec and mixing loss
const SILENT = 300;
/** Generous: ICE, DTLS and the first audio on a loaded machine. */
const EVENT_TIMEOUT = 15_000;

/** A user in the conversation: its socket (joined), what the socket was pushed, and its WebRTC peer once started. */
interface Participant {
  name: string;
  socket: Socket;
  seen: EventRecorder;
  memberId: string;
  peer: TestPeer;
}

describe('WebRTC leg lifecycle over the socket API', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function conversation(name: string): Promise<string> {
    const res = await gw.api('POST', '/v1/conversations', { body: { name } });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  /** Makes `name` a joined member, connects its socket and joins the conversation there (no media yet). */
  async function member(cid: string, name: string): Promise<Omit<Participant, 'peer'>> {
    const added = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    expect(added.status).toBe(201);
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    const ack = await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    expect(ack).toMatchObject({ ok: true });
    return { name, socket, seen, memberId: ack.member_id as string };
  }

  /** Starts the member's WebRTC leg (`rtc:new`) and waits until its media is up (connected). */
  async function startMedia(cid: string, m: Omit<Participant, 'peer'>): Promise<Participant> {
    const peer = new TestPeer(m.socket);
    peers.push(peer);
    const rtc = await peer.connect(cid);
    expect(rtc).toMatchObject({ ok: true, leg_id: expect.any(String), answer: { type: 'answer' } });
    // The leg announces its media up (member:media with audio) when ICE has connected.
    await m.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === peer.legId && e.body.media.audio === true, EVENT_TIMEOUT);
    return { ...m, peer };
  }

  async function join(cid: string, name: string): Promise<Participant> {
    return startMedia(cid, await member(cid, name));
  }

  const ofLeg = (type: string, legId: string) => (e: any) => e.type === type && e.body?.leg_id === legId;

  it('reports ICE and DTLS coming up as rtc:status, pushed to the socket and kept in the conversation log', async () => {
    const cid = await conversation('status');
    const a = await member(cid, 'alice');
    const peer = new TestPeer(a.socket);
    peers.push(peer);
    const rtc = await peer.connect(cid);
    expect(rtc).toMatchObject({ ok: true, answer: { type: 'answer' } });
    const legId = peer.legId;

    const ice = await a.seen.waitFor(
      (e) => e.type === 'rtc:status' && e.body.leg_id === legId && e.body.kind === 'ice' && ['connected', 'completed'].includes(e.body.status),
      EVENT_TIMEOUT,
    );
    const dtls = await a.seen.waitFor(
      (e) => e.type === 'rtc:status' && e.body.leg_id === legId && e.body.kind === 'dtls' && e.body.status === 'connected',
      EVENT_TIMEOUT,
    );
    expect(ice).toMatchObject({ name: 'rtc:status', conversation_id: cid, from: a.memberId });
    expect(dtls).toMatchObject({ name: 'rtc:status', conversation_id: cid, from: a.memberId });

    // The same events are in the conversation's log, readable over REST.
    const log = await gw.api('GET', `/v1/conversations/${cid}/events?event_type=rtc:status&page_size=100`);
    expect(log.status).toBe(200);
    const statuses = log.body._embedded.events as any[];
    expect(statuses.every((e) => e.type === 'rtc:status' && e.body.leg_id === legId)).toBe(true);
    expect(statuses).toContainEqual(expect.objectContaining({ id: ice.id, body: ice.body }));
    expect(statuses).toContainEqual(expect.objectContaining({ id: dtls.id, body: { leg_id: legId, kind: 'dtls', status: 'connected' } }));

    // And the leg itself reads as connected.
    const leg = await gw.api('GET', `/v1/legs/${legId}`);
    expect(leg.status).toBe(200);
    expect(leg.body).toMatchObject({ id: legId, status: 'connected', type: 'webrtc', member_id: a.memberId });
  });

  it('self mute over the socket takes the peer out of what the others hear, and only the owner can do it', async () => {
    const cid = await conversation('mute');
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    a.peer.tone(440);
    b.peer.tone(880);
    await b.peer.receiveMore(1500);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear 440 Hz');

    // Bob cannot mute Alice's leg: refused, and Alice is still heard.
    const refused = await request(b.socket, 'leg:mute', { leg_id: a.peer.legId, on: true });
    expect(refused).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
    await b.peer.receiveMore(1000);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear 440 Hz');
    expect((await gw.api('GET', `/v1/legs/${a.peer.legId}`)).body.media).toMatchObject({ muted: false });

    // Alice mutes herself: Bob stops hearing 440 Hz, Alice still hears Bob.
    const muted = await request(a.socket, 'leg:mute', { leg_id: a.peer.legId, on: true });
    expect(muted).toMatchObject({ ok: true, leg_id: a.peer.legId, media: { muted: true } });
    await b.peer.receiveMore(1000);
    await a.peer.receiveMore(0);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    await a.peer.until((s) => toneLevel(s, 880) > AUDIBLE, 'A to hear 880 Hz');
    const on = await a.seen.waitFor(ofLeg('audio:mute:on', a.peer.legId));
    expect(on).toMatchObject({ from: a.memberId, conversation_id: cid });
    await a.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.member_id === a.memberId && e.body.media.muted === true);
    // Bob is told too (every member receives the conversation's events).
    await b.seen.waitFor(ofLeg('audio:mute:on', a.peer.legId));

    // Bob cannot unmute her either: still refused, still silent, no audio:mute:off.
    const refusedAgain = await request(b.socket, 'leg:mute', { leg_id: a.peer.legId, on: false });
    expect(refusedAgain).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
    await b.peer.receiveMore(1000);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    expect(a.seen.events.some(ofLeg('audio:mute:off', a.peer.legId))).toBe(false);
    expect((await gw.api('GET', `/v1/legs/${a.peer.legId}`)).body.media).toMatchObject({ muted: true });

    // Alice unmutes: 440 Hz is back for Bob.
    const unmuted = await request(a.socket, 'leg:mute', { leg_id: a.peer.legId, on: false });
    expect(unmuted).toMatchObject({ ok: true, leg_id: a.peer.legId, media: { muted: false } });
    await b.peer.receiveMore(1000);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear 440 Hz');
    const off = await a.seen.waitFor(ofLeg('audio:mute:off', a.peer.legId));
    expect(off.id).toBeGreaterThan(on.id);
    await a.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.muted === false && e.id > on.id);
    // Exactly one mute and one unmute happened, whatever was refused.
    expect(a.seen.events.filter(ofLeg('audio:mute:on', a.peer.legId))).toHaveLength(1);
    expect(a.seen.events.filter(ofLeg('audio:mute:off', a.peer.legId))).toHaveLength(1);
  });

  it('announces audio:speaking:on and off for the leg that talks, and never for a silent one', async () => {
    const cid = await conversation('speaking');
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    // Both send silence for a while: nobody is speaking.
    await a.peer.receiveMore(1000);
    await b.peer.receiveMore(0);
    expect(b.seen.events.some((e) => e.type === 'audio:speaking:on')).toBe(false);

    a.peer.tone(440);
    const on = await b.seen.waitFor(ofLeg('audio:speaking:on', a.peer.legId), EVENT_TIMEOUT);
    expect(on).toMatchObject({ from: a.memberId, conversation_id: cid, body: { leg_id: a.peer.legId } });
    // Bob hears her at that point (the event matches the audio).
    await b.peer.receiveMore(500);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear 440 Hz');

    a.peer.tone(0);
    const off = await b.seen.waitFor(ofLeg('audio:speaking:off', a.peer.legId), EVENT_TIMEOUT);
    expect(off).toMatchObject({ from: a.memberId, body: { leg_id: a.peer.legId } });
    expect(off.id).toBeGreaterThan(on.id);
    // Alice's own socket gets the same two events.
    await a.seen.waitFor((e) => e.id === on.id && e.type === 'audio:speaking:on');
    await a.seen.waitFor((e) => e.id === off.id && e.type === 'audio:speaking:off');

    // Bob only ever sent silence: no speaking:on for his leg, and one on/off pair for Alice's.
    await b.peer.receiveMore(500);
    expect(b.seen.events.filter(ofLeg('audio:speaking:on', b.peer.legId))).toHaveLength(0);
    expect(b.seen.events.filter(ofLeg('audio:speaking:on', a.peer.legId))).toHaveLength(1);
    expect(b.seen.events.filter(ofLeg('audio:speaking:off', a.peer.legId))).toHaveLength(1);
  });

  it('leg:dtmf logs each key of the client as audio:dtmf, on its own connected leg only', async () => {
    const cid = await conversation('keys');
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    expect(await request(a.socket, 'leg:dtmf', { leg_id: a.peer.legId, digits: '1p#A' })).toMatchObject({ ok: true, leg_id: a.peer.legId });
    for (const digit of ['1', '#', 'A']) {
      const key = await b.seen.waitFor((e) => e.type === 'audio:dtmf' && e.body.digit === digit, EVENT_TIMEOUT);
      expect(key).toMatchObject({ from: a.memberId, body: { leg_id: a.peer.legId, method: 'api' } });
    }
    expect(await request(b.socket, 'leg:dtmf', { leg_id: a.peer.legId, digits: '9' })).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
    expect(await request(a.socket, 'leg:dtmf', { leg_id: a.peer.legId, digits: 'x' })).toMatchObject({ ok: false, error: { code: 'ValidationFailed' } });
    const events = (await gw.api('GET', `/v1/conversations/${cid}/events?event_type=audio:dtmf`)).body._embedded.events;
    expect(events.map((e: any) => e.body.digit)).toEqual(['1', '#', 'A']);
  });

  it('a client hang-up ends that leg (rtc:hangup, status ended) and leaves the other peer connected', async () => {
    const cid = await conversation('hangup');
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    a.peer.tone(440);
    b.peer.tone(880);
    await b.peer.receiveMore(1500);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear 440 Hz');

    const ack = await request(a.socket, 'rtc:hangup', { leg_id: a.peer.legId });
    expect(ack).toMatchObject({ ok: true, leg_id: a.peer.legId });
    const hangup = await a.seen.waitFor(ofLeg('rtc:hangup', a.peer.legId), EVENT_TIMEOUT);
    expect(hangup).toMatchObject({ from: a.memberId, conversation_id: cid });
    await b.seen.waitFor((e) => e.id === hangup.id && e.type === 'rtc:hangup');

    // The leg reads as ended over REST.
    let legA: any;
    await waitUntil(
      async () => {
        legA = (await gw.api('GET', `/v1/legs/${a.peer.legId}`)).body;
        return legA?.status === 'ended';
      },
      { timeoutMs: EVENT_TIMEOUT, what: () => `leg ${a.peer.legId} to end (last seen ${JSON.stringify(legA)})` },
    );
    expect(legA).toMatchObject({ id: a.peer.legId, status: 'ended', timestamp: { ended: expect.any(String) } });
    // A client hang-up is not the gateway terminating the leg.
    expect(a.seen.events.some(ofLeg('rtc:terminate', a.peer.legId))).toBe(false);

    // Bob keeps his leg: still connected, still receiving audio, no longer hearing Alice.
    const legB = await gw.api('GET', `/v1/legs/${b.peer.legId}`);
    expect(legB.body).toMatchObject({ id: b.peer.legId, status: 'connected' });
    await b.peer.receiveMore(1000);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    expect(b.seen.events.some((e) => (e.type === 'rtc:hangup' || e.type === 'rtc:terminate') && e.body.leg_id === b.peer.legId)).toBe(false);
    expect(gw.app.legs.active).toBe(1);
    // And the leg still takes commands.
    expect(await request(b.socket, 'leg:mute', { leg_id: b.peer.legId, on: true })).toMatchObject({ ok: true, media: { muted: true } });
    // A second hang-up of the ended leg changes nothing and is refused.
    const again = await request(a.socket, 'rtc:hangup', { leg_id: a.peer.legId });
    expect(again).toMatchObject({ ok: false });
    expect(a.seen.events.filter(ofLeg('rtc:hangup', a.peer.legId))).toHaveLength(1);
  });

  it('deleting the conversation terminates every leg once and frees every port and timer', async () => {
    const cid = await conversation('delete');
    const members = [await member(cid, 'alice'), await member(cid, 'bob'), await member(cid, 'carol')];

    // Baseline: gateway up, sockets connected and joined, no leg yet.
    const udpBefore = workerUdpSockets();
    const timersBefore = await settledTimerCount();
    expect(gw.app.legs.active).toBe(0);

    const [a, b, c] = [await startMedia(cid, members[0]!), await startMedia(cid, members[1]!), await startMedia(cid, members[2]!)];
    a.peer.tone(440);
    b.peer.tone(660);
    c.peer.tone(880);
    await c.peer.receiveMore(1000);
    await c.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'C to hear 440 Hz');
    expect(gw.app.legs.active).toBe(3);
    // Each leg holds at least one UDP port in the worker while the call is up.
    expect(workerUdpSockets()).toBeGreaterThanOrEqual(udpBefore + 3);

    const legIds = [a.peer.legId, b.peer.legId, c.peer.legId].sort();
    const deleted = await gw.api('DELETE', `/v1/conversations/${cid}`);
    expect(deleted.status).toBe(204);

    // The log of a deleted conversation is gone from REST (404), so the pushed events are what
    // the members see: each gets one rtc:terminate per leg, then conversation:deleted.
    expect((await gw.api('GET', `/v1/conversations/${cid}/events`)).status).toBe(404);
    for (const p of [a, b, c]) {
      const end = await p.seen.waitFor((e) => e.type === 'conversation:deleted', EVENT_TIMEOUT);
      const terminates = p.seen.events.filter((e) => e.type === 'rtc:terminate');
      expect(terminates.map((e) => e.body.leg_id).sort()).toEqual(legIds);
      for (const t of terminates) expect(t.id).toBeLessThan(end.id);
      expect(p.seen.events.some((e) => e.type === 'rtc:hangup')).toBe(false);
    }

    // Every leg is ended, its ports and timers freed. The peers' own send loops are timers of this
    // process too, so they are closed first; the sockets stay connected, as at the baseline.
    for (const p of peers.splice(0)) p.close();
    await expectFreed({ udp: udpBefore, timers: timersBefore });
  });

  it('a leg whose member leaves while its media is still being set up frees its port and timers too', async () => {
    const cid = await conversation('leave-early');
    const a = await member(cid, 'alice');
    const udpBefore = workerUdpSockets();
    const timersBefore = await settledTimerCount();

    // Alice offers and leaves at once (closes the tab while connecting). The server takes the two
    // requests in order: the leave lands while the leg is still creating its media (several round
    // trips to the mediasoup worker).
    const peer = new TestPeer(a.socket);
    peers.push(peer);
    const offer = await peer.offer();
    const [rtc, left] = await Promise.all([
      request(a.socket, 'rtc:new', { conversation_id: cid, offer }),
      request(a.socket, 'conversation:leave', { conversation_id: cid }),
    ]);
    expect(left).toMatchObject({ ok: true, member_id: a.memberId });
    // The leg was started, then ended by the gateway because its member left.
    expect(rtc).toMatchObject({ ok: false, error: { code: 'Unavailable' } });
    const terminate = await a.seen.waitFor((e) => e.type === 'rtc:terminate', EVENT_TIMEOUT);
    expect(terminate).toMatchObject({ from: a.memberId, body: { reason: 'member left' } });
    const legs = await gw.api('GET', `/v1/conversations/${cid}/legs`);
    expect(legs.body._embedded.legs).toEqual([expect.objectContaining({ id: terminate.body.leg_id, status: 'ended' })]);

    for (const p of peers.splice(0)) p.close();
    await expectFreed({ udp: udpBefore, timers: timersBefore });
  });

  it('an offer the engine cannot use is refused BadRequest, its code kept across the leg machine, and nothing keeps running', async () => {
    const cid = await conversation('bad-offer');
    const a = await member(cid, 'alice');
    const peer = new TestPeer(a.socket);
    peers.push(peer);
    const offer = await peer.offer();
    // Plain RTP audio: the SDP parses, but a browser leg must be DTLS-SRTP.
    const plain = { ...offer, sdp: offer.sdp.replace(/m=audio (\d+) UDP\/TLS\/RTP\/SAVPF/, 'm=audio $1 RTP/AVP') };
    expect(plain.sdp).not.toBe(offer.sdp);
    const rtc = await request(a.socket, 'rtc:new', { conversation_id: cid, offer: plain });
    expect(rtc).toMatchObject({ ok: false, error: { code: 'BadRequest' } });
    expect(rtc.error.message).toMatch(/SAVPF/);
    await waitUntil(() => gw.app.legs.active === 0, { timeoutMs: 10_000 });
  });

  /** Polls until no leg runs and the worker's UDP sockets and this process's timers are back to the baseline, then asserts it. */
  async function expectFreed(baseline: { udp: number; timers: number }): Promise<void> {
    const measure = () => ({ udp: workerUdpSockets(), timers: activeTimers(), legs: gw.app.legs.active });
    let last = measure();
    await waitUntil(
      () => {
        last = measure();
        return last.udp === baseline.udp && last.timers === baseline.timers && last.legs === 0;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    ).catch(() => undefined);
    expect(last).toEqual({ ...baseline, legs: 0 });
  }
});
