import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import type { LevelledAudioPacket } from '../audio/audioLevel.js';
import { parseRtp, RtpPacketizer } from '../audio/rtp.js';
import type { AudioEndpoint, EndpointEvents } from '../engine.js';
import type { LoopbackAudio } from './protocol.js';

const LOOPBACK = '127.0.0.1';

/**
 * The media thread's side of a WebRTC leg's LoopbackRtp: a UDP socket on 127.0.0.1 connected to
 * the router's PlainTransport (which the main thread made and connected to this socket's port).
 * The peer's audio comes in here and the leg's mix goes out from here, so the bridge on this
 * thread never waits on the main thread.
 */
export class ThreadLoopback implements AudioEndpoint {
  private readonly emitter = new TypedEmitter<EndpointEvents>(() => undefined);
  private audio: LoopbackAudio | undefined;
  private mix: RtpPacketizer | undefined;
  /** DTLS is up on the peer's transport: until then the mix is not even sent (mediasoup would drop it). */
  secured = false;
  private closed = false;

  private constructor(
    readonly id: string,
    private readonly socket: Socket,
  ) {
    socket.on('message', (packet: Buffer, from: RemoteInfo) => this.receive(packet, from));
  }

  /** Binds a socket on loopback: on `port` when given (a leg moving here keeps its port), else any. */
  static async open(id: string, port = 0): Promise<ThreadLoopback> {
    const socket = createSocket({ type: 'udp4' });
    // A send to a transport that just closed comes back as ECONNREFUSED: nothing to act on.
    socket.on('error', () => undefined);
    try {
      socket.bind({ address: LOOPBACK, port, exclusive: true });
      await once(socket, 'listening');
    } catch (err) {
      socket.close();
      throw err;
    }
    return new ThreadLoopback(id, socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Starts exchanging audio with the transport at `audio.remotePort`. */
  async connect(audio: LoopbackAudio): Promise<void> {
    this.audio = audio;
    if (audio.mix) this.mix = new RtpPacketizer(audio.mix.payloadType, audio.mix.ssrc, audio.mix.sequenceNumber === undefined ? undefined : { sequenceNumber: audio.mix.sequenceNumber, timestamp: audio.mix.timestamp ?? 0 });
    this.socket.connect(audio.remotePort, LOOPBACK);
    await once(this.socket, 'connect');
  }

  /** Where the mix's stream is now, so that a leg moving to another thread carries on from there. */
  get mixState(): LoopbackAudio['mix'] {
    const mix = this.audio?.mix;
    return mix && this.mix ? { ...mix, ...this.mix.position } : mix;
  }

  sendAudio(opusFrame: Buffer): void {
    if (!this.mix || !this.secured || this.closed) return;
    this.socket.send(this.mix.packet(opusFrame));
  }

  on<E extends keyof EndpointEvents>(event: E, listener: (...args: EndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(packet: Buffer, from: RemoteInfo): void {
    const inbound = this.audio?.inbound;
    if (!inbound || this.closed || from.port !== this.audio?.remotePort || from.address !== LOOPBACK) return;
    const rtp = parseRtp(packet, inbound.levelId);
    if (!rtp || rtp.payloadType !== inbound.payloadType || rtp.ssrc !== inbound.ssrc) return;
    const audio: LevelledAudioPacket = { sequenceNumber: rtp.sequenceNumber, timestamp: rtp.timestamp, payload: rtp.payload, audioLevel: rtp.audioLevel };
    this.emitter.emit('audio', audio);
  }
}
