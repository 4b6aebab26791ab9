import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

/** Tone level of `freq` in the peer's last half second of received audio. */
const heard = (peer: TestPeer, freq: number): number => toneLevel(peer.lastReceived(500), freq);
const AUDIBLE = 1500; // of the 8000 the peers send: well above codec and mixing loss
const SILENT = 300;

describe('WebRTC legs and the conference audio bridge', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string): Promise<{ peer: TestPeer; seen: EventRecorder; memberId: string }> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    const ack = await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    const rtc = await peer.connect(cid);
    expect(rtc).toMatchObject({ ok: true, answer: { type: 'answer' } });
    return { peer, seen, memberId: ack.member_id };
  }

  it('each peer hears the others and never itself; mute and earmuff have their audible effect', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'call' } })).body.id;
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    a.peer.tone(440);
    b.peer.tone(880);
    await a.seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === a.peer.legId && e.body.status === 'connected');
    await b.peer.receiveMore(1500);
    await a.peer.receiveMore(500);

    expect(heard(b.peer, 440)).toBeGreaterThan(AUDIBLE);
    expect(heard(b.peer, 880)).toBeLessThan(SILENT);
    expect(heard(a.peer, 880)).toBeGreaterThan(AUDIBLE);
    expect(heard(a.peer, 440)).toBeLessThan(SILENT);

    const c = await join(cid, 'carol');
    await c.peer.receiveMore(1500);
    expect(heard(c.peer, 440)).toBeGreaterThan(AUDIBLE);
    expect(heard(c.peer, 880)).toBeGreaterThan(AUDIBLE);

    // Mute A over REST: B and C stop hearing 440 Hz.
    const muted = await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'mute' } });
    expect(muted.status).toBe(200);
    await b.peer.receiveMore(1000);
    await c.peer.receiveMore(0);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    expect(heard(c.peer, 440)).toBeLessThan(SILENT);
    expect(heard(c.peer, 880)).toBeGreaterThan(AUDIBLE);
    await a.seen.waitFor((e) => e.type === 'audio:mute:on' && e.body.leg_id === a.peer.legId);
    await a.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.muted === true);

    // Unmute A, then earmuff B: B hears silence while A and C still hear B.
    await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'unmute' } });
    await gw.api('PUT', `/v1/legs/${b.peer.legId}`, { body: { action: 'earmuff' } });
    await b.peer.receiveMore(1000);
    await a.peer.receiveMore(0);
    expect(heard(b.peer, 440)).toBeLessThan(SILENT);
    expect(heard(a.peer, 880)).toBeGreaterThan(AUDIBLE);
    expect(heard(c.peer, 440)).toBeGreaterThan(AUDIBLE);
    await b.seen.waitFor((e) => e.type === 'audio:earmuff:on' && e.body.leg_id === b.peer.legId);
    await a.seen.waitFor((e) => e.type === 'audio:mute:off' && e.body.leg_id === a.peer.legId);
  });
});
