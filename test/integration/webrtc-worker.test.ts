import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { mediasoupWorkerPids, waitUntil } from '../support/resources.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

describe('a media worker that dies', () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string): Promise<{ peer: TestPeer; seen: EventRecorder }> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    const ack = await peer.connect(cid);
    expect(ack, JSON.stringify(ack)).toMatchObject({ ok: true });
    await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected', 15_000);
    return { peer, seen };
  }

  it('ends its legs with rtc:terminate, is replaced, and new legs work on the new worker', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'crash' } })).body.id;
    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    const [worker] = mediasoupWorkerPids();
    expect(worker).toBeDefined();

    process.kill(worker!, 'SIGKILL');

    for (const leg of [a.peer.legId, b.peer.legId]) {
      const terminated = await a.seen.waitFor((e) => e.type === 'rtc:terminate' && e.body.leg_id === leg, 15_000);
      expect(terminated.body.reason).toBe('media worker died');
    }
    await waitUntil(() => gw.app.legs.active === 0, { timeoutMs: 10_000 });
    expect((await gw.api('GET', `/v1/legs/${a.peer.legId}`)).body.status).toBe('ended');
    await waitUntil(() => mediasoupWorkerPids().some((pid) => pid !== worker), { timeoutMs: 10_000 });

    // The members are still in the conversation: they start media again, on the new worker.
    for (const p of peers.splice(0)) p.close();
    const again = [await join(cid, 'alice'), await join(cid, 'bob')];
    again[0]!.peer.tone(440);
    await again[1]!.peer.receiveMore(1500);
    expect(toneLevel(again[1]!.peer.lastReceived(500), 440)).toBeGreaterThan(1500);
  });
});
