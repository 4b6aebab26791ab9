import type { Socket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fail } from '../../src/domain/errors.js';
import { createOpusCodec } from '../../src/media/audio/opusCodec.js';
import { encodedSilence } from '../../src/media/audio/opusEncoder.js';
import { FAKE_ANSWER_SDP, FakeMediaEngine, fakeOfferSdp, OpusTone, type FakeWebRtcEndpoint } from '../support/fakeEngine.js';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { toneLevel } from '../support/tone.js';

/**
 * The WebRTC leg runner and leg service over the real socket and REST API, on the fake media
 * engine (test/support/fakeEngine.ts): what the endpoint reports is whatever the test says, so
 * each leg's life runs in milliseconds and races can be set up exactly. The same behaviour with
 * real mediasoup and real peers is in webrtc-lifecycle.test.ts.
 */

const AUDIBLE = 1500; // of the 8000 the tones are fed at
const SILENT = 300;
/** For polls on the audio bridge's real-time loop: generous on a loaded machine, a few ticks when idle. */
const AUDIO_WAIT = { timeout: 5000 };

/** A member with its socket joined to the conversation. */
interface Member {
  name: string;
  socket: Socket;
  seen: EventRecorder;
  memberId: string;
}

/** A member whose WebRTC leg is up (the fake endpoint reported ICE and DTLS connected). */
interface Caller extends Member {
  legId: string;
  endpoint: FakeWebRtcEndpoint;
}

let engine: FakeMediaEngine;
let gw: TestGateway;
/** Audio feeds to stop after each test. */
const feeds: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const feed of feeds.splice(0)) clearInterval(feed);
  await gw.close();
  // Every endpoint the gateway made, it freed; and none of its listeners threw.
  expect(engine.open).toBe(0);
  expect(engine.listenerErrors).toEqual([]);
});

const ofLeg = (type: string, legId: string) => (e: any) => e.type === type && e.body?.leg_id === legId;
const mediaOf = (legId: string, audio: boolean) => (e: any) => e.type === 'member:media' && e.body.leg_id === legId && e.body.media.audio === audio;

