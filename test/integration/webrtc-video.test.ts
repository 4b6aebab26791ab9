import type { Socket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { TestPeer, type ReceivedFrame } from '../support/webrtcPeer.js';

const meanLuma = (frames: ReceivedFrame[]): number => frames.reduce((sum, f) => sum + f.luma, 0) / frames.length;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WebRTC video forwarding', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string, video: boolean): Promise<{ peer: TestPeer; seen: EventRecorder }> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket, { video });
    peers.push(peer);
    const ack = await peer.connect(cid);
    expect(ack, JSON.stringify(ack)).toMatchObject({ ok: true });
    await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.kind === 'ice' && e.body.status !== 'new');
    return { peer, seen };
  }

  it("forwards each peer's video to the others after renegotiation; video mute stops it", async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'video-call' } })).body.id;
    const a = await join(cid, 'alice', true);
    a.peer.videoBrightness(200);
    const b = await join(cid, 'bob', true);
    b.peer.videoBrightness(60);

    // Each gets the other's video in a section the gateway offered, and sees that picture.
    const atB = await b.peer.receiveFrames(10);
    const atA = await a.peer.receiveFrames(10);
    expect(meanLuma(atB.slice(-5))).toBeGreaterThan(170);
    expect(meanLuma(atA.slice(-5))).toBeLessThan(90);
    expect(atB[0]).toMatchObject({ width: 160, height: 120 });
    expect(b.peer.answerAcks.every((ack) => ack.ok === true)).toBe(true);
    await b.seen.waitFor((e) => e.type === 'rtc:offer' && e.body.leg_id === b.peer.legId && e.id > 0);
    await b.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.video === true);

    // A third peer joining later receives both, without either of them sending anything new.
    const c = await join(cid, 'carol', false);
    const atC = await c.peer.receiveFrames(20);
    const lumas = atC.map((f) => f.luma);
    expect(lumas.some((l) => l > 170)).toBe(true);
    expect(lumas.some((l) => l < 90)).toBe(true);

    // Video mute on A: nobody receives A's frames any more, while B's still flow.
    const muted = await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'video-mute' } });
    expect(muted.status).toBe(200);
    await b.seen.waitFor((e) => e.type === 'video:mute:on' && e.body.leg_id === a.peer.legId);
    await b.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.video === false);
    await pause(500); // frames already on the wire
    const countAtB = b.peer.frames.length;
    await a.peer.receiveFrames(15); // about a second of B's video
    expect(b.peer.frames.length).toBe(countAtB);

    // Unmuting brings A's picture back (the gateway asks A for a key frame).
    await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'video-unmute' } });
    const again = await b.peer.receiveFrames(5);
    expect(meanLuma(again)).toBeGreaterThan(170);
  });

  it("a client back on a new connection takes over its leg's renegotiation: the offer it missed is sent again", async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'video-reconnect' } })).body.id;
    const a = await join(cid, 'alice', true);
    const first = (a.peer as unknown as { socket: Socket }).socket;
    first.disconnect();

    // Bob's video needs a section in alice's leg: the gateway's offer goes to a connection that is gone.
    const b = await join(cid, 'bob', true);
    b.peer.videoBrightness(60);
    await b.seen.waitFor((e) => e.type === 'rtc:offer' && e.body.leg_id === a.peer.legId && e.id > 0);
    await pause(500);
    expect(a.peer.frames).toHaveLength(0);

    // Alice's client reconnects and joins again: the unanswered offer comes to the new connection.
    const second = await gw.connect(await gw.token('alice'));
    a.peer.useSocket(second);
    expect(await request(second, 'conversation:join', { conversation_id: cid, since: 0 })).toMatchObject({ ok: true });
    const atA = await a.peer.receiveFrames(10);
    expect(meanLuma(atA.slice(-5))).toBeLessThan(90);
    expect(a.peer.answerAcks.at(-1)).toMatchObject({ ok: true });
  });

  it('refuses an rtc:answer when no offer is out, and a malformed one', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'no-offer' } })).body.id;
    const a = await join(cid, 'alice', false);
    const socket = (a.peer as unknown as { socket: Socket }).socket;
    const early = await request(socket, 'rtc:answer', { leg_id: a.peer.legId, answer: { type: 'answer', sdp: 'v=0\r\n' } });
    expect(early).toMatchObject({ ok: false, error: { code: 'InvalidState' } });
    const bad = await request(socket, 'rtc:answer', { leg_id: a.peer.legId, answer: { type: 'offer', sdp: 'x' } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'ValidationFailed' } });
  });
});
