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
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear A');
    await a.peer.until((s) => toneLevel(s, 880) > AUDIBLE, 'A to hear B');
    // Each hears the other, and never itself.
    expect(heard(b.peer, 880)).toBeLessThan(SILENT);
    expect(heard(a.peer, 440)).toBeLessThan(SILENT);

    const c = await join(cid, 'carol');
    await c.peer.until((s) => toneLevel(s, 440) > AUDIBLE && toneLevel(s, 880) > AUDIBLE, 'C to hear A and B');

    // Mute A over REST: B and C stop hearing 440 Hz.
    const muted = await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'mute' } });
    expect(muted.status).toBe(200);
    await b.peer.until((s) => toneLevel(s, 440) < SILENT, 'B to stop hearing muted A');
    await c.peer.until((s) => toneLevel(s, 440) < SILENT && toneLevel(s, 880) > AUDIBLE, 'C to hear B but not muted A');
    await a.seen.waitFor((e) => e.type === 'audio:mute:on' && e.body.leg_id === a.peer.legId);
    await a.seen.waitFor((e) => e.type === 'member:media' && e.body.leg_id === a.peer.legId && e.body.media.muted === true);

    // Unmute A, then earmuff B: B hears silence while A and C still hear B.
    await gw.api('PUT', `/v1/legs/${a.peer.legId}`, { body: { action: 'unmute' } });
    await gw.api('PUT', `/v1/legs/${b.peer.legId}`, { body: { action: 'earmuff' } });
    await b.peer.until((s) => toneLevel(s, 440) < SILENT, 'earmuffed B to hear nothing');
    await a.peer.until((s) => toneLevel(s, 880) > AUDIBLE, 'A to still hear earmuffed B');
    await c.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'C to hear unmuted A again');
    await b.seen.waitFor((e) => e.type === 'audio:earmuff:on' && e.body.leg_id === b.peer.legId);
    await a.seen.waitFor((e) => e.type === 'audio:mute:off' && e.body.leg_id === a.peer.legId);
  });
});
