/**
 * SIP through Kamailio into a conversation whose media lives on one node of three: Kamailio (the
 * project's deploy/kamailio/kamailio.cfg, dispatcher round robin with OPTIONS probing) spreads the
 * INVITEs over the nodes; a node that does not own the conversation answers 302 with the owner's
 * address, Kamailio follows it, and every call ends up on the owner, where the WebRTC peers (one of
 * them with its socket on another node) and the SIP caller hear each other. A drained node answers
 * the probes 503 and gets no new call.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sippMissing, startSipp, type StartedSipp } from '../sipp/sipp.js';
import { pcmuTonePcap } from '../support/pcap.js';
import { runCliAsync } from '../support/process.js';
import { peerMissing } from '../support/requiredPeers.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { toneLevel } from '../support/tone.js';
import type { TestPeer } from '../support/webrtcPeer.js';
import { conversationOn, peerOn } from './support/parties.js';
import { startCluster, type Cluster, type ClusterNode } from './support/cluster.js';
import { clusterDir, clusterPartsMissing, startKamailio, type Kamailio } from './support/servers.js';

const missing = peerMissing(clusterPartsMissing() ?? sippMissing());
if (missing) console.log(`skipping the cluster SIP tests: ${missing}`);

const AUDIBLE = 1500;
const SILENT = 300;
const SIP_TONE = 1000;

interface NodeStatus {
  id: string;
  state: string;
  legs: number;
  sip_address: string;
}

describe.skipIf(missing !== undefined)('SIP through Kamailio into a conversation owned by one node', () => {
  let cluster: Cluster;
  let kamailio: Kamailio;
  let removeKamailioDir: () => void = () => undefined;
  let pcapDir = '';
  const peers: TestPeer[] = [];
  const captures: RtpCapture[] = [];

  /** INVITEs the node has received so far (its debug log). */
  const invites = (node: ClusterNode): number => (node.process.output().match(/"SIP INVITE received"/g) ?? []).length;

  async function status(node: ClusterNode): Promise<NodeStatus[]> {
    const r = await runCliAsync(node.dataDir, ['cluster', 'status', '--json'], { ...node.env, LEGWAY_LOG_LEVEL: 'silent' });
    expect(r.status).toBe(0);
    return (JSON.parse(r.stdout) as { nodes: NodeStatus[] }).nodes;
  }

  beforeAll(async () => {
    pcapDir = mkdtempSync(join(tmpdir(), 'legway-pcap-'));
    writeFileSync(join(pcapDir, 'tone.pcap'), pcmuTonePcap({ frequency: SIP_TONE, seconds: 12 }));
    // Every dialled user goes to conversation "sip-room".
    // Debug logs: each node's `SIP INVITE received` lines tell which node Kamailio chose.
    cluster = await startCluster({ nodes: 3, env: { LEGWAY_SIP_ROUTES: '*=sip-room', LEGWAY_LOG_LEVEL: 'debug' } });
    const addresses = (await status(cluster.nodes[0]!)).map((n) => n.sip_address);
    const dir = clusterDir();
    removeKamailioDir = dir.remove;
    kamailio = await startKamailio(dir.dir, addresses, 1);
  }, 180_000);

  afterAll(async () => {
    for (const peer of peers) peer.close();
    for (const capture of captures) await capture.close();
    await (kamailio as Kamailio | undefined)?.stop();
    removeKamailioDir();
    await (cluster as Cluster | undefined)?.close();
    rmSync(pcapDir, { recursive: true, force: true });
  }, 60_000);

  /** One SIPp call through Kamailio to "room", playing a 1 kHz tone for `talkMs`, its RTP captured. */
  async function callThroughKamailio(talkMs: number): Promise<{ sipp: StartedSipp; capture: RtpCapture }> {
    const capture = await RtpCapture.open();
    captures.push(capture);
    const sipp = await startSipp({
      scenario: 'uac-invite-pcmu-rtp-expect-200.xml',
      transport: 'u1',
      target: kamailio.address,
      timeoutSeconds: 30,
      extra: [
        '-mi',
        '127.0.0.1',
        '-mp',
        String(capture.sippMediaPort),
        '-key',
        'pcap',
        join(pcapDir, 'tone.pcap'),
        '-set',
        'talk_ms',
        String(talkMs),
        '-s',
        'room',
      ],
    });
    return { sipp, capture };
  }

  it('each call, whichever node Kamailio picks, lands on the owner; the caller and the peers hear each other', async () => {
    const [node1, node2, node3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const cid = await conversationOn(node3, 'sip-room', ['alice', 'bob']);
    const alice = await peerOn(node1, cid, 'alice', 440, peers);
    const bob = await peerOn(node2, cid, 'bob', 660, peers);

    // Three calls one after another: round robin offers each node one, so at least two are redirected.
    const elsewhere = invites(node2) + invites(node3);
    for (let call = 0; call < 3; call++) {
      const { sipp, capture } = await callThroughKamailio(5000);
      await alice.peer.until((s) => toneLevel(s, SIP_TONE) > AUDIBLE, `alice to hear caller ${call + 1}`);
      await bob.peer.until((s) => toneLevel(s, SIP_TONE) > AUDIBLE, `bob (socket on node 2) to hear caller ${call + 1}`);
      await capture.until((s) => toneLevel(s, 440, 8000) > AUDIBLE && toneLevel(s, 660, 8000) > AUDIBLE, `caller ${call + 1} to hear alice and bob`);
      const nodes = await status(node2);
      expect(nodes.find((n) => n.id === node1.id)?.legs).toBe(3);
      expect(nodes.filter((n) => n.id !== node1.id).map((n) => n.legs)).toEqual([0, 0]);
      const run = await sipp.finished;
      expect(run.code, run.trace).toBe(0);
      await alice.peer.until((s) => toneLevel(s, SIP_TONE) < SILENT, `caller ${call + 1} gone`);
    }
    expect(invites(node2) + invites(node3) - elsewhere).toBeGreaterThanOrEqual(2);
  });

  it('a drained node answers the probes 503 and Kamailio sends it no new call', async () => {
    const [, , node3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const drained = await runCliAsync(node3.dataDir, ['cluster', 'drain', node3.id], { ...node3.env, LEGWAY_LOG_LEVEL: 'silent' });
    expect(drained.status).toBe(0);
    const invitesBefore = invites(node3);
    // A few probe intervals: the node now answers 503, and the dispatcher stops choosing it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (let call = 0; call < 3; call++) {
      const { sipp } = await callThroughKamailio(500);
      const run = await sipp.finished;
      expect(run.code, run.trace).toBe(0);
    }
    expect(invites(node3)).toBe(invitesBefore);
    expect((await status(node3)).find((n) => n.id === node3.id)?.state).toBe('draining');
  });
});
