import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

/** A UDP socket and a TCP listener on the same address and port number. */
export interface BoundSockets {
  readonly udp: UdpSocket;
  readonly tcp: Server;
  readonly port: number;
}

/**
 * Binds UDP and TCP on the same port number: the given one, or for port 0 a number the system
 * picks for UDP that is then taken for TCP too (retried a few times when TCP finds it in use).
 */
export async function bindUdpAndTcp(host: string, port: number, family: 4 | 6): Promise<BoundSockets> {
  const attempts = port === 0 ? 8 : 1;
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
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
      return { udp, tcp, port: bound };
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
