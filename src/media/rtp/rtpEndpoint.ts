/**
 * A SIP leg's media: plain RTP on the gateway's own UDP sockets (not mediasoup, whose
 * PlainTransport producers need the sender's SSRC in advance, which SIP trunks do not signal).
 * Audio out of the bridge's ticks in the negotiated codec and packet time (./rtpOutput.ts,
 * ./audioSendStream.ts), RFC 4733 DTMF both ways; incoming audio is handed on as RTP packets, for
 * a `SipAudioInput` to place by timestamp and decode.
 *
 * - Source learning: see ./sourceLearning.ts for the policy (symmetric RTP, strict learning).
 * - RTCP: ./rtcpSession.ts (reports) and ./rtcpChannel.ts (where they go, which are read).
 * - Every datagram is checked: short, not version 2, inconsistent lengths, unknown payload type,
 *   wrong source — each dropped and counted in `stats`, never thrown.
 */
import { randomInt } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { fail } from '../../domain/errors.js';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import type { RtpPacket } from '../audio/rtp.js';
import { SIP_CODECS, type SipCodecName } from '../codecs/sipCodecs.js';
import type { DtmfTiming } from './audioSendStream.js';
import { isDtmfDigit, type DtmfPress } from './dtmf.js';
import { RtpLegAudio } from './rtpLegAudio.js';
import type { SipRtp } from './sipRtp.js';
import { normalizeIp, type UdpAddress } from './udpAddress.js';
import { checkCodecConfig, checkDirection, checkRemote } from './rtpChecks.js';
import { DtmfReceiver } from './rfc4733.js';
import { RtcpChannel } from './rtcpChannel.js';
import { RtcpSession } from './rtcpSession.js';
import { RtpOutput } from './rtpOutput.js';
import { classifyDatagram, RtpSender } from './rtpStream.js';
import { SourceLearning, type SourceLearningOptions } from './sourceLearning.js';
import { bindRtpPorts, type PortRange } from './udpPorts.js';
import { emptyRtpStats, type RtpStats } from './rtpStats.js';

export type { RtpStats } from './rtpStats.js';

/** The SDP direction of the leg's media, from the gateway's side. */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** What offer/answer settled on for this leg. */
export interface RtpCodecConfig {
  payloadType: number;
  codec: SipCodecName;
  /** The telephone-event payload type (at the codec's clock rate), when negotiated. */
  telephoneEventPt?: number;
  /** Packet time we send, in ms (the far end's preference, see `sendPtime`). */
  ptime: number;
}

export interface RtpEndpointOptions {
  /** Address to bind (and to announce in SDP unless a public one is configured elsewhere). */
  ip: string;
  portRange: PortRange;
  logger: Logger;
  /** Fields the endpoint's child logger carries besides its component and port (one child is made, not two). */
  logBindings?: Record<string, unknown>;
  /** Also bind port+1 for RTCP; true by default. */
  rtcp?: boolean;
  /** `inactive` fires after this long without RTP while receiving; 30 s by default, 0 turns it off. */
  inactivityTimeoutMs?: number;
  /** Tone length, gap and volume of the DTMF we send. */
  dtmf?: DtmfTiming;
  /** The IP the call's SIP signalling comes from: an expected media source. */
  signallingSource?: string;
  learning?: Partial<SourceLearningOptions>;
  /** Mean interval of our RTCP reports (randomised ±50 %, RFC 3550 §6.2); 5 s by default. */
  rtcpIntervalMs?: number;
}

/** A key press received as RFC 4733 events. */
export interface RtpDtmf extends DtmfPress {
  method: 'rfc4733';
}

export interface RtpEndpointEvents {
  [event: string]: unknown[];
  /** One audio packet (the negotiated payload type) from the learned source. */
  rtp: [RtpPacket];
  dtmf: [RtpDtmf];
  /** Each RFC 4733 packet from the learned source (the sender's audio pauses meanwhile). */
  telephoneEvent: [RtpPacket];
  /** No RTP for `inactivityTimeoutMs` while the leg should be receiving; once per silent spell. */
  inactive: [{ idleMs: number }];
  /** The source media is now taken from (and sent to). */
  learned: [UdpAddress & { how: 'expected' | 'probation' }];
  /** Sockets closed; fires once. */
  closed: [];
  /** Never here: the media of a thread that died (see SipRtp). */
  failed: [string];
}

const sends = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'sendonly';
const receives = (d: MediaDirection): boolean => d === 'sendrecv' || d === 'recvonly';

