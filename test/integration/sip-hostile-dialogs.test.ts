/**
 * Requests inside a dialog or transaction from someone who knows its Call-ID and tags but is not
 * its peer — here another host (127.0.0.2), trusted as a trunk all the same. A BYE, re-INVITE,
 * INFO or CANCEL from there gets 403 and changes nothing; an ACK from there is dropped. The peer
 * itself may come from another port (a trunk sending from changing ports, a new TCP connection).
 */
import { pino } from 'pino';
import { URI, type Core } from 'sip.js';
import { afterEach, describe, expect, it } from 'vitest';
import { SipServer, type InboundInvite } from '../../src/sip/sipServer.js';
import { waitUntil } from '../support/resources.js';
import { branch, header, quietly, request, statusOf, TcpPeer, UdpPeer } from '../support/sipPeers.js';

const SDP = 'v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40020 RTP/AVP 0\r\n';
const STRANGER = '127.0.0.2';

/** What happened inside the answered dialog. */
interface Seen {
  events: string[];
}

describe('requests inside a dialog or transaction, from its peer only', () => {
  let server: SipServer | undefined;
  const sockets: (UdpPeer | TcpPeer)[] = [];

  afterEach(async () => {
    for (const peer of sockets.splice(0)) {
      if (peer instanceof UdpPeer) await peer.close();
      else peer.socket.destroy();
    }
    await server?.close();
    server = undefined;
  });

  async function udp(address = '127.0.0.1'): Promise<UdpPeer> {
    const peer = await UdpPeer.open(address);
    sockets.push(peer);
    return peer;
  }

  async function tcp(port: number, address = '127.0.0.1'): Promise<TcpPeer> {
    const peer = await TcpPeer.open(port, address);
    sockets.push(peer);
    return peer;
  }

  /** A server whose owner answers every INVITE 200 and records what comes inside the dialog. */
  async function answering(seen: Seen): Promise<SipServer> {
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.0/8'],
      logger: pino({ level: 'silent' }),
      transport: { retransmitTiming: { t1: 100, t2: 400 } },
      onInvite: ({ request: invite }: InboundInvite) => {
        const { session } = invite.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: SDP } });
        session.delegate = {
          onAck: () => void seen.events.push('ACK'),
          onBye: (bye) => {
            seen.events.push('BYE');
            bye.accept();
          },
          onInfo: (info) => {
            seen.events.push('INFO');
            info.accept();
          },
          onInvite: (reInvite) => {
            seen.events.push('re-INVITE');
            reInvite.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: SDP } });
          },
        };
      },
    });
    return server;
  }

  /** The caller's side of a dialog: builds its requests inside it, from any socket. */
  function dialogOf(invite: string, ok: string) {
    let cseq = 1;
    return (method: string, via: string): string => {
      cseq++;
      return request(method, {
        via,
        headers: {
          From: header(invite, 'From')!,
          To: header(ok, 'To')!,
          'Call-ID': header(invite, 'Call-ID')!,
          CSeq: `${method === 'ACK' ? 1 : cseq} ${method}`,
          ...(method === 'INVITE' ? { 'Content-Type': 'application/sdp', Contact: '<sip:caller@127.0.0.1>' } : {}),
        },
        ...(method === 'INVITE' && { body: SDP }),
      });
    };
  }

  const udpVia = (peer: UdpPeer): string => `SIP/2.0/UDP ${peer.address}:${peer.port};branch=${branch()};rport`;

  it('over UDP: a stranger gets 403 for BYE, INFO and re-INVITE and nothing for ACK; the caller, from another port, is heard', async () => {
    const seen: Seen = { events: [] };
    const s = await answering(seen);
    const caller = await udp();
    const invite = request('INVITE', { via: udpVia(caller), headers: { 'Content-Type': 'application/sdp' }, body: SDP });
    await caller.send(s.port, invite);
    const ok = await caller.waitFor((m) => statusOf(m) === 200, 'the 200');
    const inDialog = dialogOf(invite, ok);
    await caller.send(s.port, inDialog('ACK', udpVia(caller)));
    await waitUntil(() => seen.events.includes('ACK'), { what: 'the ACK' });

    const stranger = await udp(STRANGER);
    for (const method of ['BYE', 'INFO', 'INVITE']) await stranger.send(s.port, inDialog(method, udpVia(stranger)));
    await stranger.send(s.port, inDialog('ACK', udpVia(stranger)));
    await waitUntil(() => stranger.received.length >= 3, { what: 'three answers to the stranger' });
    await quietly(200);
    expect(stranger.received.map(statusOf)).toEqual([403, 403, 403]);
    expect(seen.events).toEqual(['ACK']);
    expect(s.core.dialogs.size).toBe(1);

    const samehost = await udp();
    await samehost.send(s.port, inDialog('INFO', udpVia(samehost)));
    await samehost.send(s.port, inDialog('BYE', udpVia(samehost)));
    await waitUntil(() => samehost.received.length >= 2, { what: 'two answers to the caller' });
    expect(samehost.received.map(statusOf)).toEqual([200, 200]);
    expect(seen.events).toEqual(['ACK', 'INFO', 'BYE']);
  });

  it("refuses a CANCEL from another host (the call rings on), takes the caller's from another port", async () => {
    const cancelled: string[] = [];
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.0/8'],
      logger: pino({ level: 'silent' }),
      onInvite: (invite) => {
        invite.request.progress({ statusCode: 180 });
        invite.cancelled.addEventListener('abort', () => cancelled.push('cancelled'));
      },
    });
    const caller = await udp();
    const via = udpVia(caller);
    const invite = request('INVITE', { via, headers: { 'Content-Type': 'application/sdp' }, body: SDP });
    await caller.send(server.port, invite);
    await caller.waitFor((m) => statusOf(m) === 180, 'the 180');
    const cancel = request('CANCEL', {
      via,
      headers: { From: header(invite, 'From')!, To: header(invite, 'To')!, 'Call-ID': header(invite, 'Call-ID')!, CSeq: '1 CANCEL' },
    });

    const stranger = await udp(STRANGER);
    await stranger.send(server.port, cancel);
    await waitUntil(() => stranger.received.length === 1, { what: 'an answer to the stranger' });
    expect(statusOf(stranger.received[0])).toBe(403);
    await quietly(200);
    expect(cancelled).toEqual([]);
    expect(caller.received.map(statusOf)).not.toContain(487);

    const samehost = await udp();
    await samehost.send(server.port, cancel);
    await samehost.waitFor((m) => statusOf(m) === 200, 'the 200 to the CANCEL');
    await caller.waitFor((m) => statusOf(m) === 487, 'the 487');
    expect(cancelled).toEqual(['cancelled']);
  });

  it("over TCP: the caller's BYE on a new connection is taken, a stranger's refused", async () => {
    const seen: Seen = { events: [] };
    const s = await answering(seen);
    const caller = await tcp(s.port);
    const tcpVia = (peer: TcpPeer): string => `SIP/2.0/TCP 127.0.0.1:${peer.localPort};branch=${branch()}`;
    const invite = request('INVITE', { via: tcpVia(caller), headers: { 'Content-Type': 'application/sdp' }, body: SDP });
    await caller.write(invite);
    await waitUntil(() => caller.messages.some((m) => statusOf(m) === 200), { what: 'the 200' });
    const inDialog = dialogOf(
      invite,
      caller.messages.find((m) => statusOf(m) === 200)!,
    );
    await caller.write(inDialog('ACK', tcpVia(caller)));
    await waitUntil(() => seen.events.includes('ACK'), { what: 'the ACK' });

    const stranger = await tcp(s.port, STRANGER);
    await stranger.write(inDialog('BYE', tcpVia(stranger)));
    await waitUntil(() => stranger.statuses.length === 1, { what: 'an answer to the stranger' });
    expect(stranger.statuses).toEqual(['SIP/2.0 403 Forbidden']);
    expect(seen.events).toEqual(['ACK']);

    const again = await tcp(s.port);
    await again.write(inDialog('BYE', tcpVia(again)));
    await waitUntil(() => again.statuses.length === 1, { what: 'an answer to the caller' });
    expect(again.statuses).toEqual(['SIP/2.0 200 OK']);
    expect(seen.events).toEqual(['ACK', 'BYE']);
  });

  it("in a call it placed, takes the BYE from the callee it dialled and refuses a stranger's", async () => {
    server = await SipServer.start({ host: '127.0.0.1', port: 0, trunks: ['10.0.0.0/8'], logger: pino({ level: 'silent' }) });
    const s = server;
    const callee = await udp();
    callee.socket.on('message', (data) => {
      const text = data.toString('utf8');
      if (!text.startsWith('INVITE ')) return;
      const vias = text.split('\r\n').filter((l) => /^Via:/i.test(l));
      const ok = [
        'SIP/2.0 200 OK',
        ...vias,
        `From: ${header(text, 'From')!}`,
        `To: ${header(text, 'To')!};tag=callee`,
        `Call-ID: ${header(text, 'Call-ID')!}`,
        `CSeq: ${header(text, 'CSeq')!}`,
        `Contact: <sip:callee@127.0.0.1:${callee.port}>`,
        'Content-Type: application/sdp',
        `Content-Length: ${SDP.length}`,
      ];
      void callee.send(s.port, `${ok.join('\r\n')}\r\n\r\n${SDP}`);
    });
    const target = new URI('sip', 'callee', '127.0.0.1', callee.port);
    const message = s.core.makeOutgoingRequestMessage('INVITE', target, new URI('sip', 'legway', '127.0.0.1', s.port), target, {}, [`Contact: ${s.contact}`], {
      contentDisposition: 'session',
      contentType: 'application/sdp',
      content: SDP,
    });
    const byes: string[] = [];
    const answered = new Promise<Core.Session>((resolve) => {
      s.core.invite(message, {
        onAccept: (response) => {
          response.ack();
          response.session.delegate = {
            onBye: (bye) => {
              byes.push('BYE');
              bye.accept();
            },
          };
          resolve(response.session);
        },
      });
    });
    const session = await answered;
    const invite = callee.received.find((m) => m.startsWith('INVITE '))!;
    const bye = (peer: UdpPeer): string =>
      request('BYE', {
        via: udpVia(peer),
        requestUri: `sip:legway@127.0.0.1:${s.port}`,
        headers: { From: `${header(invite, 'To')!};tag=callee`, To: header(invite, 'From')!, 'Call-ID': session.callId, CSeq: '1 BYE' },
      });
    const stranger = await udp(STRANGER);
    await stranger.send(s.port, bye(stranger));
    expect(statusOf((await stranger.next())[0])).toBe(403);
    expect(byes).toEqual([]);
    const other = await udp();
    await other.send(s.port, bye(other));
    expect(statusOf((await other.next())[0])).toBe(200);
    expect(byes).toEqual(['BYE']);
  });
});
