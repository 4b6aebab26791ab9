/**
 * The SIP server's TCP listener against hosts that try to hold it: more connections from one IP
 * than its share, connections that never send a message whole (slowloris), and the peers that
 * must keep working meanwhile — another host, a slow but honest client, keep-alives.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SipServer, type SipServerOptions } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { quietly, request, TcpPeer } from '../support/sipPeers.js';

describe('SIP over TCP against a host that would hold it', () => {
  let server: SipServer | undefined;
  const peers: TcpPeer[] = [];

  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.destroy();
    await server?.close();
    server = undefined;
  });

  async function start(transport: SipServerOptions['transport'] = {}): Promise<SipServer> {
    server = await SipServer.start({ host: '127.0.0.1', port: 0, trunks: ['127.0.0.0/8'], logger: pino({ level: 'silent' }), transport });
    return server;
  }

  async function connect(port: number, localAddress = '127.0.0.1'): Promise<TcpPeer> {
    const peer = await TcpPeer.open(port, localAddress);
    peers.push(peer);
    return peer;
  }

  async function options(peer: TcpPeer): Promise<void> {
    const before = peer.statuses.length;
    await peer.write(request('OPTIONS', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-t${Math.random()}` }));
    await waitUntil(() => peer.statuses.length > before, { what: 'an answer to OPTIONS' });
    expect(peer.statuses.at(-1)).toBe('SIP/2.0 200 OK');
  }

  it('accepts 32 connections from one IP address and closes the 33rd at once; another host still gets in', async () => {
    const s = await start();
    const held: TcpPeer[] = [];
    for (let i = 0; i < 32; i++) held.push(await connect(s.port));
    await waitUntil(() => s.transport.tcpConnectionCount === 32, { what: () => `32 connections held, ${s.transport.tcpConnectionCount}` });
    const extra = await connect(s.port);
    await waitUntil(() => extra.closed, { timeoutMs: 2000, what: 'the 33rd connection to be closed' });
    expect(s.transport.counters.tcpRefused).toBe(1);
    expect(held.some((peer) => peer.closed)).toBe(false);
    // Another host is not counted against the first.
    await options(await connect(s.port, '127.0.0.2'));
    // A place freed is a place to take.
    held[0]!.socket.destroy();
    await waitUntil(() => s.transport.tcpConnectionCount === 32, { what: 'the freed place to be given back' });
    await options(await connect(s.port));
  });

  it('closes a connection that sends nothing whole within the deadline of its connection', async () => {
    const s = await start({ tcpMessageDeadlineMs: 300 });
    const silent = await connect(s.port);
    await quietly(100);
    expect(silent.closed).toBe(false);
    await waitUntil(() => silent.closed, { timeoutMs: 2000, what: 'the silent connection to be closed' });
    expect(s.transport.counters.tcpRefused).toBe(1);
  });

  it('closes a connection that trickles a head slower than the deadline, without answering it', async () => {
    const s = await start({ tcpMessageDeadlineMs: 400 });
    const slow = await connect(s.port);
    const text = request('OPTIONS', { via: `SIP/2.0/TCP 127.0.0.1:${slow.localPort};branch=z9hG4bK-slowloris` });
    for (const ch of text) {
      if (slow.closed) break;
      await slow.write(ch).catch(() => undefined);
      await quietly(20);
    }
    expect(slow.closed).toBe(true);
    expect(slow.statuses).toEqual([]);
    expect(s.transport.counters.tcpRefused).toBe(1);
  });

  it('gives each message its own deadline: a connection that talks now and then, with keep-alives between, stays', async () => {
    const s = await start({ tcpMessageDeadlineMs: 300 });
    const peer = await connect(s.port);
    await options(peer);
    await quietly(200);
    await peer.write('\r\n\r\n');
    await quietly(200);
    // A message sent in pieces, each well within the deadline from its first byte.
    const text = request('OPTIONS', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-pieces` });
    await peer.write(text.slice(0, 40));
    await quietly(100);
    await peer.write(text.slice(40));
    await waitUntil(() => peer.statuses.length === 2, { what: 'the second answer' });
    await quietly(200);
    await options(peer);
    expect(peer.closed).toBe(false);
    expect(s.transport.counters.tcpRefused).toBe(0);
  });
});
