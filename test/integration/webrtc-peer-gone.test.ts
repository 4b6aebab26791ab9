import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { activeTimers, settledTimerCount, waitUntil, workerUdpSockets } from '../support/resources.js';
import { TestPeer } from '../support/webrtcPeer.js';

/** Generous: ICE, DTLS and the first audio on a loaded machine. */
const EVENT_TIMEOUT = 15_000;

/**
 * A browser that goes away without hanging up (tab closed, machine off): its socket may stay, but
 * its media stops. The leg must end by itself (rtc:terminate, member:media down, status ended) and
 * give back its worker port. With a real libwebrtc peer that closes its RTCPeerConnection, the
 * gateway hears the DTLS close alert; ICE consent expiry (30 s in mediasoup) plus the grace is the
 * path for a peer that cannot say goodbye, and the machine's tests cover its timing.
 */
describe('WebRTC leg whose peer goes away without rtc:hangup', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true, env: { LEGWAY_RTC_DISCONNECT_GRACE_S: '1' } });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  it('ends the leg (rtc:terminate, media down, status ended), leaves the socket and the other leg alone, and frees its port', async () => {
    const created = await gw.api('POST', '/v1/conversations', { body: { name: 'vanishing' } });
    expect(created.status).toBe(201);
    const cid = created.body.id as string;
    const joined = async (name: string) => {
      expect((await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } })).status).toBe(201);
      const socket = await gw.connect(await gw.token(name));
      const seen = new EventRecorder(socket);
      const ack = await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
      expect(ack).toMatchObject({ ok: true });
      return { socket, seen, memberId: ack.member_id as string };
    };
    const connected = async (m: Awaited<ReturnType<typeof joined>>) => {
      const peer = new TestPeer(m.socket);
      peers.push(peer);
      expect(await peer.connect(cid)).toMatchObject({ ok: true });
      await m.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === peer.legId && e.body.media.audio === true, EVENT_TIMEOUT);
      return peer;
    };
    const alice = await joined('alice');
    const bob = await joined('bob');
    const bobPeer = await connected(bob);
    // Baseline with Bob's leg up and Alice's not yet made: what must be back once Alice's leg is gone.
    const udpBefore = workerUdpSockets();
    const timersBefore = await settledTimerCount();
    const alicePeer = await connected(alice);
    const legId = alicePeer.legId;
    expect(workerUdpSockets()).toBeGreaterThan(udpBefore);
    expect(gw.app.legs.active).toBe(2);

    // The tab goes: Alice's RTCPeerConnection closes (and her send loop stops), with no rtc:hangup;
    // her socket stays connected, so nothing but the media tells the gateway.
    peers.splice(peers.indexOf(alicePeer), 1);
    alicePeer.close();

    const terminate = await bob.seen.waitFor((e) => e.type === 'rtc:terminate' && e.body.leg_id === legId, EVENT_TIMEOUT);
    expect(terminate).toMatchObject({ from: alice.memberId, conversation_id: cid });
    // libwebrtc sends a DTLS close alert when its peer connection closes, as a browser tab that closes
    // cleanly does: the leg ends at once, without waiting for ICE consent to run out.
    expect(terminate.body).toEqual({ leg_id: legId, reason: 'media closed by the peer' });
    const closed = bob.seen.events.find((e) => e.type === 'rtc:status' && e.body.leg_id === legId && e.body.kind === 'dtls' && e.body.status === 'closed');
    expect(closed?.id).toBeLessThan(terminate.id);
    const down = await bob.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === legId && e.body.media.audio === false, EVENT_TIMEOUT);
    expect(down.id).toBeGreaterThan(terminate.id);
    expect(bob.seen.events.some((e) => e.type === 'rtc:hangup' && e.body.leg_id === legId)).toBe(false);
    // Alice's own socket, still connected, is told too.
    await alice.seen.waitFor((e) => e.id === terminate.id);

    let leg: any;
    await waitUntil(
      async () => {
        leg = (await gw.api('GET', `/v1/legs/${legId}`)).body;
        return leg?.status === 'ended';
      },
      { timeoutMs: EVENT_TIMEOUT, what: () => `leg ${legId} to end (last seen ${JSON.stringify(leg)})` },
    );
    expect(leg).toMatchObject({ status: 'ended', end_reason: terminate.body.reason, timestamp: { ended: expect.any(String) } });

    // Alice's transport and timers are freed; Bob's leg is untouched and still takes commands.
    const measure = () => ({ udp: workerUdpSockets(), timers: activeTimers(), legs: gw.app.legs.active });
    let last = measure();
    await waitUntil(
      () => {
        last = measure();
        return last.udp === udpBefore && last.timers === timersBefore && last.legs === 1;
      },
      { timeoutMs: EVENT_TIMEOUT, intervalMs: 100 },
    ).catch(() => undefined);
    expect(last).toEqual({ udp: udpBefore, timers: timersBefore, legs: 1 });
    expect((await gw.api('GET', `/v1/legs/${bobPeer.legId}`)).body).toMatchObject({ status: 'connected' });
    expect(await request(bob.socket, 'leg:mute', { leg_id: bobPeer.legId, on: true })).toMatchObject({ ok: true, media: { muted: true } });
    // The member stays in the conversation: only its media ended.
    const member = await gw.api('GET', `/v1/conversations/${cid}/members/${alice.memberId}`);
    expect(member.body).toMatchObject({ state: 'joined' });
  });
});
