import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

/** A UDP socket and a TCP listener on the same address and port number. */
export interface BoundSockets {
  readonly udp: UdpSocket;
  readonly tcp: Server;
  readonly port: number;
  /** The UDP receive buffer the system granted (it may be less than UDP_RECV_BUFFER_BYTES). */
  readonly udpReceiveBufferBytes: number;
}

/**
 * The receive buffer asked for the SIP UDP socket. The system's default (about 208 KiB on Linux)
 * holds a few hundred datagrams: a burst of calls arriving while the event loop is busy for some
 * tens of milliseconds (a garbage collection, a large commit) overflows it, and each datagram lost
 * costs a caller a retransmission (half a second for an INVITE) or, for an ACK, a call left waiting.
 * Linux grants at most net.core.rmem_max of it.
 */
export const UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Binds UDP and TCP on the same port number: the given one, or for port 0 a number the system
 * picks for UDP that is then taken for TCP too (retried a few times when TCP finds it in use).
 */
export async function bindUdpAndTcp(host: string, port: number, family: 4 | 6): Promise<BoundSockets> {
  const attempts = port === 0 ? 8 : 1;
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket({ type: family === 6 ? 'udp6' : 'udp4', recvBufferSize: UDP_RECV_BUFFER_BYTES });
    try {
      await bindUdp(udp, host, port);
    } catch (err) {
      udp.close();
      throw err;
    }
    const bound = udp.address().port;
    const tcp = createServer();
    try {
      await listenTcp(tcp, host, bound);
      // Linux reports twice what it granted (the other half is its bookkeeping).
      return { udp, tcp, port: bound, udpReceiveBufferBytes: udp.getRecvBufferSize() / 2 };
    } catch (err) {
      udp.close();
      if (attempt >= attempts || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

function bindUdp(socket: UdpSocket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
