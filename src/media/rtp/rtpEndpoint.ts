/**
 * A SIP leg's media: plain RTP on the gateway's own UDP sockets (not mediasoup, whose
 * PlainTransport producers need the sender's SSRC in advance, which SIP trunks do not signal).
 * G.711 out of the bridge's 48 kHz frames, RFC 4733 DTMF both ways; incoming audio is handed on as
 * RTP packets, for a `G711Input` to buffer, decode and upsample.
 *
 * - Latching: see ./latch.ts for the policy (symmetric RTP).
 * - RTCP: port+1 is bound as well (SDP without a=rtcp implies it), so that the far end's reports
 *   reach an open socket; they are counted and ignored, as are RTCP packets multiplexed onto the
 *   RTP port. No reports are sent: liveness here is judged from RTP, and SIP trunks do not need
 *   our receiver reports to carry on.
 * - Every datagram is checked: short, not version 2, inconsistent lengths, unknown payload type,
 *   wrong source — each dropped and counted in `stats`, never thrown.
 */
import { randomInt } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { fail } from '../../domain/errors.js';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import type { RtpPacket } from '../audio/rtp.js';
import { isDtmfDigit, type DtmfPress } from './dtmf.js';
import { encodeG711, G711_FRAME_SAMPLES, type G711Codec } from './g711.js';
import { isUnspecified, SourceLatch, type UdpAddress } from './latch.js';
import { Downsampler } from './resampler.js';
import { DtmfReceiver, DtmfSender, type DtmfSenderOptions } from './rfc4733.js';
import { classifyDatagram, LossCounter, RtpSender } from './rtpStream.js';
import { bindRtpPorts, type PortRange } from './udpPorts.js';

/** The SDP direction of the leg's media, from the gateway's side. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** What offer/answer settled on for this leg. */
export interface RtpCodecConfig {
  payloadType: number;
  codec: G711Codec;
  /** The telephone-event payload type (8000 Hz clock), when negotiated. */
  telephoneEventPt?: number;
  /** Packet time in ms from the SDP; 20 is the only one supported (and G.711's default). */
  ptime: number;
}

export interface RtpEndpointOptions {
  /** Address to bind (and to announce in SDP unless a public one is configured elsewhere). */
  ip: string;
  portRange: PortRange;
  logger: Logger;
  /** Also bind port+1 for RTCP (received and ignored); true by default. */
  rtcp?: boolean;
  /** `inactive` fires after this long without RTP while receiving; 30 s by default, 0 turns it off. */
  inactivityTimeoutMs?: number;
  /** Tone length, gap and volume of the DTMF we send. */
  dtmf?: Pick<DtmfSenderOptions, 'toneMs' | 'gapMs' | 'volume'>;
}

/** A key press received as RFC 4733 events. */
export interface RtpDtmf extends DtmfPress {
  method: 'rfc4733';
}

export interface RtpEndpointEvents {
  [event: string]: unknown[];
  /** One audio packet (the negotiated payload type) from the latched source. */
  rtp: [RtpPacket];
  dtmf: [RtpDtmf];
  /** No RTP for `inactivityTimeoutMs` while the leg should be receiving; once per silent spell. */
  inactive: [{ idleMs: number }];
  /** The source media is now taken from (and sent to). */
  latched: [UdpAddress];
  /** Sockets closed; fires once. */
  closed: [];
}

/** Counters since open. */
export interface RtpStats {
  /** Accepted packets (audio and telephone-event) and their bytes, headers included. */
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Gaps in the received sequence numbers (RFC 3550 cumulative loss). */
  lost: number;
  droppedWrongSource: number;
  /** Received while the direction says we do not receive (still counted in `packetsIn`). */
  droppedNotReceiving: number;
  malformed: number;
  unknownPayloadType: number;
  rtcpIn: number;
  sendErrors: number;
}

type Counters = Omit<RtpStats, 'lost'>;

const sends = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'sendonly';
const receives = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'recvonly';
const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

function checkPayloadType(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 127) throw fail('BadRequest', `${what} ${value} is not 0..127`);
}

