import { expect } from 'vitest';
import { EventRecorder, request, type TestGateway } from './gateway.js';
import { TestPeer } from './webrtcPeer.js';

/**
 * Creates conversation `name` and joins a WebRTC peer (user alice) sending a `tone` Hz sine,
 * connected and receiving; the peer is pushed to `peers` so the test's teardown closes it.
 */
export async function roomWithPeer(
  g: TestGateway,
  name: string,
  tone: number,
  peers: TestPeer[],
): Promise<{ cid: string; peer: TestPeer; seen: EventRecorder }> {
  const created = await g.api('POST', '/v1/conversations', { body: { name } });
  expect(created.status).toBe(201);
  const cid: string = created.body.id;
  await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
  const socket = await g.connect(await g.token('alice'));
  const seen = new EventRecorder(socket);
  await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
  const peer = new TestPeer(socket);
  peers.push(peer);
  peer.tone(tone);
  expect(await peer.connect(cid)).toMatchObject({ ok: true, answer: { type: 'answer' } });
  await seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected', 10_000);
  await peer.receiveMore(300);
  return { cid, peer, seen };
}