/** One SIP leg's RTP session on its own UDP port (and RTCP port). */
export class RtpEndpoint implements SipRtp {
  private readonly emitter: TypedEmitter<RtpEndpointEvents>;
  private readonly learner: SourceLearning;
  private readonly sender = new RtpSender();
  private readonly output: RtpOutput;
  private readonly rtcp: RtcpSession;
  private dtmfReceiver = new DtmfReceiver({ clockRate: 8000 });
  private readonly counters = emptyRtpStats();
  private config: RtpCodecConfig | undefined;
  private mediaDirection: MediaDirection = 'sendrecv';
  /** The far end's media address from its SDP. */
  private remoteSdp: UdpAddress | undefined;
  private eventSsrc: number | undefined;
  private readonly watchdog: NodeJS.Timeout | undefined;
  private readonly rtcpChannel: RtcpChannel;
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
    rtcpIntervalMs: number,
    options: RtpEndpointOptions,
  ) {
    this.emitter = new TypedEmitter<RtpEndpointEvents>((err, event) => logger.error({ err, event }, 'rtp endpoint listener failed'));
    this.learner = new SourceLearning(options.learning);
    if (options.signallingSource !== undefined) this.learner.setSignallingSource(options.signallingSource);
    this.output = new RtpOutput(randomInt(0x1_0000_0000), options.dtmf, this.sendPacket);
    this.rtcp = new RtcpSession(this.sender.ssrc, `legway-${port}@${ip}`, 8000);
    rtpSocket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.rtcpChannel = new RtcpChannel({
      session: this.rtcp,
      socket: rtcpSocket ?? rtpSocket,
      intervalMs: rtcpIntervalMs,
      logger,
      counters: this.counters,
      mediaDestination: () => this.learner.destination,
      learnedIp: () => this.learner.learned?.address,
    });
    rtcpSocket?.on('message', (msg, rinfo) => this.rtcpChannel.receive(msg, rinfo));
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
    const logger = options.logger.child({ ...options.logBindings, component: 'rtp', port });
    return new RtpEndpoint(options.ip, port, rtp, rtcp, logger, options.inactivityTimeoutMs ?? 30_000, options.rtcpIntervalMs ?? 5000, options);
  }

  on<E extends keyof RtpEndpointEvents>(event: E, listener: (...args: RtpEndpointEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Counters since open, with the receive statistics and the far end's reports. */
  get stats(): RtpStats {
    const receive = this.rtcp.receive;
    const learned = this.learner.learned;
    return {
      ...this.counters,
      ...this.learner.stats,
      lost: receive.lost,
      jitterMs: receive.jitterMs,
      rtcpIn: this.counters.rtcpIn,
      rtcpOut: this.rtcp.reportsSent,
      learnedSource: learned && { address: learned.address, port: learned.port, how: learned.how },
      remote: this.rtcp.remote,
    };
  }

  get direction(): MediaDirection {
    return this.mediaDirection;
  }

  /** The negotiated codec, once configured. */
  get codec(): RtpCodecConfig | undefined {
    return this.config;
  }

  /** When the last accepted RTP packet arrived (epoch ms), if any has. */
  get lastPacketAt(): number | undefined {
    return this.lastPacketEpoch;
  }

  /** The source media is taken from, once learned. */
  get learned(): UdpAddress | undefined {
    return this.learner.learned;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Sets the far end's address and ports from its SDP (again after a re-INVITE, which re-learns). */
  setRemote(remote: UdpAddress & { rtcpPort?: number | undefined }): void {
    checkRemote(this.ip, remote);
    // Only new SDP re-learns: a session refresh or hold with the same address keeps the learned source.
    const same = this.remoteSdp?.address === normalizeIp(remote.address) && this.remoteSdp.port === remote.port;
    this.remoteSdp = { address: normalizeIp(remote.address), port: remote.port };
    if (!same) this.learner.setRemote(this.remoteSdp, performance.now());
    this.rtcpChannel.setRemote(remote.port, remote.rtcpPort, !same);
    this.touchIdle();
  }

  /** The IP the call's SIP signalling comes from (an endpoint opened before its call): an expected media source. */
  setSignallingSource(ip: string): void {
    this.learner.setSignallingSource(ip);
  }

  /** Applies the negotiated codec and packet time (again after a re-INVITE). */
  configure(config: RtpCodecConfig): void {
    checkCodecConfig(config);
    const info = SIP_CODECS[config.codec];
    if (this.config?.codec !== config.codec) {
      this.rtcp.setClockRate(info.clockRate);
      this.dtmfReceiver = new DtmfReceiver({ clockRate: info.clockRate });
    }
    this.config = { ...config };
    this.output.configure(this.config);
    this.touchIdle();
  }

  /** Sets what the leg may send and receive: nothing is sent unless sending, input dropped unless receiving. */
  hold(direction: MediaDirection): void {
    checkDirection(direction);
    if (!sends(this.mediaDirection) && sends(direction)) this.output.restartTalkspurt();
    this.mediaDirection = direction;
    this.touchIdle();
  }

  /**
   * Takes one 20 ms frame of the bridge's 48 kHz mix, one call per bridge tick. Nothing goes out
   * before `configure`, while not sending, with no destination, or while a DTMF event is on the wire.
   */
  sendFrame(pcm48: Int16Array): void {
    if (pcm48.length !== FRAME_SAMPLES) throw new RangeError(`frame has ${pcm48.length} samples, expected ${FRAME_SAMPLES}`);
    if (this.closed || this.config === undefined) return;
    this.output.tick(pcm48);
  }

  /** As `sendFrame`, with the mix already at the negotiated codec's rate (20 ms of it: 160 samples for G.711, 320 for G.722). */
  sendNative(pcm: Int16Array): void {
    if (this.closed || this.config === undefined) return;
    this.output.tickNative(pcm);
  }

  /** As `sendFrame`, with the tick already encoded in the negotiated codec (G.711, G.722: a mix shared with other legs). */
  sendEncoded(payload: Uint8Array): void {
    if (this.closed || this.config === undefined) return;
    this.output.tickEncoded(payload);
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
    return this.output.sendDtmf(digits);
  }

  /** The leg's audio for the bridge in this process. */
  legAudio(onInbandDtmf?: (press: DtmfPress) => void): RtpLegAudio {
    return new RtpLegAudio(this, onInbandDtmf);
  }

  /** Says goodbye over RTCP, closes the sockets and stops the timers; harmless twice. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.watchdog) clearInterval(this.watchdog);
    this.output.close();
    this.rtcpChannel.close();
    const sockets = [this.rtpSocket, this.rtcpSocket].filter((s) => s !== undefined);
    this.closing = Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {
      this.emitter.emit('closed');
    });
    return this.closing;
  }

  /** Sends one packet to the destination; false when it may not (direction) or cannot (no address) go. */
  private readonly sendPacket = (payloadType: number, timestamp: number, marker: boolean, payload: Uint8Array): boolean => {
    const destination = this.learner.destination;
    if (!sends(this.mediaDirection) || destination === undefined || this.closed) return false;
    const packet = this.sender.packet({ payloadType, timestamp, marker }, payload);
    this.counters.packetsOut++;
    this.counters.bytesOut += packet.length;
    this.rtcp.sent(timestamp, payload.length, Date.now());
    this.rtpSocket.send(packet, destination.port, destination.address, (err) => {
      if (err) {
        this.counters.sendErrors++;
        this.logger.debug({ err }, 'rtp send failed');
      }
    });
    return true;
  };

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
    if (datagram.kind === 'rtcp') {
      this.rtcpChannel.receive(msg, rinfo);
      return;
    }
    if (datagram.kind !== 'audio' && datagram.kind !== 'event') {
      this.counters[datagram.kind]++;
      return;
    }
    const { packet } = datagram;
    const now = performance.now();
    const verdict = this.learner.check({ address: rinfo.address, port: rinfo.port }, packet.ssrc, packet.sequenceNumber, now);
    if (verdict === 'reject' || verdict === 'probation') return;
    if (verdict === 'learned') {
      const learned = this.learner.learned;
      // A press the old source was in the middle of never finished: it must not be reported.
      this.dtmfReceiver.reset();
      this.eventSsrc = undefined;
      if (learned) {
        this.logger.info({ source: { address: learned.address, port: learned.port }, how: learned.how }, 'rtp source learned');
        this.emitter.emit('learned', { address: learned.address, port: learned.port, how: learned.how });
      }
    }

    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    this.lastPacketEpoch = Date.now();
    this.touchIdle();
    // Events share the audio's sequence numbers (so count for loss) but repeat their start timestamp (so not for jitter).
    this.rtcp.receive.onPacket(packet.ssrc, packet.sequenceNumber, datagram.kind === 'event' ? undefined : packet.timestamp, now);
    if (!receives(this.mediaDirection)) {
      this.counters.droppedNotReceiving++;
      return;
    }
    if (datagram.kind === 'event') this.receiveEvent(packet);
    else this.emitter.emit('rtp', packet);
    this.pollDtmf();
  }

  private receiveEvent(packet: RtpPacket): void {
    // A new SSRC is a restarted stream whose timestamps have nothing to do with the old ones.
    if (this.eventSsrc !== undefined && this.eventSsrc !== packet.ssrc) this.dtmfReceiver.reset();
    this.eventSsrc = packet.ssrc;
    this.emitter.emit('telephoneEvent', packet);
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
    if (this.config === undefined || !this.learner.expectsMedia || !receives(this.mediaDirection)) {
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
}
