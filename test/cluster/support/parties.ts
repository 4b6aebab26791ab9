/** Clients of a cluster's nodes for the cluster tests: a joined socket, and a libwebrtc peer with a connected leg. */
import type { Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { EventRecorder, request } from '../../support/gateway.js';
import { TestPeer } from '../../support/webrtcPeer.js';
import type { ClusterNode } from './cluster.js';

export interface Party {
  socket: Socket;
  seen: EventRecorder;
  memberId: string;
}

/** A socket of `user` on `node`, joined to conversation `cid`, recording what it is pushed from before its join. */
export async function joinedOn(node: ClusterNode, cid: string, user: string): Promise<Party> {
  const socket = await node.connect(user);
  const seen = new EventRecorder(socket);
  const ack = await request(socket, 'conversation:join', { conversation_id: cid });
  expect(ack).toMatchObject({ ok: true });
  return { socket, seen, memberId: ack.member_id as string };
}

/** `joinedOn`, then a libwebrtc peer on that socket sending a `tone` Hz sine, its leg connected; pushed to `peers` for teardown. */
export async function peerOn(node: ClusterNode, cid: string, user: string, tone: number, peers: TestPeer[]): Promise<Party & { peer: TestPeer }> {
  const party = await joinedOn(node, cid, user);
  const peer = new TestPeer(party.socket);
  peers.push(peer);
  peer.tone(tone);
  expect(await peer.connect(cid)).toMatchObject({ ok: true, answer: { type: 'answer' } });
  await party.seen.waitFor((e) => e.type === 'rtc:status' && e.body.leg_id === peer.legId && e.body.status === 'connected', 15_000);
  return { ...party, peer };
}

/** A conversation made through `node`, with `users` invited. */
export async function conversationOn(node: ClusterNode, name: string, users: readonly string[]): Promise<string> {
  const created = await node.api('POST', '/v1/conversations', { name });
  expect(created.status).toBe(201);
  const cid = created.body.id as string;
  for (const user of users) expect((await node.api('POST', `/v1/conversations/${cid}/members`, { user: { name: user }, state: 'invited' })).status).toBe(201);
  return cid;
}