async function conversation(name: string): Promise<string> {
  const res = await gw.api('POST', '/v1/conversations', { body: { name } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** Makes `name` a joined member, connects its socket and joins the conversation there (no media yet). */
async function member(cid: string, name: string): Promise<Member> {
  const added = await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
  expect(added.status).toBe(201);
  const socket = await gw.connect(await gw.token(name));
  const seen = new EventRecorder(socket);
  const ack = await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
  expect(ack).toMatchObject({ ok: true });
  return { name, socket, seen, memberId: ack.member_id as string };
}

/** `rtc:new` with the member's offer; resolves with the ack. */
function offer(cid: string, m: Member, sdp = fakeOfferSdp()): Promise<any> {
  return request(m.socket, 'rtc:new', { conversation_id: cid, offer: { type: 'offer', sdp } });
}

/** A member whose leg the endpoint reports connected, once its media is announced up. */
async function call(cid: string, name: string, options: { video?: boolean } = {}): Promise<Caller> {
  const m = await member(cid, name);
  const ack = await offer(cid, m, fakeOfferSdp(options));
  expect(ack).toMatchObject({ ok: true });
  const endpoint = engine.endpoint(ack.leg_id);
  endpoint.connect();
  await m.seen.waitFor(mediaOf(ack.leg_id, true));
  return { ...m, legId: ack.leg_id, endpoint };
}

async function legOf(legId: string): Promise<any> {
  const res = await gw.api('GET', `/v1/legs/${legId}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Feeds the endpoint a tone, one real Opus packet every 20 ms, as a peer's microphone does. */
function speak(endpoint: FakeWebRtcEndpoint, frequency: number): void {
  const tone = new OpusTone(frequency);
  feeds.push(setInterval(() => endpoint.feedAudio(tone.next()), 20));
}

/** Tone level of `freq` in the last `frames` frames the gateway sent the endpoint (its mix), decoded. */
function heard(endpoint: FakeWebRtcEndpoint, freq: number, frames = 10): number {
  const decoder = createOpusCodec();
  const samples: number[] = [];
  for (const frame of endpoint.sentAudio.slice(-frames)) {
    const pcm = decoder.decode(frame);
    for (let i = 0; i < pcm.length; i += 2) samples.push(pcm.readInt16LE(i));
  }
  // The first decoded frame is the decoder warming up on a stream it joins midway.
  return toneLevel(samples.slice(960), freq);
}

/** Whether the last `frames` frames sent to the endpoint are all the bridge's shared silence (it hears nobody). */
function hearsNobody(endpoint: FakeWebRtcEndpoint, frames = 5): boolean {
  const last = endpoint.sentAudio.slice(-frames);
  return last.length === frames && last.every((f) => f === encodedSilence());
}

describe('WebRTC legs on the fake media engine', () => {
  beforeEach(async () => {
    engine = new FakeMediaEngine();
    gw = await startGateway({ engine });
  });

  it("rtc:new answers with the engine's SDP and the leg is connecting; trickled candidates reach the endpoint", async () => {
    // Arrange
    const cid = await conversation('answer');
    const a = await member(cid, 'alice');
    const sdp = fakeOfferSdp();

    // Act
    const ack = await offer(cid, a, sdp);

    // Assert: the answer is the endpoint's, made from this member's offer in this conversation.
    expect(ack).toEqual({ ok: true, leg_id: expect.any(String), answer: { type: 'answer', sdp: FAKE_ANSWER_SDP } });
    expect(engine.requests).toEqual([{ conversationId: cid, legId: ack.leg_id, offerSdp: sdp }]);
    expect(await legOf(ack.leg_id)).toMatchObject({ id: ack.leg_id, type: 'webrtc', status: 'connecting', member_id: a.memberId, conversation_id: cid });
    await a.seen.waitFor(ofLeg('rtc:answer', ack.leg_id));
    expect(a.seen.events.filter(ofLeg('rtc:offer', ack.leg_id))).toHaveLength(1);
    // Not up until the endpoint says so.
    expect(a.seen.events.some((e) => e.type === 'member:media' || e.type === 'rtc:status')).toBe(false);

    const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    expect(await request(a.socket, 'rtc:ice', { leg_id: ack.leg_id, candidate })).toEqual({ ok: true });
    // End of gathering (null) is acknowledged and not passed on.
    expect(await request(a.socket, 'rtc:ice', { leg_id: ack.leg_id, candidate: null })).toEqual({ ok: true });
    expect(engine.endpoint(ack.leg_id).candidates).toEqual([candidate]);
  });

  it('ICE and DTLS connected, as the endpoint reports them, are rtc:status events, member:media audio up and a connected leg', async () => {
    // Arrange
    const cid = await conversation('status');
    const a = await member(cid, 'alice');
    const b = await member(cid, 'bob');
    const { leg_id: legId } = await offer(cid, a);

    // Act
    engine.endpoint(legId).connect();

    // Assert: each report is one rtc:status from the leg's member, in order, pushed to every member and logged.
    const up = await a.seen.waitFor(mediaOf(legId, true));
    expect(up).toMatchObject({
      from: a.memberId,
      body: { member_id: a.memberId, leg_id: legId, media: { audio: true, video: false, muted: false, earmuffed: false } },
    });
    const dtls = await b.seen.waitFor((e) => ofLeg('rtc:status', legId)(e) && e.body.kind === 'dtls' && e.body.status === 'connected');
    const statuses = b.seen.events.filter(ofLeg('rtc:status', legId));
    expect(statuses.map((e) => [e.body.kind, e.body.status])).toEqual([
      ['ice', 'connected'],
      ['dtls', 'connecting'],
      ['dtls', 'connected'],
    ]);
    expect(statuses.every((e) => e.from === a.memberId && e.conversation_id === cid)).toBe(true);
    const logged = await gw.api('GET', `/v1/conversations/${cid}/events?event_type=rtc:status`);
    expect(logged.body._embedded.events.map((e: any) => e.id)).toEqual(statuses.map((e) => e.id));
    expect(dtls.id).toBeGreaterThan(up.id);
    expect(await legOf(legId)).toMatchObject({ status: 'connected', media: { muted: false, earmuffed: false, video_muted: false } });
  });

  it('an endpoint that closes by itself (its worker died) ends the leg with rtc:terminate and that reason', async () => {
    // Arrange
    const cid = await conversation('worker-died');
    const a = await call(cid, 'alice');

    // Act
    a.endpoint.die('media worker died');

    // Assert: one rtc:terminate with the endpoint's reason, then its media down; the leg ended.
    const terminate = await a.seen.waitFor(ofLeg('rtc:terminate', a.legId));
    expect(terminate).toMatchObject({ from: a.memberId, body: { leg_id: a.legId, reason: 'media worker died' } });
    const down = await a.seen.waitFor(mediaOf(a.legId, false));
    expect(down.id).toBeGreaterThan(terminate.id);
    await vi.waitFor(async () => expect(await legOf(a.legId)).toMatchObject({ status: 'ended', end_reason: 'media worker died' }));
    expect(gw.app.legs.active).toBe(0);
    expect(a.seen.events.some(ofLeg('rtc:hangup', a.legId))).toBe(false);
    expect(a.seen.events.filter(ofLeg('rtc:terminate', a.legId))).toHaveLength(1);
    // The leg still frees what is left of the endpoint (harmless on a dead one), once.
    expect(a.endpoint.closeCalls).toBe(1);
    expect(a.endpoint.closedReason).toBe('media worker died');
  });

  it("an offer the engine refuses is answered with the engine's own BadRequest, and no leg is left running", async () => {
    // Arrange
    const cid = await conversation('bad-offer');
    const a = await member(cid, 'alice');
    engine.refuseOffersContaining('a=x-unusable');

    // Act
    const ack = await offer(cid, a, fakeOfferSdp({ extra: 'a=x-unusable' }));

    // Assert: the engine's code and message, not one guessed by the gateway.
    expect(ack).toEqual({ ok: false, error: { code: 'BadRequest', message: 'the fake engine refuses offers with a=x-unusable' } });
    const [asked] = engine.requests;
    const terminate = await a.seen.waitFor(ofLeg('rtc:terminate', asked!.legId));
    expect(terminate.body.reason).toBe('answer failed: the fake engine refuses offers with a=x-unusable');
    await vi.waitFor(() => expect(gw.app.legs.active).toBe(0));
    expect(engine.made).toHaveLength(0);
    expect(await legOf(asked!.legId)).toMatchObject({ status: 'ended' });
  });

  it('an engine failure without a code is Unavailable, whatever its message says', async () => {
    // Arrange
    const cid = await conversation('engine-crash');
    const a = await member(cid, 'alice');
    engine.failNext(new Error('BadRequest? no: the router could not be made'));

    // Act
    const ack = await offer(cid, a);

    // Assert
    expect(ack).toMatchObject({ ok: false, error: { code: 'Unavailable' } });
    await vi.waitFor(() => expect(gw.app.legs.active).toBe(0));
    // A coded failure crosses as it is.
    engine.failNext(fail('Forbidden', 'the fake engine says no'));
    expect(await offer(cid, a)).toEqual({ ok: false, error: { code: 'Forbidden', message: 'the fake engine says no' } });
  });

  it('a member who leaves while its endpoint is being made: rtc:new is Unavailable and the endpoint, once made, is closed', async () => {
    // Arrange: the engine holds the creation until the test lets it finish.
    const cid = await conversation('leave-early');
    const a = await member(cid, 'alice');
    const held = engine.holdNext();
    const rtc = offer(cid, a);
    const asked = await held.asked;

    // Act: the member leaves while the leg is still answering.
    const left = await request(a.socket, 'conversation:leave', { conversation_id: cid });

    // Assert: the leg ends at once, the offer is refused, and nothing is made yet.
    expect(left).toMatchObject({ ok: true, member_id: a.memberId });
    expect(await rtc).toMatchObject({ ok: false, error: { code: 'Unavailable', message: 'member left' } });
    expect(await legOf(asked.legId)).toMatchObject({ status: 'ended', end_reason: 'member left' });
    expect(engine.made).toHaveLength(0);

    // The endpoint arrives late: the leg that asked for it is gone, so it is closed, once.
    held.release();
    await vi.waitFor(() => expect(engine.made).toHaveLength(1));
    await vi.waitFor(() => expect(engine.open).toBe(0));
    expect(engine.endpoint(asked.legId).closeCalls).toBe(1);
    expect(gw.app.legs.active).toBe(0);
  });

  it.each([
    ['leg:mute', 'audio:mute', 'muted'],
    ['leg:earmuff', 'audio:earmuff', 'earmuffed'],
    ['leg:video-mute', 'video:mute', 'video_muted'],
  ])('%s on, on, off, off: one %s:on and one off, each repeat a no-op success', async (name, event, flag) => {
    // Arrange
    const cid = await conversation(name.replace(/:/g, '-'));
    const a = await call(cid, 'alice', { video: true });

    // Act
    const acks = [];
    for (const on of [true, true, false, false]) acks.push(await request(a.socket, name, { leg_id: a.legId, on }));

    // Assert: each request succeeds with the leg's media; the off event comes after anything the repeat could have sent.
    expect(acks.map((ack) => [ack.ok, ack.leg_id, ack.media[flag]])).toEqual([
      [true, a.legId, true],
      [true, a.legId, true],
      [true, a.legId, false],
      [true, a.legId, false],
    ]);
    await a.seen.waitFor(ofLeg(`${event}:off`, a.legId));
    const toggles = a.seen.events.filter((e) => e.body?.leg_id === a.legId && e.type.startsWith(`${event}:`));
    expect(toggles).toEqual([
      expect.objectContaining({ type: `${event}:on`, from: a.memberId, body: { leg_id: a.legId, initiator: 'alice' } }),
      expect.objectContaining({ type: `${event}:off`, from: a.memberId, body: { leg_id: a.legId, initiator: 'alice' } }),
    ]);
    // Video mute is the endpoint's own: paused once and resumed once.
    expect(a.endpoint.videoPauseCalls).toEqual(flag === 'video_muted' ? [true, false] : []);
    expect((await legOf(a.legId)).media).toEqual({ muted: false, earmuffed: false, video_muted: false });
  });

  it("video mute stops announcing the member's video in member:media and pauses the endpoint's video", async () => {
    // Arrange
    const cid = await conversation('video-mute');
    const a = await call(cid, 'alice', { video: true });
    expect(a.seen.events.find(mediaOf(a.legId, true)).body.media.video).toBe(true);

    // Act
    const ack = await request(a.socket, 'leg:video-mute', { leg_id: a.legId, on: true });

    // Assert
    expect(ack).toMatchObject({ ok: true, media: { video_muted: true } });
    const on = await a.seen.waitFor(ofLeg('video:mute:on', a.legId));
    const media = await a.seen.waitFor((e) => mediaOf(a.legId, true)(e) && e.id > on.id);
    expect(media.body.media).toEqual({ audio: true, video: false, muted: false, earmuffed: false });
    expect(a.endpoint.videoPaused).toBe(true);
  });

  it('mute takes the leg out of what the others hear and earmuff out of what it hears, each reaching the audio bridge', async () => {
    // Arrange: both talk, each hears the other.
    const cid = await conversation('audio');
    const a = await call(cid, 'alice');
    const b = await call(cid, 'bob');
    speak(a.endpoint, 440);
    speak(b.endpoint, 880);
    await b.seen.waitFor(ofLeg('audio:speaking:on', a.legId));
    await vi.waitFor(() => expect(heard(b.endpoint, 440)).toBeGreaterThan(AUDIBLE), AUDIO_WAIT);
    await vi.waitFor(() => expect(heard(a.endpoint, 880)).toBeGreaterThan(AUDIBLE), AUDIO_WAIT);

    // Act + assert: Alice mutes; Bob hears nobody, Alice still hears Bob.
    expect(await request(a.socket, 'leg:mute', { leg_id: a.legId, on: true })).toMatchObject({ ok: true, media: { muted: true } });
    await vi.waitFor(() => expect(hearsNobody(b.endpoint)).toBe(true), AUDIO_WAIT);
    expect(heard(a.endpoint, 880)).toBeGreaterThan(AUDIBLE);

    // Alice earmuffs too; she hears nobody either.
    expect(await request(a.socket, 'leg:earmuff', { leg_id: a.legId, on: true })).toMatchObject({ ok: true, media: { muted: true, earmuffed: true } });
    await vi.waitFor(() => expect(hearsNobody(a.endpoint)).toBe(true), AUDIO_WAIT);

    // Both lifted: each hears the other again.
    await request(a.socket, 'leg:mute', { leg_id: a.legId, on: false });
    await request(a.socket, 'leg:earmuff', { leg_id: a.legId, on: false });
    await vi.waitFor(() => expect(heard(b.endpoint, 440)).toBeGreaterThan(AUDIBLE), AUDIO_WAIT);
    await vi.waitFor(() => expect(heard(a.endpoint, 880)).toBeGreaterThan(AUDIBLE), AUDIO_WAIT);
    expect(heard(b.endpoint, 880)).toBeLessThan(SILENT);
  });

  it('video between two legs is offered to each client (rtc:offer) and its answers reach the endpoint', async () => {
    // Arrange
    const cid = await conversation('video');
    const a = await call(cid, 'alice', { video: true });

    // Act: a second video leg comes up; each is to receive the other's video.
    const b = await call(cid, 'bob', { video: true });

    // Assert: each client is pushed its endpoint's offer, and its answer is applied.
    for (const [me, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const pushed = await me.seen.waitFor((e) => e.name === 'rtc:offer' && e.leg_id === me.legId && e.offer !== undefined);
      expect(me.endpoint.forwarding).toEqual(new Set([other.legId]));
      expect(pushed.offer).toEqual({ type: 'offer', sdp: me.endpoint.offers[0] });
      const answer = { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
      expect(await request(me.socket, 'rtc:answer', { leg_id: me.legId, answer })).toEqual({ ok: true, leg_id: me.legId });
      expect(me.endpoint.appliedAnswers).toEqual([answer.sdp]);
    }
    // An answer with no offer waiting is refused by the endpoint's check.
    expect(await request(a.socket, 'rtc:answer', { leg_id: a.legId, answer: { type: 'answer', sdp: 'v=0\r\n' } })).toMatchObject({
      ok: false,
      error: { code: 'InvalidState' },
    });

    // Bob hangs up: Alice stops receiving his video, in a new offer.
    await request(b.socket, 'rtc:hangup', { leg_id: b.legId });
    await vi.waitFor(() => expect(a.endpoint.offers).toHaveLength(2));
    expect(a.endpoint.forwarding.size).toBe(0);
  });

  it('a client hang-up is one rtc:hangup, its media down and its endpoint closed exactly once; the other leg stays', async () => {
    // Arrange
    const cid = await conversation('hangup');
    const a = await call(cid, 'alice');
    const b = await call(cid, 'bob');

    // Act
    const ack = await request(a.socket, 'rtc:hangup', { leg_id: a.legId });

    // Assert
    expect(ack).toEqual({ ok: true, leg_id: a.legId });
    const hangup = await b.seen.waitFor(ofLeg('rtc:hangup', a.legId));
    expect(hangup).toMatchObject({ from: a.memberId, conversation_id: cid });
    await b.seen.waitFor((e) => mediaOf(a.legId, false)(e) && e.id > hangup.id);
    await vi.waitFor(async () => expect(await legOf(a.legId)).toMatchObject({ status: 'ended', end_reason: 'client hung up' }));
    expect(a.endpoint.closeCalls).toBe(1);
    expect(a.endpoint.closedReason).toBe('closed');
    expect(b.seen.events.some(ofLeg('rtc:terminate', a.legId))).toBe(false);

    // A second hang-up of the ended leg is refused and changes nothing.
    expect(await request(a.socket, 'rtc:hangup', { leg_id: a.legId })).toMatchObject({ ok: false, error: { code: 'InvalidState' } });
    expect(a.endpoint.closeCalls).toBe(1);
    expect(b.seen.events.filter(ofLeg('rtc:hangup', a.legId))).toHaveLength(1);
    expect(b.endpoint.closed).toBe(false);
    expect(await legOf(b.legId)).toMatchObject({ status: 'connected' });
    expect(gw.app.legs.active).toBe(1);
  });

  it('deleting the conversation ends every leg once, connected, connecting or still being made', async () => {
    // Arrange: Alice connected, Bob connecting, Carol's endpoint still being made.
    const cid = await conversation('delete');
    const a = await call(cid, 'alice');
    const b = await member(cid, 'bob');
    const bobLeg = (await offer(cid, b)).leg_id as string;
    const c = await member(cid, 'carol');
    const held = engine.holdNext();
    const carolOffer = offer(cid, c);
    const carolLeg = (await held.asked).legId;

    // Act
    const deleted = await gw.api('DELETE', `/v1/conversations/${cid}`);

    // Assert: each member is pushed one rtc:terminate per leg, all before conversation:deleted.
    expect(deleted.status).toBe(204);
    expect(await carolOffer).toMatchObject({ ok: false, error: { code: 'Unavailable' } });
    const legIds = [a.legId, bobLeg, carolLeg].sort();
    for (const m of [a, b, c]) {
      const end = await m.seen.waitFor((e) => e.type === 'conversation:deleted');
      const terminates = m.seen.events.filter((e) => e.type === 'rtc:terminate');
      expect(terminates.map((e) => e.body.leg_id).sort()).toEqual(legIds);
      expect(terminates.every((e) => e.body.reason === 'conversation deleted' && e.id < end.id)).toBe(true);
      expect(m.seen.events.some((e) => e.type === 'rtc:hangup')).toBe(false);
    }
    held.release();
    await vi.waitFor(() => expect(engine.made).toHaveLength(3));
    await vi.waitFor(() => expect(engine.open).toBe(0));
    expect(engine.made.map((e) => e.closeCalls)).toEqual([1, 1, 1]);
    expect(gw.app.legs.active).toBe(0);
  });

  it('closing the gateway ends every leg with rtc:terminate and closes every endpoint once', async () => {
    // Arrange: legs in two conversations, one connected and one connecting.
    const a = await call(await conversation('close-1'), 'alice');
    const cid2 = await conversation('close-2');
    const b = await member(cid2, 'bob');
    const bobLeg = (await offer(cid2, b)).leg_id as string;
    // What the gateway logs while it shuts down (what a client reading the log afterwards sees).
    const logged: any[] = [];
    gw.app.eventLog.onCommitted((e) => logged.push(e));

    // Act
    await gw.app.close();

    // Assert
    expect(logged.filter((e) => e.type === 'rtc:terminate').map((e) => e.body)).toEqual([
      { leg_id: a.legId, reason: 'gateway shutting down' },
      { leg_id: bobLeg, reason: 'gateway shutting down' },
    ]);
    expect(logged.filter((e) => e.type === 'member:media').map((e) => [e.body.leg_id, e.body.media.audio])).toEqual([[a.legId, false]]);
    expect(engine.made.map((e) => [e.id, e.closeCalls, e.closed])).toEqual([
      [a.legId, 1, true],
      [bobLeg, 1, true],
    ]);
    expect(engine.closeCalls).toBe(1);
    // And the client, still connected while the gateway closed, was sent them before its socket went.
    const lastTwo = a.seen.events.filter((e: any) => e.body?.leg_id === a.legId).slice(-2);
    expect(lastTwo.map((e: any) => [e.type, e.body.media?.audio])).toEqual([
      ['rtc:terminate', undefined],
      ['member:media', false],
    ]);
  });
});

describe('WebRTC leg timeouts on the fake media engine', () => {
  beforeEach(async () => {
    engine = new FakeMediaEngine();
    // The shortest the configuration allows.
    gw = await startGateway({ engine, env: { LEGWAY_RTC_CONNECT_TIMEOUT_MS: '1000', LEGWAY_RTC_DISCONNECT_GRACE_S: '1' } });
  });

  it('a leg that never connects ends at the connect timeout: rtc:terminate and its endpoint closed', async () => {
    // Arrange
    const cid = await conversation('never-connects');
    const a = await member(cid, 'alice');

    // Act: an answered offer whose endpoint never reports ICE up.
    const { leg_id: legId } = await offer(cid, a);

    // Assert
    const terminate = await a.seen.waitFor(ofLeg('rtc:terminate', legId));
    expect(terminate).toMatchObject({ from: a.memberId, body: { leg_id: legId, reason: 'ice timeout' } });
    await vi.waitFor(() => expect(engine.endpoint(legId).closeCalls).toBe(1));
    expect(await legOf(legId)).toMatchObject({ status: 'ended', end_reason: 'ice timeout' });
    // It never had media, so none goes down.
    expect(a.seen.events.some((e) => e.type === 'member:media')).toBe(false);
  });

  it('a connected leg whose ICE stays disconnected past the grace period is ended, its media down', async () => {
    // Arrange
    const cid = await conversation('peer-gone');
    const a = await call(cid, 'alice');

    // Act: the peer goes silent (consent checks stop).
    a.endpoint.report({ kind: 'ice', state: 'disconnected' });

    // Assert
    await a.seen.waitFor((e) => ofLeg('rtc:status', a.legId)(e) && e.body.status === 'disconnected');
    const terminate = await a.seen.waitFor(ofLeg('rtc:terminate', a.legId));
    expect(terminate.body.reason).toBe('media timeout: ICE disconnected');
    await a.seen.waitFor((e) => mediaOf(a.legId, false)(e) && e.id > terminate.id);
    await vi.waitFor(() => expect(a.endpoint.closeCalls).toBe(1));
  });
});
