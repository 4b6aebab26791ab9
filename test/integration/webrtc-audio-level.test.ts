import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIO_LEVEL_EXTENSION } from '../../src/media/audio/rtp.js';
import type { LegInputStats } from '../../src/media/bridge/bridgeLeg.js';
import { request, startGateway, type TestGateway } from '../support/gateway.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

const AUDIBLE = 1500; // of the 8000 the peers send: well above codec and mixing loss

/**
 * A browser's audio carries its own level (RFC 6464) once the answer accepts the extension, so the
 * bridge need not decode a silent leg to know it is silent. Three legs, not two: a two-party call
 * is forwarded packet for packet and decodes nobody, whatever the levels say.
 */
describe('RFC 6464 audio levels on WebRTC legs', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string): Promise<{ peer: TestPeer; answer: string }> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    const rtc = await peer.connect(cid);
    expect(rtc).toMatchObject({ ok: true, answer: { type: 'answer' } });
    return { peer, answer: String(rtc.answer.sdp) };
  }

  it('a silent leg is not decoded while the others are heard', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'call' } })).body.id;
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    const c = await join(cid, 'carol');
    // The answer accepts the level the browser offered.
    expect(c.answer).toMatch(new RegExp(`^a=extmap:\\d+ ${AUDIO_LEVEL_EXTENSION}\\r?$`, 'm'));
    a.peer.tone(440);
    b.peer.tone(880);
    await c.peer.until((s) => toneLevel(s, 440) > AUDIBLE && toneLevel(s, 880) > AUDIBLE, 'silent C to hear A and B');

    const bridge = gw.app.legs.bridgeFor(cid);
    const before = (legId: string): LegInputStats => ({ ...bridge.legStats(legId)! });
    // The bridge runs on a media thread: its counters are read from the thread's latest snapshot.
    await gw.app.mediaThreads?.snapshots();
    const [a0, c0] = [before(a.peer.legId), before(c.peer.legId)];
    await c.peer.receiveMore(1000);
    await a.peer.until((s) => toneLevel(s, 880) > AUDIBLE, 'A to hear B');
    await gw.app.mediaThreads?.snapshots();
    const [a1, c1] = [bridge.legStats(a.peer.legId)!, bridge.legStats(c.peer.legId)!];

    // Carol's packets keep coming and are taken, but never decoded: their level says silence.
    expect(c1.skipped - c0.skipped).toBeGreaterThan(25);
    expect(c1.decoded - c0.decoded).toBe(0);
    // Alice speaks into Carol's mix, so hers are decoded.
    expect(a1.decoded - a0.decoded).toBeGreaterThan(25);
  });
});
