import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';
import { mediasoupWorkerPids, waitUntil, workerUdpSockets } from '../support/resources.js';
import { toneLevel } from '../support/tone.js';
import { TestPeer } from '../support/webrtcPeer.js';

const AUDIBLE = 1500;
const SILENT = 300;

/** A UDP socket as /proc/net/udp shows it. */
interface UdpSocket {
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
}

/** "0100007F:4E20" (little-endian IPv4 in hex, port in hex) as address and port. */
function endpointOf(hex: string): { address: string; port: number } {
  const [ip = '', port = ''] = hex.split(':');
  const bytes = (ip.match(/../g) ?? []).map((b) => parseInt(b, 16)).reverse();
  return { address: bytes.join('.'), port: parseInt(port, 16) };
}

/** The IPv4 UDP sockets held by process `pid`. */
function udpSocketsHeldBy(pid: number): UdpSocket[] {
  const byInode = new Map<string, UdpSocket>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = endpointOf(fields[1]!);
    const remote = endpointOf(fields[2]!);
    byInode.set(fields[9]!, { local: local.address, localPort: local.port, remote: remote.address, remotePort: remote.port });
  }
  const held: UdpSocket[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const socket = byInode.get(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '');
    if (socket) held.push(socket);
  }
  return held;
}

/**
 * The gateway's internal RTP paths: each is a socket of this process connected to a port of the
 * media worker (whose socket sends to it unconnected), with the addresses of both ends. (The test's libwebrtc peers also hold sockets in
 * this process, but they are not connected to the worker.)
 */
function internalPaths(): { node: UdpSocket; worker: UdpSocket }[] {
  const worker = mediasoupWorkerPids().flatMap((pid) => udpSocketsHeldBy(pid));
  return udpSocketsHeldBy(process.pid).flatMap((node) => {
    const end = worker.find((w) => node.remotePort !== 0 && w.localPort === node.remotePort);
    return end ? [{ node, worker: end }] : [];
  });
}

describe("a WebRTC leg's audio between mediasoup and the bridge", () => {
  let gw: TestGateway;
  const peers: TestPeer[] = [];

  beforeEach(async () => {
    gw = await startGateway({ media: true });
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await gw.close();
  });

  async function join(cid: string, name: string): Promise<{ peer: TestPeer; socket: Awaited<ReturnType<TestGateway['connect']>>; seen: EventRecorder }> {
    await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name }, state: 'joined' } });
    const socket = await gw.connect(await gw.token(name));
    const seen = new EventRecorder(socket);
    await request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
    const peer = new TestPeer(socket);
    peers.push(peer);
    expect(await peer.connect(cid)).toMatchObject({ ok: true });
    return { peer, socket, seen };
  }

  it('runs on loopback only, one path per leg, and each path is freed with its leg', async () => {
    const cid = (await gw.api('POST', '/v1/conversations', { body: { name: 'internal' } })).body.id;
    const workerBefore = workerUdpSockets();
    expect(internalPaths()).toEqual([]);

    const a = await join(cid, 'alice');
    const b = await join(cid, 'bob');
    a.peer.tone(440);
    b.peer.tone(880);
    await b.peer.until((s) => toneLevel(s, 440) > AUDIBLE, 'B to hear A');
    await a.peer.until((s) => toneLevel(s, 880) > AUDIBLE && toneLevel(s, 440) < SILENT, 'A to hear B and not itself');

    const paths = internalPaths();
    expect(paths).toHaveLength(2);
    for (const { node, worker } of paths) {
      expect([node.local, node.remote, worker.local]).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    }

    // Alice hangs up: her path goes, Bob's stays.
    expect(await request(a.socket, 'rtc:hangup', { leg_id: a.peer.legId })).toMatchObject({ ok: true });
    await waitUntil(() => internalPaths().length === 1, { what: "alice's internal path to close" });
    expect(paths).toContainEqual(internalPaths()[0]);

    // Deleting the conversation ends Bob's leg: nothing of either leg is left in Node or in the worker.
    expect((await gw.api('DELETE', `/v1/conversations/${cid}`)).status).toBe(204);
    for (const p of peers.splice(0)) p.close();
    await waitUntil(() => internalPaths().length === 0 && workerUdpSockets() === workerBefore, {
      what: () => `every internal path and worker port to close (paths ${internalPaths().length}, worker sockets ${workerUdpSockets()} of ${workerBefore})`,
    });
  });
});
