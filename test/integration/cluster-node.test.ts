/**
 * A gateway is a node of a cluster (of one, on its own store): it registers in the store with a
 * lease it renews, `legway cluster status` lists it, `legway cluster drain` turns new calls away while
 * SIP probes learn it (OPTIONS 503), and when another node's lease lapses this one ends that node's
 * legs with their events and lets their members leave.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { LegsRepo } from '../../src/store/legsRepo.js';
import { createConversation, startGateway, TEST_SECRET, type TestGateway } from '../support/gateway.js';
import { requireBuiltCli, runCliAsync } from '../support/process.js';
import { waitUntil } from '../support/resources.js';
import { branch, header, request, statusOf, UdpPeer } from '../support/sipPeers.js';

requireBuiltCli();

const gateways: TestGateway[] = [];
const peers: UdpPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
  for (const g of gateways.splice(0)) await g.close();
});

async function start(): Promise<TestGateway> {
  // A 3 s lease is renewed (and lapsed nodes looked for) every second.
  const g = await startGateway({ env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_NODE_LEASE_S: '3' } });
  gateways.push(g);
  return g;
}

/** The CLI on the gateway's data folder, run asynchronously: the gateway lives in this process and must keep renewing its lease. */
function cli(g: TestGateway, args: string[]): ReturnType<typeof runCliAsync> {
  return runCliAsync(g.dataDir, args, { LEGWAY_DATA_DIR: g.dataDir, LEGWAY_SECRET: TEST_SECRET, LEGWAY_LOG_LEVEL: 'silent' });
}

interface StatusNode {
  id: string;
  state: string;
  http_url: string;
  sip_address: string | null;
  lease_ms: number;
  legs: number;
  conversations: number;
}

async function status(g: TestGateway): Promise<StatusNode[]> {
  const r = await cli(g, ['cluster', 'status', '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return (JSON.parse(r.stdout) as { nodes: StatusNode[] }).nodes;
}

async function options(g: TestGateway): Promise<string> {
  const peer = await UdpPeer.open();
  peers.push(peer);
  await peer.send(g.app.sip!.port, request('OPTIONS', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch()};rport` }));
  const [answer] = await peer.next(1);
  return answer ?? '';
}

describe('a gateway as a node of a cluster', () => {
  it('registers with a lease it renews, listed by legway cluster status with its addresses', async () => {
    const g = await start();
    const [node, ...others] = await status(g);
    expect(others).toEqual([]);
    expect(node).toMatchObject({ id: g.app.config.cluster.nodeId, state: 'active', legs: 0, conversations: 0 });
    expect(node?.http_url).toBe(g.url);
    expect(node?.sip_address).toBe(`127.0.0.1:${g.app.sip!.port}`);
    const firstLease = node?.lease_ms ?? 0;
    expect(firstLease).toBeGreaterThan(0);
    // Renewed: a second later the lease still runs about as long from now.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await status(g))[0]?.lease_ms).toBeGreaterThan(1000);
    const table = (await cli(g, ['cluster', 'status'])).stdout;
    expect(table).toMatch(new RegExp(`^${g.app.config.cluster.nodeId}\\s+active\\s+\\d\\.\\d s left\\s+0\\s+0\\s+${g.url}`, 'm'));
  });

  it('drained: SIP probes get 503 with Retry-After, new calls are refused 503, and status shows it draining', async () => {
    const g = await start();
    expect(statusOf(await options(g))).toBe(200);

    const drained = await cli(g, ['cluster', 'drain', g.app.config.cluster.nodeId]);
    expect(drained.status).toBe(0);
    await waitUntil(async () => statusOf(await options(g)) === 503, { timeoutMs: 5000, what: 'OPTIONS answered 503' });
    const probe = await options(g);
    expect(statusOf(probe)).toBe(503);
    expect(header(probe, 'Retry-After')).toMatch(/^\d+$/);

    const peer = await UdpPeer.open();
    peers.push(peer);
    const sdp = 'v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40030 RTP/AVP 0\r\n';
    await peer.send(
      g.app.sip!.port,
      request('INVITE', {
        via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch()};rport`,
        headers: { 'Content-Type': 'application/sdp', Contact: `<sip:tester@127.0.0.1:${peer.port}>` },
        body: sdp,
      }),
    );
    const refused = await peer.waitFor((m) => statusOf(m) >= 300, 'the INVITE refused');
    expect(statusOf(refused)).toBe(503);
    expect((await status(g))[0]?.state).toBe('draining');
  });

  it('drain names a node that is not running: exit 1 and a clear message, nothing changes', async () => {
    const g = await start();
    const r = await cli(g, ['cluster', 'drain', 'no-such-node']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no running node "no-such-node"/);
    expect((await status(g))[0]?.state).toBe('active');
    expect((await cli(g, ['cluster', 'drain', '../etc'])).status).toBe(78);
  });

  it('a node whose lease lapsed: its legs end with their events (node lost), its members leave, it shows lost', async () => {
    const g = await start();
    const cid = await createConversation(g, 'lost-node-call');
    const joined = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    expect(joined.status).toBe(201);
    const memberId = joined.body.id as string;
    // Another node ("ghost"), its lease already lapsed, was carrying alice's WebRTC leg.
    const now = Date.now();
    const legId = randomUUID();
    const store = g.app.store;
    store.transaction(() => {
      store.nodes.register({
        id: 'ghost',
        http_url: 'http://127.0.0.2:3000',
        sip_address: null,
        media_ip: null,
        started_at: new Date(now - 60_000).toISOString(),
        lease_until: now - 1,
      });
      new LegsRepo(store.db, 'ghost').insert({
        id: legId,
        conversation_id: cid,
        member_id: memberId,
        type: 'webrtc',
        direction: 'inbound',
        status: 'connected',
        media: { muted: false, earmuffed: false, video_muted: false },
        timestamp: { created: new Date(now - 30_000).toISOString() },
      });
    });

    await waitUntil(async () => (await status(g)).find((n) => n.id === 'ghost')?.state === 'lost', { timeoutMs: 5000, what: 'the ghost node marked lost' });
    const events = (await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events as {
      type: string;
      from: string;
      body: Record<string, unknown>;
    }[];
    expect(events.filter((e) => e.type === 'rtc:terminate')).toEqual([
      expect.objectContaining({ from: memberId, body: { leg_id: legId, reason: 'node lost' } }),
    ]);
    expect(events.filter((e) => e.type === 'member:left')).toEqual([
      expect.objectContaining({ body: expect.objectContaining({ member_id: memberId, reason: 'node lost' }) }),
    ]);
    const leg = (await g.api('GET', `/v1/legs/${legId}`)).body;
    expect(leg).toMatchObject({ status: 'ended', end_reason: 'node lost' });
    expect((await status(g)).find((n) => n.id === 'ghost')).toMatchObject({ legs: 0, conversations: 0 });
  });
});