/** One SIP leg's RTP session on its own UDP port (and RTCP port). */
export class RtpEndpoint {
  private readonly emitter: TypedEmitter<RtpEndpointEvents>;
  private readonly latch = new SourceLatch();
  private readonly sender = new RtpSender();
  private readonly loss = new LossCounter();
  private readonly downsampler = new Downsampler();
  private readonly pcm8 = new Int16Array(G711_FRAME_SAMPLES);
  private readonly encoded = Buffer.alloc(G711_FRAME_SAMPLES);
  private readonly dtmfReceiver = new DtmfReceiver({ clockRate: 8000 });
  private readonly dtmfSender: DtmfSender;
  private readonly counters: Counters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    droppedWrongSource: 0,
    droppedNotReceiving: 0,
    malformed: 0,
    unknownPayloadType: 0,
    rtcpIn: 0,
    sendErrors: 0,
  };
  private config: RtpCodecConfig | undefined;
  private mediaDirection: MediaDirection = 'sendrecv';
  /** The outgoing stream's clock: advances 160 per 20 ms tick, whether or not a packet goes out. */
  private timestamp = randomInt(0x1_0000_0000);
  /** The next audio packet starts a talkspurt (marker bit): first packet, after DTMF or a pause. */
  private talkspurt = true;
  private lastFrameAt = -Infinity;
  private dtmfClock: NodeJS.Timeout | undefined;
  private dtmfWaiters: (() => void)[] = [];
  private eventSsrc: number | undefined;
  private readonly watchdog: NodeJS.Timeout | undefined;
  private idleSince = performance.now();
  private inactiveReported = false;
  private lastPacketEpoch: number | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly ip: string,
    readonly port: number,
    private readonly rtpSocket: Socket,
    private readonly rtcpSocket: Socket | undefined,
    private readonly logger: Logger,
    private readonly inactivityTimeoutMs: number,
    dtmf: RtpEndpointOptions['dtmf'],
  ) {
    this.emitter = new TypedEmitter<RtpEndpointEvents>((err, event) => logger.error({ err, event }, 'rtp endpoint listener failed'));
    this.dtmfSender = new DtmfSender({ clockRate: 8000, packetMs: FRAME_MS, ...dtmf });
    rtpSocket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    rtcpSocket?.on('message', () => this.counters.rtcpIn++);
    for (const socket of [rtpSocket, rtcpSocket]) socket?.on('error', (err) => logger.warn({ err }, 'rtp socket error'));
    if (inactivityTimeoutMs > 0) {
      this.watchdog = setInterval(() => this.checkActivity(), Math.max(10, Math.min(1000, inactivityTimeoutMs / 4)));
      this.watchdog.unref();
    }
  }

  /** Binds a random free even port of the range (and the odd one above for RTCP); `Unavailable` if none is free. */
  static async open(options: RtpEndpointOptions): Promise<RtpEndpoint> {
    const withRtcp = options.rtcp ?? true;
    const { port, rtp, rtcp } = await bindRtpPorts(options.ip, options.portRange, withRtcp);
    const logger = options.logger.child({ component: 'rtp', port });
    return new RtpEndpoint(options.ip, port, rtp, rtcp, logger, options.inactivityTimeoutMs ?? 30_000, options.dtmf);
  }

  on<E extends keyof RtpEndpointEvents>(event: E, listener: (...args: RtpEndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  get stats(): RtpStats {
    return { ...this.counters, lost: this.loss.lost };
  }

  get direction(): MediaDirection {
    return this.mediaDirection;
  }

  /** When the last accepted RTP packet arrived (epoch ms), if any has. */
  get lastPacketAt(): number | undefined {
    return this.lastPacketEpoch;
  }

  /** The source media is taken from, once latched. */
  get latched(): UdpAddress | undefined {
    return this.latch.latched;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Sets the far end's address and port from its SDP (again after a re-INVITE, which unlatches). */
  setRemote(remote: UdpAddress): void {
    const family = isIP(remote.address);
    if (family === 0) throw fail('BadRequest', `remote media address ${JSON.stringify(remote.address)} is not an IP address`);
    if (!Number.isInteger(remote.port) || remote.port < 0 || remote.port > 65535) throw fail('BadRequest', `remote media port ${remote.port} is not 0..65535`);
    if ((family === 6) !== isIPv6(this.ip) && !isUnspecified(remote.address)) {
      throw fail('BadRequest', `remote media address ${remote.address} is not of the local address's family`);
    }
    this.latch.setRemote(remote);
    this.touchIdle();
  }

  /** Applies the negotiated codec (again after a re-INVITE). */
  configure(config: RtpCodecConfig): void {
    checkPayloadType(config.payloadType, 'payload type');
    if (config.telephoneEventPt !== undefined) {
      checkPayloadType(config.telephoneEventPt, 'telephone-event payload type');
      if (config.telephoneEventPt === config.payloadType) throw fail('BadRequest', 'telephone-event and audio share a payload type');
    }
    if (config.ptime !== FRAME_MS) throw fail('BadRequest', `ptime ${config.ptime} is not supported (${FRAME_MS} only)`);
    this.config = { ...config };
    // Keys queued for a telephone-event the new offer dropped cannot go out any more.
    if (config.telephoneEventPt === undefined) this.dtmfSender.clear();
    this.touchIdle();
  }

  /** Sets what the leg may send and receive: nothing is sent unless sending, input dropped unless receiving. */
  hold(direction: MediaDirection): void {
    if (!DIRECTIONS.includes(direction)) throw fail('BadRequest', `unknown media direction ${JSON.stringify(direction)}`);
    if (!sends(this.mediaDirection) && sends(direction)) this.talkspurt = true;
    this.mediaDirection = direction;
    this.touchIdle();
  }

  /**
   * Sends one 20 ms frame of the bridge's 48 kHz mix as G.711, one call per bridge tick. Nothing goes
   * out before `configure`, while not sending, with no destination, or while a DTMF event is on the wire.
   */
  sendFrame(pcm48: Int16Array): void {
    if (pcm48.length !== FRAME_SAMPLES) throw new RangeError(`frame has ${pcm48.length} samples, expected ${FRAME_SAMPLES}`);
    if (this.closed || this.config === undefined) return;
    this.lastFrameAt = performance.now();
    // Always through the filter, so its state stays continuous across pauses.
    this.downsampler.process(pcm48, this.pcm8);
    this.tick(this.pcm8);
  }

  /**
   * Sends keys as RFC 4733 events after any already queued; settles once they are sent (or the
   * endpoint closes). `InvalidState` without a negotiated telephone-event, `BadRequest` for a non-key.
   */
  sendDtmf(digits: string): Promise<void> {
    if (this.closed) throw fail('InvalidState', 'the RTP endpoint is closed');
    if (this.config?.telephoneEventPt === undefined) throw fail('InvalidState', 'telephone-event was not negotiated');
    let valid = digits.length > 0;
    for (const d of digits) valid &&= isDtmfDigit(d);
    if (!valid) throw fail('BadRequest', `not a DTMF digit string: ${JSON.stringify(digits)}`);
    this.dtmfSender.enqueue(digits);
    const done = new Promise<void>((resolve) => this.dtmfWaiters.push(resolve));
    // Events are timed by the bridge's frames while they come; this clock stands in when they do not.
    this.dtmfClock ??= setInterval(() => {
      if (performance.now() - this.lastFrameAt >= 1.5 * FRAME_MS) this.tick(undefined);
    }, FRAME_MS);
    return done;
  }

  /** Closes the sockets and stops the timers; harmless twice. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.watchdog) clearInterval(this.watchdog);
    this.stopDtmfClock();
    const sockets = [this.rtpSocket, this.rtcpSocket].filter((s) => s !== undefined);
    this.closing = Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {
      this.emitter.emit('closed');
    });
    return this.closing;
  }

  /** One 20 ms step of the outgoing stream: a DTMF packet if one is due, else the audio, if any. */
  private tick(pcm8: Int16Array | undefined): void {
    const config = this.config;
    if (config === undefined) return;
    const ts = this.timestamp;
    this.timestamp = (ts + G711_FRAME_SAMPLES) >>> 0;
    const event = this.dtmfSender.tick(ts);
    if (event !== undefined && config.telephoneEventPt !== undefined) {
      this.talkspurt = true;
      this.send(config.telephoneEventPt, event.timestamp, event.marker, event.payload);
    } else if (pcm8 !== undefined && !this.dtmfSender.active) {
      encodeG711(config.codec, pcm8, this.encoded);
      if (this.send(config.payloadType, ts, this.talkspurt, this.encoded)) this.talkspurt = false;
    }
    if (!this.dtmfSender.pending) this.stopDtmfClock();
  }

  /** Sends one packet to the destination; false when it may not (direction) or cannot (no address) go. */
  private send(payloadType: number, timestamp: number, marker: boolean, payload: Uint8Array): boolean {
    const destination = this.latch.destination;
    if (!sends(this.mediaDirection) || destination === undefined || this.closed) return false;
    const packet = this.sender.packet({ payloadType, timestamp, marker }, payload);
    this.counters.packetsOut++;
    this.counters.bytesOut += packet.length;
    this.rtpSocket.send(packet, destination.port, destination.address, (err) => {
      if (err) {
        this.counters.sendErrors++;
        this.logger.debug({ err }, 'rtp send failed');
      }
    });
    return true;
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    try {
      this.accept(msg, rinfo);
    } catch (err) {
      // Nothing below should throw on any input; if it does, the datagram is dropped, not the leg.
      this.counters.malformed++;
      this.logger.warn({ err }, 'rtp packet handling failed');
    }
  }

  private accept(msg: Buffer, rinfo: RemoteInfo): void {
    const datagram = classifyDatagram(msg, this.config);
    if (datagram.kind !== 'audio' && datagram.kind !== 'event') {
      this.counters[datagram.kind === 'rtcp' ? 'rtcpIn' : datagram.kind]++;
      return;
    }
    const verdict = this.latch.check({ address: rinfo.address, port: rinfo.port });
    if (verdict === 'reject') {
      this.counters.droppedWrongSource++;
      return;
    }
    if (verdict === 'latch') {
      const source = { address: rinfo.address, port: rinfo.port };
      this.logger.info({ source }, 'rtp latched');
      this.emitter.emit('latched', source);
    }

    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    this.loss.update(datagram.packet.ssrc, datagram.packet.sequenceNumber);
    this.lastPacketEpoch = Date.now();
    this.touchIdle();
    if (!receives(this.mediaDirection)) {
      this.counters.droppedNotReceiving++;
      return;
    }
    if (datagram.kind === 'event') this.receiveEvent(datagram.packet);
    else this.emitter.emit('rtp', datagram.packet);
    this.pollDtmf();
  }

  private receiveEvent(packet: RtpPacket): void {
    // A new SSRC is a restarted stream whose timestamps have nothing to do with the old ones.
    if (this.eventSsrc !== undefined && this.eventSsrc !== packet.ssrc) this.dtmfReceiver.reset();
    this.eventSsrc = packet.ssrc;
    for (const press of this.dtmfReceiver.push(packet)) this.emitter.emit('dtmf', { ...press, method: 'rfc4733' });
  }

  private pollDtmf(): void {
    const press = this.dtmfReceiver.poll();
    if (press) this.emitter.emit('dtmf', { ...press, method: 'rfc4733' });
  }

  /** Starts a new silent spell: a packet arrived, or what we expect changed. */
  private touchIdle(): void {
    this.idleSince = performance.now();
    this.inactiveReported = false;
  }

  private checkActivity(): void {
    if (this.closed) return;
    this.pollDtmf();
    // Armed once media is expected: codec and remote known, and receiving.
    if (this.config === undefined || !this.latch.expectsMedia || !receives(this.mediaDirection)) {
      this.touchIdle();
      return;
    }
    const idleMs = performance.now() - this.idleSince;
    if (!this.inactiveReported && idleMs >= this.inactivityTimeoutMs) {
      this.inactiveReported = true;
      this.logger.info({ idleMs: Math.round(idleMs) }, 'rtp inactive');
      this.emitter.emit('inactive', { idleMs: Math.round(idleMs) });
    }
  }

  private stopDtmfClock(): void {
    if (this.dtmfClock) clearInterval(this.dtmfClock);
    this.dtmfClock = undefined;
    const waiters = this.dtmfWaiters;
    this.dtmfWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
