/**
 * Media across nodes: three legway nodes on one PostgreSQL and one Redis. A conversation's media
 * lives on one node, its owner (the node of its first leg). A libwebrtc peer whose socket is on
 * another node gets its leg made on the owner (its `rtc:new` relayed over Redis, the answer carrying
 * the owner's candidates), so two peers on different nodes hear each other, and never themselves;
 * an operator connected to a third node mutes a leg with the audible effect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/gateway.js';
import { runCliAsync } from '../support/process.js';
import { peerMissing } from '../support/requiredPeers.js';
import { toneLevel } from '../support/tone.js';
import type { TestPeer } from '../support/webrtcPeer.js';
import { conversationOn, peerOn } from './support/parties.js';
import { startCluster, type Cluster, type ClusterNode } from './support/cluster.js';
import { clusterPartsMissing } from './support/servers.js';

const missing = peerMissing(clusterPartsMissing());
if (missing) console.log(`skipping the cluster tests: ${missing}`);

const AUDIBLE = 1500; // of the 8000 the peers send: well above codec and mixing loss
const SILENT = 300;

describe.skipIf(missing !== undefined)('media of one conversation across nodes', () => {
  let cluster: Cluster;
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  }, 120_000);

  afterAll(async () => {
    for (const peer of peers) peer.close();
    // Undefined when beforeAll failed before it was set.
    await (cluster as Cluster | undefined)?.close();
  }, 60_000);

  it('peers whose sockets are on different nodes hear each other, not themselves; an operator on a third node mutes one audibly', async () => {
    const [node1, node2, node3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const cid = await conversationOn(node3, 'media-across', ['alice', 'bob']);

    const alice = await peerOn(node1, cid, 'alice', 440, peers);
    const bob = await peerOn(node2, cid, 'bob', 880, peers);
    // Both legs run on node 1, the conversation's owner: bob's was made there for him.
    const status = await runCliAsync(node2.dataDir, ['cluster', 'status', '--json'], { ...node2.env, LEGWAY_LOG_LEVEL: 'silent' });
    const nodes = (JSON.parse(status.stdout) as { nodes: { id: string; legs: number; conversations: number }[] }).nodes;
    expect(nodes.find((n) => n.id === node1.id)).toMatchObject({ legs: 2, conversations: 1 });
    expect(nodes.find((n) => n.id === node2.id)).toMatchObject({ legs: 0, conversations: 0 });

    await alice.peer.until((s) => toneLevel(s, 880) > AUDIBLE, 'alice to hear bob');
    await bob.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'bob to hear alice');
    expect(toneLevel(alice.peer.lastReceived(500), 440)).toBeLessThan(SILENT);
    expect(toneLevel(bob.peer.lastReceived(500), 880)).toBeLessThan(SILENT);

    // An operator on node 3 mutes bob's leg (on node 1): alice stops hearing him.
    const operator = await node3.connect('olga', 'operator', '/operator');
    const muted = await request(operator, 'leg:action', { leg_id: bob.peer.legId, action: 'mute' });
    expect(muted).toMatchObject({ ok: true, leg: { id: bob.peer.legId, media: { muted: true } } });
    await alice.peer.until((s) => toneLevel(s, 880) < SILENT, 'alice to stop hearing muted bob');
    await bob.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'bob to still hear alice');

    // Bob hangs up through node 2: his leg on node 1 ends.
    expect(await request(bob.socket, 'rtc:hangup', { leg_id: bob.peer.legId })).toMatchObject({ ok: true });
    await alice.seen.waitFor((e) => e.type === 'rtc:hangup' || (e.type === 'rtc:terminate' && e.body.leg_id === bob.peer.legId), 10_000);
  });
});
