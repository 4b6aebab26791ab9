/**
 * What the gateway's messages say about it must be true: its Contact names the transport of the
 * dialog (over TCP `;transport=tcp`, or a far end that follows it sends the rest of the dialog over
 * UDP), Allow lists the methods it handles (not sip.js's), and its requests claim no extension it
 * does not do (no `Supported: timer` as a caller: it would be made the refresher and never refresh).
 */
import { createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { URI } from 'sip.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ALLOWED_METHODS } from '../../src/sip/methods.js';
import { SipServer } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { branch, header, request, statusOf, TcpPeer, UdpPeer } from '../support/sipPeers.js';

const SDP = 'v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40030 RTP/AVP 0\r\n';
const ALLOW = ALLOWED_METHODS.join(', ');

describe('headers that say the truth', () => {
  let server: SipServer | undefined;
  const closers: (() => unknown)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await server?.close();
    server = undefined;
  });

  async function answering(): Promise<SipServer> {
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.1/32'],
      logger: pino({ level: 'silent' }),
      onInvite: ({ request: invite }) => {
        invite.progress({ statusCode: 180 });
        invite.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: SDP } });
      },
    });
    return server;
  }

  it('over TCP: the 180 and 200 carry Contact with transport=tcp, the 200 the methods the gateway handles', async () => {
    const s = await answering();
    const peer = await TcpPeer.open(s.port);
    closers.push(() => peer.socket.destroy());
    await peer.write(
      request('INVITE', { via: `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=${branch()}`, headers: { 'Content-Type': 'application/sdp' }, body: SDP }),
    );
    await waitUntil(() => peer.messages.some((m) => statusOf(m) === 200), { what: 'the 200' });
    const ringing = peer.messages.find((m) => statusOf(m) === 180);
    const ok = peer.messages.find((m) => statusOf(m) === 200);
    expect(header(ringing, 'Contact')).toBe(`<sip:127.0.0.1:${s.port};transport=tcp>`);
    expect(header(ok, 'Contact')).toBe(`<sip:127.0.0.1:${s.port};transport=tcp>`);
    expect(header(ok, 'Allow')).toBe(ALLOW);
    expect(header(ok, 'Supported')).toBe('timer');
  });

  it('over UDP: Contact without a transport (UDP is the default), the same Allow', async () => {
    const s = await answering();
    const peer = await UdpPeer.open();
    closers.push(() => peer.close());
    await peer.send(
      s.port,
      request('INVITE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch()};rport`, headers: { 'Content-Type': 'application/sdp' }, body: SDP }),
    );
    const ok = await peer.waitFor((m) => statusOf(m) === 200, 'the 200');
    expect(header(ok, 'Contact')).toBe(`<sip:127.0.0.1:${s.port}>`);
    expect(header(ok, 'Allow')).toBe(ALLOW);
  });

  it('OPTIONS and 405 list the same methods as the 200', async () => {
    const s = await answering();
    const peer = await UdpPeer.open();
    closers.push(() => peer.close());
    await peer.send(s.port, request('OPTIONS', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch()};rport` }));
    await peer.send(s.port, request('SUBSCRIBE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch()};rport` }));
    const [options, refused] = await peer.next(2);
    expect([statusOf(options), statusOf(refused)].sort()).toEqual([200, 405]);
    expect(header(options, 'Allow')).toBe(ALLOW);
    expect(header(refused, 'Allow')).toBe(ALLOW);
  });

  it('an INVITE it places over TCP has Contact with transport=tcp and does not offer session timers', async () => {
    server = await SipServer.start({ host: '127.0.0.1', port: 0, trunks: ['127.0.0.1/32'], logger: pino({ level: 'silent' }) });
    const s = server;
    let received = '';
    const sockets: Socket[] = [];
    const callee = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    });
    await new Promise<void>((resolve) => callee.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    closers.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => callee.close(() => resolve()));
    });
    const address = callee.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const target = new URI('sip', 'callee', '127.0.0.1', port, { transport: 'tcp' });
    const message = s.core.makeOutgoingRequestMessage('INVITE', target, new URI('sip', 'legway', '127.0.0.1', s.port), target, {}, [`Contact: ${s.contact}`], {
      contentDisposition: 'session',
      contentType: 'application/sdp',
      content: SDP,
    });
    s.core.invite(message, {});
    await waitUntil(() => received.includes('\r\n\r\n'), { what: 'the INVITE' });
    expect(header(received, 'Contact')).toBe(`<sip:127.0.0.1:${s.port};transport=tcp>`);
    expect(header(received, 'Via')).toMatch(/^SIP\/2\.0\/TCP /);
    expect(header(received, 'Supported', 'k') ?? '').not.toMatch(/timer/);
    expect(header(received, 'Allow')).toBe(ALLOW);
  });
});
