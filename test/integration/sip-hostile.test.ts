/**
 * The SIP server against hand-written packets on raw UDP and TCP sockets: garbage, broken and
 * oversized messages, unsupported methods and extensions, stream framing, Via-based response
 * routing, and the UDP retransmissions sip.js leaves to the transport.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { URI } from 'sip.js';
import { afterEach, describe, expect, it } from 'vitest';
import { SipServer, type SipServerOptions } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { header, quietly, request, statusLine, TcpPeer, UdpPeer } from '../support/sipPeers.js';
import { freePort } from '../sipp/sipp.js';

describe('SIP server against raw packets', () => {
  let server: SipServer | undefined;
  const peers: (UdpPeer | TcpPeer)[] = [];

  afterEach(async () => {
    for (const peer of peers.splice(0)) {
      if (peer instanceof UdpPeer) await peer.close();
      else peer.socket.destroy();
    }
    await server?.close();
    server = undefined;
  });

  async function start(options: Partial<SipServerOptions> = {}): Promise<SipServer> {
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.1/32'],
      logger: pino({ level: 'silent' }),
      transport: { retransmitTiming: { t1: 100, t2: 400 } },
      ...options,
    });
    return server;
  }

  async function udpPeer(): Promise<UdpPeer> {
    const peer = await UdpPeer.open();
    peers.push(peer);
    return peer;
  }

  async function tcpPeer(port: number): Promise<TcpPeer> {
    const peer = await TcpPeer.open(port);
    peers.push(peer);
    return peer;
  }

  describe('over UDP', () => {
    it('drops garbage and keep-alives without answering, and counts the garbage', async () => {
      const s = await start();
      const peer = await udpPeer();
      await peer.send(s.port, 'hello, is this SIP?');
      await peer.send(s.port, '\r\n\r\n');
      await peer.send(s.port, Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
      await waitUntil(() => s.transport.counters.malformed === 2, { what: 'two malformed datagrams counted' });
      await quietly(100);
      expect(peer.received).toEqual([]);
    });

    it('answers 400 to a request sip.js cannot parse, when it can be addressed', async () => {
      const s = await start();
      const peer = await udpPeer();
      const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-broken`;
      await peer.send(s.port, request('INVITE', { via, headers: { From: '<<<not a from' } }));
      const [response] = await peer.next();
      expect(statusLine(response)).toBe('SIP/2.0 400 Malformed Message');
      expect(header(response, 'To')).toMatch(/;tag=/);
      expect(header(response, 'Call-ID')).toMatch(/^raw-/);
    });

    it('answers 400 to a CSeq that names another method, and to a body shorter than Content-Length', async () => {
      const s = await start();
      const peer = await udpPeer();
      const via = (n: number): string => `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-c${n}`;
      await peer.send(s.port, request('OPTIONS', { via: via(1), headers: { CSeq: '1 INVITE' } }));
      await peer.send(s.port, request('OPTIONS', { via: via(2), headers: { 'Content-Length': '100' }, body: 'short' }));
      const responses = await peer.next(2);
      expect(responses.map(statusLine)).toEqual(['SIP/2.0 400 CSeq method does not match', 'SIP/2.0 400 Bad Request']);
    });

    it('answers 405 with Allow to a known method it does not handle, 501 to an unknown one, 420 to an unsupported Require', async () => {
      const s = await start();
      const peer = await udpPeer();
      const via = (n: number): string => `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-m${n}`;
      await peer.send(s.port, request('REGISTER', { via: via(1) }));
      const [register] = await peer.next(1);
      await peer.send(s.port, request('FROBNICATE', { via: via(2) }));
      const [, unknown] = await peer.next(2);
      await peer.send(s.port, request('INVITE', { via: via(3), headers: { Require: '100rel' } }));
      const [, , requires] = await peer.next(3);
      expect(statusLine(register)).toBe('SIP/2.0 405 Method Not Allowed');
      expect(header(register, 'Allow')).toBe('INVITE, ACK, BYE, CANCEL, OPTIONS, INFO');
      expect(statusLine(unknown)).toBe('SIP/2.0 501 Not Implemented');
      expect(statusLine(requires)).toBe('SIP/2.0 420 Bad Extension');
      expect(header(requires, 'Unsupported')).toBe('100rel');
    });

    it('answers 403 to a source outside the trunks, and never answers an ACK', async () => {
      const s = await start({ trunks: ['10.0.0.0/8', '2001:db8::/32'] });
      const peer = await udpPeer();
      await peer.send(s.port, request('OPTIONS', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-t1` }));
      await peer.send(s.port, request('ACK', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-t2` }));
      const [response] = await peer.next(1);
      expect(statusLine(response)).toBe('SIP/2.0 403 Forbidden');
      await quietly(100);
      expect(peer.received).toHaveLength(1);
    });

    it('sends the response to received/rport when the Via names another host (RFC 3581)', async () => {
      const s = await start();
      const peer = await udpPeer();
      await peer.send(s.port, request('OPTIONS', { via: 'SIP/2.0/UDP client.example.invalid:5999;branch=z9hG4bK-nat;rport' }));
      const [response] = await peer.next();
      expect(statusLine(response)).toBe('SIP/2.0 200 OK');
      expect(header(response, 'Via')).toBe(`SIP/2.0/UDP client.example.invalid:5999;branch=z9hG4bK-nat;received=127.0.0.1;rport=${peer.port}`);
    });

    it('without rport, sends the response to the sent-by port, marking received only when the address differs', async () => {
      const s = await start();
      const peer = await udpPeer();
      const listener = await udpPeer();
      await peer.send(s.port, request('OPTIONS', { via: `SIP/2.0/UDP 127.0.0.1:${listener.port};branch=z9hG4bK-sentby` }));
      const [response] = await listener.next();
      expect(header(response, 'Via')).toBe(`SIP/2.0/UDP 127.0.0.1:${listener.port};branch=z9hG4bK-sentby`);
      expect(peer.received).toEqual([]);
    });

    it('splits comma-joined Vias so that the top one is matched and answered', async () => {
      const s = await start();
      const peer = await udpPeer();
      const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-top, SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-below`;
      await peer.send(s.port, request('OPTIONS', { via }));
      const [response] = await peer.next();
      expect(response?.split('\r\n').filter((l) => l.startsWith('Via:'))).toEqual([
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-top`,
        'Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-below',
      ]);
    });

    it('resends a rejection of an INVITE until the ACK comes (Timer G)', async () => {
      const s = await start();
      const peer = await udpPeer();
      const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-g`;
      const invite = request('INVITE', { via, headers: { 'Call-ID': 'timer-g@test', From: '<sip:t@127.0.0.1>;tag=g1' } });
      await peer.send(s.port, invite);
      // 486 (answered at once, so no 100 Trying before it: RFC 3261 §17.2.1), then the 486 again after T1 (100 ms here).
      const responses = await peer.next(2);
      expect(responses.map(statusLine)).toEqual(['SIP/2.0 486 Busy Here', 'SIP/2.0 486 Busy Here']);
      const to = header(responses[0], 'To');
      await peer.send(s.port, request('ACK', { via, headers: { 'Call-ID': 'timer-g@test', From: '<sip:t@127.0.0.1>;tag=g1', To: to ?? '', CSeq: '1 ACK' } }));
      await waitUntil(() => s.transport.pendingRetransmissions === 0 && s.core.userAgentServers.size === 0, { what: 'Timer G stopped by the ACK' });
      const count = peer.received.length;
      await quietly(300);
      expect(peer.received).toHaveLength(count);
    });

    it('resends its own request until a response comes (Timer E)', async () => {
      const s = await start();
      const peer = await udpPeer();
      const target = new URI('sip', 'peer', '127.0.0.1', peer.port);
      const options = s.core.makeOutgoingRequestMessage('OPTIONS', target, new URI('sip', 'legway', '127.0.0.1', s.port), target, {});
      let status = 0;
      s.core.request(options, { onAccept: (r) => (status = r.message.statusCode ?? 0) });
      const [first, second] = await peer.next(2);
      expect(second).toBe(first);
      expect(header(first, 'Via')).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\w+;rport$/);
      const reply = first!.replace(/^OPTIONS [^\r]+/, 'SIP/2.0 200 OK').replace(/\r\nTo: ([^\r]+)/, '\r\nTo: $1;tag=peer');
      await peer.send(s.port, reply);
      await waitUntil(() => status === 200 && s.transport.pendingRetransmissions === 0, { what: 'the 200 to stop Timer E' });
    });
  });

  it('logs no SIP URI, Call-ID or message text at debug', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    });
    const s = await start({ logger: pino({ level: 'debug' }, destination) });
    const peer = await udpPeer();
    const via = (n: number): string => `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-log${n}`;
    await peer.send(s.port, request('INVITE', { via: via(1), requestUri: 'sip:secret-number@127.0.0.1', headers: { 'Call-ID': 'secret-call-id' } }));
    await peer.send(s.port, request('OPTIONS', { via: via(2), headers: { From: '<<<secret-from' } }));
    await peer.send(s.port, request('REGISTER', { via: via(3) }));
    await peer.send(s.port, 'INVITE sip:secret-garbage SIP/2.0\r\n\r\n');
    await peer.next(4);
    await s.close();
    const text = lines.join('');
    expect(text).toContain('"component":"sip"');
    expect(text).toContain('SIP INVITE received');
    expect(text).not.toMatch(/secret|sip:/);
  });

  it('serves IPv6: binds ::1, stamps received without brackets and answers there', async (ctx) => {
    const probe = createSocket('udp6');
    const bound = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.bind({ address: '::1', port: 0 }, () => resolve(true));
    });
    if (!bound) ctx.skip();
    try {
      server = await SipServer.start({ host: '::1', port: 0, trunks: ['::1/128'], logger: pino({ level: 'silent' }) });
      expect(server.contact).toBe(`<sip:[::1]:${server.port}>`);
      const received: string[] = [];
      probe.on('message', (data) => received.push(data.toString('utf8')));
      const port = probe.address().port;
      probe.send(request('OPTIONS', { via: `SIP/2.0/UDP [::1]:${port};branch=z9hG4bK-v6;rport` }), server.port, '::1');
      await waitUntil(() => received.length === 1, { what: 'a response over IPv6' });
      expect(header(received[0], 'Via')).toBe(`SIP/2.0/UDP [::1]:${port};branch=z9hG4bK-v6;received=::1;rport=${port}`);
    } finally {
      probe.close();
    }
  });

  describe('over TCP', () => {
    it('frames coalesced messages, keep-alive CRLFs and a message split across writes', async () => {
      const s = await start();
      const peer = await tcpPeer(s.port);
      const via = (n: number): string => `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-f${n}`;
      const body = 'v=0\r\n';
      await peer.write(
        request('OPTIONS', { via: via(1) }) + '\r\n\r\n' + request('OPTIONS', { via: via(2), body, headers: { 'Content-Type': 'application/sdp' } }),
      );
      const split = request('OPTIONS', { via: via(3) });
      for (const part of [split.slice(0, 7), split.slice(7, 60), split.slice(60)]) {
        await peer.write(part);
        await quietly(20);
      }
      await waitUntil(() => peer.statuses.length === 3, { what: () => `3 responses, got ${peer.data}` });
      expect(peer.statuses).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
      expect(s.transport.counters.malformed).toBe(0);
    });

    it('answers the request on its connection even without rport', async () => {
      const s = await start();
      const peer = await tcpPeer(s.port);
      await peer.write(request('OPTIONS', { via: 'SIP/2.0/TCP unreachable.example.invalid:5999;branch=z9hG4bK-conn' }));
      await waitUntil(() => peer.statuses.length === 1, { what: 'a response on the same connection' });
      expect(header(peer.data, 'Via')).toBe('SIP/2.0/TCP unreachable.example.invalid:5999;branch=z9hG4bK-conn;received=127.0.0.1');
    });

    it('answers 513 to a message over the size limit and closes the connection', async () => {
      const s = await start({ transport: { maxMessageBytes: 4096 } });
      const peer = await tcpPeer(s.port);
      await peer.write(request('INVITE', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-big`, headers: { 'Content-Length': '100000' } }));
      await waitUntil(() => peer.closed, { what: 'the server to close the connection' });
      expect(peer.statuses).toEqual(['SIP/2.0 513 Message Too Large']);
      expect(s.transport.counters.oversized).toBe(1);
    });

    it('closes a connection that sends endless garbage, without answering', async () => {
      const s = await start({ transport: { maxMessageBytes: 4096 } });
      const peer = await tcpPeer(s.port);
      await peer.write('x'.repeat(5000)).catch(() => undefined);
      await waitUntil(() => peer.closed, { what: 'the server to close the connection' });
      expect(peer.data).toBe('');
    });

    it('answers 400 and closes on an unreadable Content-Length', async () => {
      const s = await start();
      const peer = await tcpPeer(s.port);
      await peer.write(request('OPTIONS', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=z9hG4bK-cl`, headers: { 'Content-Length': 'many' } }));
      await waitUntil(() => peer.closed, { what: 'the server to close the connection' });
      expect(peer.statuses).toEqual(['SIP/2.0 400 Bad Request']);
    });

    it('closes idle connections', async () => {
      const s = await start({ transport: { tcpIdleTimeoutMs: 200 } });
      const peer = await tcpPeer(s.port);
      await waitUntil(() => s.transport.tcpConnectionCount === 1, { what: 'the connection to be taken in' });
      await waitUntil(() => peer.closed && s.transport.tcpConnectionCount === 0, { what: 'the idle connection to close' });
    });
  });
  describe('responses go back the way their request came (RFC 3261 §18.2.2), never on a connection a Via asks for', () => {
    /** A TCP listener counting connections, and a UDP socket on the same port number: a host a Via may name. */
    async function namedHost(): Promise<{ port: number; connections: Socket[]; udp: UdpPeer; close: () => Promise<void> }> {
      const port = await freePort();
      const connections: Socket[] = [];
      const listener = createServer((socket) => connections.push(socket));
      await new Promise<void>((resolve) => listener.listen({ host: '127.0.0.1', port }, () => resolve()));
      const udp = await UdpPeer.open('127.0.0.1', port);
      const close = async (): Promise<void> => {
        for (const socket of connections) socket.destroy();
        await new Promise<void>((resolve) => listener.close(() => resolve()));
        await udp.close();
      };
      return { port, connections, udp, close };
    }

    it('answers UDP requests whose Via says TCP with datagrams, stateless or not, and connects nowhere', async () => {
      const s = await start();
      const peer = await udpPeer();
      const named = await namedHost();
      try {
        const via = (n: number, rport = ''): string => `SIP/2.0/TCP 127.0.0.1:${named.port};branch=z9hG4bK-udp-tcp-${n}${rport}`;
        await peer.send(s.port, request('OPTIONS', { via: via(1) }));
        await peer.send(s.port, request('FROBNICATE', { via: via(2) }));
        await peer.send(s.port, request('INVITE', { via: via(3) }));
        // Without rport: to the source address and the sent-by port, as datagrams.
        await named.udp.waitFor((m) => statusLine(m) === 'SIP/2.0 486 Busy Here', 'the 486 by UDP');
        expect(
          named.udp.received
            .map(statusLine)
            .filter((l) => l !== 'SIP/2.0 100 Trying')
            .sort(),
        ).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 486 Busy Here', 'SIP/2.0 501 Not Implemented'].sort());
        // With rport: to the source port.
        await peer.send(s.port, request('OPTIONS', { via: via(4, ';rport') }));
        expect(statusLine((await peer.next())[0])).toBe('SIP/2.0 200 OK');
        await quietly(200);
        expect(named.connections).toHaveLength(0);
      } finally {
        await named.close();
      }
    });

    it('does not connect back to a TCP request whose connection closed before the answer', async () => {
      // The 486 comes well after the 100 Trying (sent 100 ms in, the answer not being ready) and the close that follows it.
      const s = await start({ onInvite: ({ request: invite }) => setTimeout(() => invite.reject({ statusCode: 486 }), 600) });
      const named = await namedHost();
      try {
        const peer = await tcpPeer(s.port);
        await peer.write(request('INVITE', { via: `SIP/2.0/TCP 127.0.0.1:${named.port};branch=z9hG4bK-gone` }));
        await waitUntil(() => peer.statuses.includes('SIP/2.0 100 Trying'), { what: 'the 100' });
        peer.socket.destroy();
        await waitUntil(() => s.transport.counters.sendFailures > 0, { what: 'the 486 to find no way back' });
        await quietly(200);
        expect(named.connections).toHaveLength(0);
        expect(named.udp.received).toEqual([]);
      } finally {
        await named.close();
      }
    });

    it('opens at most its limit of outbound TCP connections, for its own requests only', async () => {
      const s = await start({ transport: { maxOutboundTcpConnections: 1 } });
      const [a, b] = [await namedHost(), await namedHost()];
      try {
        const options = (port: number): string =>
          `OPTIONS sip:x@127.0.0.1:${port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${s.port};branch=z9hG4bK-out-${port}\r\nCall-ID: out-${port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
        await s.transport.send(options(a.port));
        await expect(s.transport.send(options(b.port))).rejects.toThrow(/too many outbound TCP connections/);
        await waitUntil(() => a.connections.length === 1, { what: 'the first connection' });
        expect(b.connections).toHaveLength(0);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
