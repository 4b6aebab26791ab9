/**
 * Events across nodes: three legway nodes on one PostgreSQL and one Redis. Clients whose sockets are
 * on different nodes, in one conversation, get every event once and in id order, while all three
 * nodes append to it at once; the ids in the shared store are 1..N with no gap and no duplicate.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRecorder, request } from '../support/gateway.js';
import { peerMissing } from '../support/requiredPeers.js';
import { waitUntil } from '../support/resources.js';
import { startCluster, type Cluster } from './support/cluster.js';
import { clusterPartsMissing } from './support/servers.js';

const missing = peerMissing(clusterPartsMissing());
if (missing) console.log(`skipping the cluster tests: ${missing}`);

describe.skipIf(missing !== undefined)('three nodes, one conversation', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  }, 120_000);

  afterAll(async () => {
    // Undefined when beforeAll failed before it was set.
    await (cluster as Cluster | undefined)?.close();
  }, 60_000);

  it('clients on node 1 and node 2 get every event once, in order, with ids gap-free under concurrent appends from all three nodes', async () => {
    const [node1, node2, node3] = cluster.nodes as [Cluster['nodes'][0], Cluster['nodes'][0], Cluster['nodes'][0]];
    const created = await node1.api('POST', '/v1/conversations', { name: 'across-nodes' });
    expect(created.status).toBe(201);
    const cid = created.body.id as string;
    for (const user of ['alice', 'bob'])
      expect((await node3.api('POST', `/v1/conversations/${cid}/members`, { user: { name: user }, state: 'invited' })).status).toBe(201);

    const joined = async (node: Cluster['nodes'][0], user: string): Promise<{ socket: Socket; seen: EventRecorder; memberId: string }> => {
      const socket = await node.connect(user);
      const seen = new EventRecorder(socket);
      const ack = await request(socket, 'conversation:join', { conversation_id: cid });
      expect(ack).toMatchObject({ ok: true });
      return { socket, seen, memberId: ack.member_id as string };
    };
    const alice = await joined(node1, 'alice');
    const bob = await joined(node2, 'bob');

    // Each node posts 40 texts, the three at once, a few in flight per node at a time.
    const PER_NODE = 40;
    await Promise.all(
      [node1, node2, node3].map(async (node, n) => {
        for (let i = 0; i < PER_NODE; i += 4) {
          const batch = [0, 1, 2, 3].map((k) =>
            node.api('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: alice.memberId, body: { text: `n${n + 1}-${i + k}` } }),
          );
          for (const res of await Promise.all(batch)) expect(res.status).toBe(201);
        }
      }),
    );

    const stored: { id: number; type: string }[] = [];
    for (let href: string | undefined = `/v1/conversations/${cid}/events?page_size=100`; href !== undefined;) {
      const page = await node3.api('GET', href);
      expect(page.status).toBe(200);
      stored.push(...(page.body._embedded.events as { id: number; type: string }[]));
      href = page.body._links.next?.href as string | undefined;
    }
    const ids = stored.map((e) => e.id);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(stored.filter((e) => e.type === 'text')).toHaveLength(3 * PER_NODE);
    const last = ids.at(-1) ?? 0;

    for (const party of [alice, bob]) {
      await waitUntil(() => party.seen.events.some((e) => e.id === last), { timeoutMs: 15_000, what: `event ${last} at ${party.memberId}` });
      const got = party.seen.events.filter((e) => e.conversation_id === cid).map((e) => e.id as number);
      const first = got[0] ?? 0;
      expect(got).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
      const texts = party.seen.events.filter((e) => e.type === 'text').map((e) => e.body.text as string);
      expect(new Set(texts).size).toBe(3 * PER_NODE);
    }
  });
});
