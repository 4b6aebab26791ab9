import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { types as ms } from 'mediasoup';

const LOOPBACK = '127.0.0.1';

/**
 * RTP between a router and Node as UDP datagrams on loopback: a PlainTransport on 127.0.0.1 and a
 * Node socket bound to 127.0.0.1 and connected to it, each side sending to the other's port.
 *
 * This replaces a DirectTransport, on which every packet in or out is a message on the worker's
 * channel: a FlatBuffers request built in JS and a pipe write per packet sent, a notification parsed
 * and re-emitted on a later turn of the loop per packet received. Here a packet is one sendto() or
 * one recvmsg(). The socket is connected, so the kernel hands it datagrams from the transport's
 * address only; the source is checked again on each datagram all the same.
 */
export class LoopbackRtp {
  private closed = false;
  private listener: ((packet: Buffer) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly transport: ms.PlainTransport,
    /** The transport's port, the only source accepted. */
    private readonly remotePort: number,
  ) {
    socket.on('message', (packet: Buffer, from: RemoteInfo) => {
      if (from.port !== this.remotePort || from.address !== LOOPBACK) return;
      this.listener?.(packet);
    });
    transport.observer.once('close', () => this.close());
  }

  /** Opens the pair on `router`; on failure nothing is left open. */
  static async open(router: ms.Router, portRange: { min: number; max: number }): Promise<LoopbackRtp> {
    const socket = createSocket({ type: 'udp4' });
    // A send to a transport that just closed comes back as ECONNREFUSED: nothing to act on, and
    // the close that caused it follows (or came first).
    socket.on('error', () => undefined);
    let transport: ms.PlainTransport | undefined;
    try {
      socket.bind({ address: LOOPBACK, port: 0, exclusive: true });
      await once(socket, 'listening');
      transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: LOOPBACK, portRange }, rtcpMux: true, comedia: false });
      await transport.connect({ ip: LOOPBACK, port: socket.address().port });
      const remotePort = transport.tuple.localPort;
      socket.connect(remotePort, LOOPBACK);
      await once(socket, 'connect');
      return new LoopbackRtp(socket, transport, remotePort);
    } catch (err) {
      socket.close();
      if (transport && !transport.closed) transport.close();
      throw err;
    }
  }

  /** The Node side's port (on 127.0.0.1). */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** Takes every RTP or RTCP datagram the transport sends to Node (one listener). */
  onPacket(listener: (packet: Buffer) => void): void {
    this.listener = listener;
  }

  /** Sends one RTP packet to the transport; dropped once closed. */
  send(packet: Buffer): void {
    if (!this.closed) this.socket.send(packet);
  }

  /** Frees the socket and the transport; harmless twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = undefined;
    this.socket.close();
    if (!this.transport.closed) this.transport.close();
  }
}
