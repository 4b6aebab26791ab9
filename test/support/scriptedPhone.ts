/**
 * A SIP phone driven entirely by the test, for the SIP media path of the gateway: signalling with
 * the project's own `SipServer` (sip.js core) acting as UAC, media on plain Node UDP sockets.
 *
 * - Signalling: `call()` sends an INVITE offering PCMU (pt 0) and telephone-event/8000 (pt 101)
 *   by default, ACKs the 200, and `hangup()` sends BYE; a BYE from the gateway is accepted.
 * - Media, sending: `startTone()` streams a sine as PCMU in real time on a drift-free schedule
 *   (each packet due at start + n × ptime), with a packet time that may change mid-stream
 *   (`setPtime`), a loss pattern (drop every Nth), a delay pattern (hold every Nth back by some ms:
 *   jitter and reordering), duplicates, SSRC changes and timestamp jumps. `sendDigits()` sends RFC
 *   4733 events on the same SSRC and sequence (marker on the first packet, updates, three end
 *   packets; the audio pauses meanwhile and resumes after the event's time, as phones do).
 * - Media, receiving: every datagram the gateway sends to the RTP port is kept with its arrival
 *   time; PCMU is decoded so that a test can ask for the level of a frequency over a span of time.
 *   RTCP arriving on port+1 (or multiplexed on the RTP port) is kept and parsed.
 * - The SDP's `c=` address is the test's choice (`sdpAddress`), which may differ from the address
 *   the media socket is bound to (`mediaAddress`), as on a multi-homed host.
 *
 * `Sprayer` is the stranger: a UDP socket on another loopback address (127.0.0.2 by default), on
 * one port or rotating over several, sending well-formed RTP (PCMU of its own tone, a steady SSRC
 * and sequence, optionally telephone-event digits) at a target every 20 ms.
 */
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import * as sdpTransform from 'sdp-transform';
import { Grammar, type Core } from 'sip.js';
import { decodeG711, encodeG711 } from '../../src/media/rtp/g711.js';
import { buildCompound, parseCompound, type ReportBlock, type RtcpCompound, type SenderInfo } from '../../src/media/rtp/rtcp.js';
import { SipServer } from '../../src/sip/sipServer.js';
import { rtpPacket } from './pcap.js';
import { sine, toneLevel } from './tone.js';

const CLOCK_RATE = 8000;
const DTMF_KEYS = '0123456789*#ABCD';

/** Where to send: an IPv4 address and a UDP port. */
export interface UdpTarget {
  address: string;
  port: number;
}

// ── Sending: one RTP stream, timed in real time ───────────────────────────────

export interface ToneOptions {
  /** Hz. */
  frequency: number;
  /** Peak in 16-bit sample units; 8000 by default. */
  amplitude?: number;
  /** Packet time in ms (10, 20, 30, 40, 60, …); 20 by default. */
  ptimeMs?: number;
  /** The stream's SSRC; random by default (kept across `startTone` calls of one phone unless given). */
  ssrc?: number;
  /** Drop every Nth packet (the Nth, 2Nth, …): its sequence number is spent, nothing is sent. */
  dropEvery?: number | undefined;
  /** Hold every Nth packet back by `ms` (jitter; reordering when `ms` exceeds the packet time). */
  delayEvery?: { every: number; ms: number } | undefined;
  /** Send every Nth packet twice. */
  duplicateEvery?: number | undefined;
  /** Audio payload type; 0 (PCMU) by default. */
  payloadType?: number;
}

export interface DigitOptions {
  /** Length of each press, ms; 100 by default. */
  durationMs?: number;
  /** Audio between presses (and after the last), ms; 200 by default. */
  gapMs?: number;
  /** telephone-event payload type; 101 by default. */
  payloadType?: number;
  /** Power level, −dBm0; 10 by default. */
  volume?: number;
}

/** One packet the streamer put on the wire (or would have, for dropped ones). */
export interface SentPacket {
  /** performance.now() when it was handed to the socket (scheduled time for dropped ones). */
  at: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payloadType: number;
  marker: boolean;
  kind: 'audio' | 'event';
  dropped: boolean;
  delayedMs: number;
}

interface PendingDigit {
  event: number;
  durationSamples: number;
  gapSamples: number;
  payloadType: number;
  volume: number;
  done: () => void;
}

interface OngoingDigit extends PendingDigit {
  startPos: number;
}

/**
 * A real-time RTP stream: a tone as PCMU packets and RFC 4733 digits, one SSRC and sequence,
 * timestamps following the samples sent. `send` puts one datagram on the wire.
 */
export class RtpStreamer {
  readonly sent: SentPacket[] = [];
  private ssrc: number;
  private sequence = randomInt(0x10000);
  /** Timestamp of sample position 0. */
  private timestampBase = randomInt(0x1_0000_0000);
  /** Samples of the stream's clock so far (audio and events alike). */
  private position = 0;
  private options: Required<Pick<ToneOptions, 'frequency' | 'amplitude' | 'ptimeMs' | 'payloadType'>> & ToneOptions;
  private timer: NodeJS.Timeout | undefined;
  private nextDue = 0;
  private index = 0;
  private markNext = true;
  private readonly digits: PendingDigit[] = [];
  private digit: OngoingDigit | undefined;
  /** Audio samples still to send before the next digit may start. */
  private gapLeft = 0;
  private pendingDelays = new Set<NodeJS.Timeout>();
  private digitsPaused = false;
  private idleWaiters: (() => void)[] = [];
  firstSentAt: number | undefined;
  lastSentAt: number | undefined;

  constructor(
    private readonly send: (packet: Buffer) => void,
    options: ToneOptions,
  ) {
    this.ssrc = (options.ssrc ?? randomInt(0x1_0000_0000)) >>> 0;
    this.options = { amplitude: 8000, ptimeMs: 20, payloadType: 0, ...options };
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  get currentSsrc(): number {
    return this.ssrc;
  }

  get ptimeMs(): number {
    return this.options.ptimeMs;
  }

  /** Starts (or resumes) sending: the first packet goes at once. */
  start(options?: Partial<ToneOptions>): void {
    if (options) this.options = { ...this.options, ...options };
    if (options?.ssrc !== undefined) this.ssrc = options.ssrc >>> 0;
    if (this.timer) return;
    this.markNext = true;
    this.nextDue = performance.now();
    this.loop();
  }

  /** Stops sending (packets held back by a delay pattern still go out). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Changes the packet time from the next packet on; timestamps stay continuous. */
  setPtime(ms: number): void {
    this.options = { ...this.options, ptimeMs: ms };
  }

  /** Changes the loss, delay and duplicate patterns (undefined: off). */
  setPatterns(patterns: Pick<ToneOptions, 'dropEvery' | 'delayEvery' | 'duplicateEvery'>): void {
    this.options = { ...this.options, dropEvery: patterns.dropEvery, delayEvery: patterns.delayEvery, duplicateEvery: patterns.duplicateEvery };
  }

  /** A new SSRC (a restarted stream), with a fresh random sequence and timestamp unless told. */
  restart(ssrc = randomInt(0x1_0000_0000), keepNumbering = false): void {
    this.ssrc = ssrc >>> 0;
    if (!keepNumbering) {
      this.sequence = randomInt(0x10000);
      this.timestampBase = randomInt(0x1_0000_0000);
    }
    this.markNext = true;
  }

  /** Moves the timestamps by `ticks` (same SSRC and sequence): a discontinuity, as a B2BUA makes. */
  jumpTimestamp(ticks: number): void {
    this.timestampBase = (this.timestampBase + ticks) >>> 0;
    this.markNext = true;
  }

  /** Queues RFC 4733 presses; resolves once the last one's end packets are sent. */
  sendDigits(digits: string, options: DigitOptions = {}): Promise<void> {
    const promises: Promise<void>[] = [];
    for (const d of digits) {
      const event = DTMF_KEYS.indexOf(d.toUpperCase());
      if (d.length !== 1 || event < 0) throw new RangeError(`not a DTMF key: ${JSON.stringify(d)}`);
      promises.push(
        new Promise<void>((resolve) =>
          this.digits.push({
            event,
            durationSamples: Math.round(((options.durationMs ?? 100) * CLOCK_RATE) / 1000),
            gapSamples: Math.round(((options.gapMs ?? 200) * CLOCK_RATE) / 1000),
            payloadType: options.payloadType ?? 101,
            volume: options.volume ?? 10,
            done: resolve,
          }),
        ),
      );
    }
    return Promise.all(promises).then(() => undefined);
  }

  /** Whether a press is on the wire now. */
  get inDigit(): boolean {
    return this.digit !== undefined;
  }

  /** Holds queued digits back (a press on the wire finishes); resolves once none is on the wire. */
  pauseDigits(): Promise<void> {
    this.digitsPaused = true;
    if (this.digit === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  resumeDigits(): void {
    this.digitsPaused = false;
  }

  /** Stops and forgets pending delayed packets. */
  dispose(): void {
    this.stop();
    for (const t of this.pendingDelays) clearTimeout(t);
    this.pendingDelays.clear();
    for (const d of this.digits.splice(0)) d.done();
    this.digit?.done();
    this.digit = undefined;
  }

  private loop = (): void => {
    // Every packet due by now goes out (a late timer catches up); the schedule never drifts.
    const now = performance.now();
    while (this.nextDue <= now + 0.5) {
      const ptime = this.options.ptimeMs;
      this.tick(ptime);
      this.nextDue += ptime;
    }
    this.timer = setTimeout(this.loop, Math.max(0, this.nextDue - performance.now()));
  };

  /** One packet time's worth: an event update (or its end), or audio. */
  private tick(ptimeMs: number): void {
    const samples = (ptimeMs * CLOCK_RATE) / 1000;
    if (this.digit === undefined && this.gapLeft <= 0 && !this.digitsPaused) {
      const next = this.digits.shift();
      if (next) this.digit = { ...next, startPos: this.position };
    }
    const digit = this.digit;
    if (digit) {
      this.position += samples;
      const duration = Math.min(this.position - digit.startPos, 0xffff);
      const ended = duration >= digit.durationSamples;
      const first = this.position - samples === digit.startPos;
      const payload = (end: boolean): Buffer => Buffer.from([digit.event, (end ? 0x80 : 0) | (digit.volume & 0x3f), (duration >> 8) & 0xff, duration & 0xff]);
      const timestamp = (this.timestampBase + digit.startPos) >>> 0;
      if (!ended) this.emit('event', digit.payloadType, timestamp, first, payload(false));
      else for (let copy = 0; copy < 3; copy++) this.emit('event', digit.payloadType, timestamp, first && copy === 0, payload(true));
      if (ended) {
        this.digit = undefined;
        this.gapLeft = digit.gapSamples;
        this.markNext = true;
        digit.done();
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
      return;
    }
    const { frequency, amplitude } = this.options;
    const phase = (2 * Math.PI * frequency * this.position) / CLOCK_RATE;
    const payload = encodeG711('PCMU', sine(frequency, amplitude, samples, CLOCK_RATE, phase));
    const timestamp = (this.timestampBase + this.position) >>> 0;
    this.position += samples;
    this.gapLeft -= samples;
    this.emit('audio', this.options.payloadType, timestamp, this.markNext, payload);
    this.markNext = false;
  }

  private emit(kind: 'audio' | 'event', payloadType: number, timestamp: number, marker: boolean, payload: Uint8Array): void {
    const sequenceNumber = this.sequence;
    this.sequence = (this.sequence + 1) & 0xffff;
    const n = ++this.index;
    const { dropEvery, delayEvery, duplicateEvery } = this.options;
    const dropped = dropEvery !== undefined && dropEvery > 0 && n % dropEvery === 0;
    const delayedMs = !dropped && delayEvery !== undefined && delayEvery.every > 0 && n % delayEvery.every === 0 ? delayEvery.ms : 0;
    const at = performance.now();
    this.sent.push({ at, sequenceNumber, timestamp, ssrc: this.ssrc, payloadType, marker, kind, dropped, delayedMs });
    if (dropped) return;
    const packet = rtpPacket({ payloadType, marker, sequenceNumber, timestamp, ssrc: this.ssrc, payload });
    const copies = duplicateEvery !== undefined && duplicateEvery > 0 && n % duplicateEvery === 0 ? 2 : 1;
    const go = (): void => {
      this.firstSentAt ??= performance.now();
      this.lastSentAt = performance.now();
      for (let i = 0; i < copies; i++) this.send(packet);
    };
    if (delayedMs <= 0) {
      go();
      return;
    }
    const timer = setTimeout(() => {
      this.pendingDelays.delete(timer);
      go();
    }, delayedMs);
    this.pendingDelays.add(timer);
  }
}

// ── Receiving ──────────────────────────────────────────────────────────────────

/** One RTP packet the phone received. */
export interface ReceivedRtp {
  /** performance.now() at arrival. */
  at: number;
  source: string;
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
  /** Decoded samples, for PCMU packets. */
  pcm: Int16Array | undefined;
}

/** One RTCP datagram the phone received, and what `parseCompound` made of it (undefined: invalid). */
export interface ReceivedRtcp {
  at: number;
  source: string;
  /** 'rtcp' when it came on port+1, 'rtp' when multiplexed on the RTP port. */
  port: 'rtcp' | 'rtp';
  data: Buffer;
  compound: RtcpCompound | undefined;
}

function isRtcp(msg: Buffer): boolean {
  const second = msg[1] ?? 0;
  return msg.length >= 8 && (msg[0] ?? 0) >> 6 === 2 && second >= 192 && second <= 223;
}

function parseIncomingRtp(msg: Buffer, at: number, source: string): ReceivedRtp | undefined {
  const b0 = msg[0] ?? 0;
  const b1 = msg[1] ?? 0;
  if (msg.length < 12 || b0 >> 6 !== 2) return undefined;
  let start = 12 + (b0 & 0x0f) * 4;
  if ((b0 & 0x10) !== 0 && msg.length >= start + 4) start += 4 + msg.readUInt16BE(start + 2) * 4;
  let end = msg.length;
  if ((b0 & 0x20) !== 0) end -= msg[end - 1] ?? 0;
  const payload = Buffer.from(msg.subarray(start, Math.max(start, end)));
  const payloadType = b1 & 0x7f;
  return {
    at,
    source,
    payloadType,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: msg.readUInt16BE(2),
    timestamp: msg.readUInt32BE(4),
    ssrc: msg.readUInt32BE(8),
    payload,
    pcm: payloadType === 0 ? decodeG711('PCMU', payload) : undefined,
  };
}

/** Concatenated PCM of the PCMU packets given, in arrival order. */
export function pcmOf(packets: readonly ReceivedRtp[]): Int16Array {
  const audio = packets.filter((p) => p.pcm !== undefined);
  const out = new Int16Array(audio.reduce((n, p) => n + (p.pcm?.length ?? 0), 0));
  let at = 0;
  for (const p of audio) {
    out.set(p.pcm ?? [], at);
    at += p.pcm?.length ?? 0;
  }
  return out;
}

// ── Sockets ───────────────────────────────────────────────────────────────────

function bindUdp(address: string, port: number): Promise<Socket | undefined> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ address, port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** An even port P on `address` with P+1 free too, both bound: RTP and RTCP. */
async function bindPair(address: string): Promise<{ rtp: Socket; rtcp: Socket }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = await bindUdp(address, 0);
    if (!first) continue;
    const port = first.address().port;
    if (port % 2 === 0 && port < 65535) {
      const rtcp = await bindUdp(address, port + 1);
      if (rtcp) return { rtp: first, rtcp };
    }
    await closeUdp(first);
  }
  throw new Error(`no RTP/RTCP port pair free on ${address}`);
}

// ── The phone ───────────────────────────────────────────────────────────────

export interface ScriptedPhoneOptions {
  /** A name for messages and the From user; 'phone' by default. */
  name?: string;
  /** Address the media sockets (RTP, and RTCP on port+1) bind to; 127.0.0.1 by default. */
  mediaAddress?: string;
  /** The SDP's connection address (c=); the media address by default. */
  sdpAddress?: string;
  /** Address the SIP signalling binds to; 127.0.0.1 by default. */
  sipAddress?: string;
  /** `a=ptime` of the offer (what we wish to receive); none by default. */
  offerPtime?: number;
  /** The m= line's payloads and their rtpmaps; PCMU + telephone-event/8000 by default. */
  offerPayloads?: { pt: number; rtpmap?: string; fmtp?: string }[];
  /** An `a=rtcp:` port to announce (RFC 3605); none by default (port+1 implied). */
  rtcpAttribute?: number;
}

/** What the gateway's answer said. */
export interface AnswerInfo {
  sdp: string;
  address: string;
  port: number;
  rtcpPort: number;
  payloadTypes: number[];
  ptime: number | undefined;
}

export class ScriptedPhone {
  readonly received: ReceivedRtp[] = [];
  readonly rtcp: ReceivedRtcp[] = [];
  /** Datagrams on the RTP port that were neither RTP nor RTCP. */
  notRtp = 0;
  answer: AnswerInfo | undefined;
  /** Set once the gateway hung up (BYE received). */
  byeReceived = false;
  private session: Core.Session | undefined;
  private stream: RtpStreamer | undefined;
  private readonly ssrc = randomInt(0x1_0000_0000);
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly sip: SipServer,
    private readonly rtpSocket: Socket,
    private readonly rtcpSocket: Socket,
    readonly sdpAddress: string,
    private readonly options: ScriptedPhoneOptions,
  ) {
    rtpSocket.on('message', (msg, rinfo) => {
      const at = performance.now();
      const source = `${rinfo.address}:${rinfo.port}`;
      if (isRtcp(msg)) {
        this.rtcp.push({ at, source, port: 'rtp', data: Buffer.from(msg), compound: parseCompound(msg) });
        return;
      }
      const packet = parseIncomingRtp(msg, at, source);
      if (packet) this.received.push(packet);
      else this.notRtp++;
    });
    rtcpSocket.on('message', (msg, rinfo) => {
      this.rtcp.push({ at: performance.now(), source: `${rinfo.address}:${rinfo.port}`, port: 'rtcp', data: Buffer.from(msg), compound: parseCompound(msg) });
    });
  }

  static async open(options: ScriptedPhoneOptions = {}): Promise<ScriptedPhone> {
    const mediaAddress = options.mediaAddress ?? '127.0.0.1';
    const { rtp, rtcp } = await bindPair(mediaAddress);
    let sip: SipServer;
    try {
      sip = await SipServer.start({
        host: options.sipAddress ?? '127.0.0.1',
        port: 0,
        trunks: ['127.0.0.0/8'],
        logger: pino({ level: 'silent' }),
        userAgent: `scripted-${options.name ?? 'phone'}`,
        // Nobody calls this phone.
        onInvite: ({ request }) => request.reject({ statusCode: 486 }),
      });
    } catch (err) {
      await Promise.all([closeUdp(rtp), closeUdp(rtcp)]);
      throw err;
    }
    return new ScriptedPhone(options.name ?? 'phone', sip, rtp, rtcp, options.sdpAddress ?? mediaAddress, options);
  }

  /** The RTP port (RTCP is port+1). */
  get port(): number {
    return this.rtpSocket.address().port;
  }

  get mediaAddress(): string {
    return this.rtpSocket.address().address;
  }

  /** The SIP signalling port. */
  get sipPort(): number {
    return this.sip.port;
  }

  /** The SSRC the phone's streams use unless told otherwise. */
  get defaultSsrc(): number {
    return this.ssrc;
  }

  /** The offer this phone sends. */
  offer(): string {
    const payloads = this.options.offerPayloads ?? [
      { pt: 0, rtpmap: 'PCMU/8000' },
      { pt: 101, rtpmap: 'telephone-event/8000', fmtp: '0-16' },
    ];
    const lines = [
      'v=0',
      `o=${this.name} ${randomInt(1, 2 ** 31)} 1 IN IP4 ${this.sdpAddress}`,
      's=-',
      `c=IN IP4 ${this.sdpAddress}`,
      't=0 0',
      `m=audio ${this.port} RTP/AVP ${payloads.map((p) => p.pt).join(' ')}`,
      ...payloads.flatMap((p) => [...(p.rtpmap ? [`a=rtpmap:${p.pt} ${p.rtpmap}`] : []), ...(p.fmtp ? [`a=fmtp:${p.pt} ${p.fmtp}`] : [])]),
      ...(this.options.offerPtime !== undefined ? [`a=ptime:${this.options.offerPtime}`] : []),
      ...(this.options.rtcpAttribute !== undefined ? [`a=rtcp:${this.options.rtcpAttribute}`] : []),
      'a=sendrecv',
    ];
    return `${lines.join('\r\n')}\r\n`;
  }

  /**
   * Calls `user` at the gateway (UDP): INVITE with our offer, ACK to its 200. Resolves with what
   * the answer says; rejects on a final error response or after `timeoutMs`.
   */
  async call(gateway: UdpTarget, user = 'room', timeoutMs = 10_000): Promise<AnswerInfo> {
    if (this.session) throw new Error(`${this.name} is already in a call`);
    const target = Grammar.URIParse(`sip:${user}@${gateway.address}:${String(gateway.port)}`);
    const from = Grammar.URIParse(`sip:${this.name}@${this.options.sipAddress ?? '127.0.0.1'}:${String(this.sip.port)}`);
    if (!target || !from) throw new Error('bad SIP URI');
    const message = this.sip.core.makeOutgoingRequestMessage('INVITE', target, from, target, {}, [`Contact: ${this.sip.contact}`], {
      contentDisposition: 'session',
      contentType: 'application/sdp',
      content: this.offer(),
    });
    const session = await new Promise<Core.Session>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no answer to the INVITE within ${timeoutMs} ms`)), timeoutMs);
      this.sip.core.invite(message, {
        onAccept: (response) => {
          clearTimeout(timer);
          response.ack();
          response.session.delegate = {
            onBye: (bye) => {
              this.byeReceived = true;
              bye.accept();
              this.stopTone();
            },
            // Re-INVITEs (none expected): take them as they come.
            onInvite: (reinvite) =>
              reinvite.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: this.offer() } }),
          };
          resolve(response.session);
        },
        onReject: (response) => {
          clearTimeout(timer);
          reject(new Error(`${this.name}: INVITE rejected ${String(response.message.statusCode)} ${response.message.reasonPhrase}`));
        },
      });
    });
    this.session = session;
    const sdp = session.answer?.content ?? '';
    this.answer = readAnswer(sdp);
    return this.answer;
  }

  /** Sends BYE (if in a call and the gateway has not hung up) and waits for its answer. */
  async hangup(timeoutMs = 5000): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.stopTone();
    if (!session || this.byeReceived) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      try {
        session.bye({
          onAccept: () => {
            clearTimeout(timer);
            resolve();
          },
          onReject: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    session.dispose();
  }

  /** Where our RTP goes: the answer's address and port. */
  get gatewayRtp(): UdpTarget {
    if (!this.answer) throw new Error(`${this.name} has no answer yet`);
    return { address: this.answer.address, port: this.answer.port };
  }

  /** Where our RTCP goes: the answer's a=rtcp, or port+1. */
  get gatewayRtcp(): UdpTarget {
    if (!this.answer) throw new Error(`${this.name} has no answer yet`);
    return { address: this.answer.address, port: this.answer.rtcpPort };
  }

  /** Starts sending a tone (a second call changes the tone and patterns of the same stream and resumes it). */
  startTone(options: ToneOptions): RtpStreamer {
    const target = this.gatewayRtp;
    if (!this.stream) {
      this.stream = new RtpStreamer((packet) => this.sendRaw(packet, target), { ssrc: this.ssrc, ...options });
      this.stream.start();
    } else {
      this.stream.start(options);
    }
    return this.stream;
  }

  /** The stream, once started. */
  get sending(): RtpStreamer | undefined {
    return this.stream;
  }

  stopTone(): void {
    this.stream?.stop();
  }

  /** Sends RFC 4733 digits on the running stream (starting a silent one if none runs). */
  sendDigits(digits: string, options?: DigitOptions): Promise<void> {
    const stream = this.stream?.running ? this.stream : this.startTone({ frequency: 1000, amplitude: 0 });
    return stream.sendDigits(digits, options);
  }

  /** Sends one datagram from the RTP socket to the gateway (or `to`). */
  sendRaw(data: Buffer, to: UdpTarget = this.gatewayRtp): void {
    if (this.closed) return;
    this.rtpSocket.send(data, to.port, to.address);
  }

  /** Sends one RTCP datagram from the RTCP socket (port+1) to the gateway's RTCP port (or `to`). */
  sendRtcp(data: Buffer, to: UdpTarget = this.gatewayRtcp): void {
    if (this.closed) return;
    this.rtcpSocket.send(data, to.port, to.address);
  }

  /** The SSRC of the gateway's RTP stream to us (the newest one seen). */
  get gatewaySsrc(): number | undefined {
    return this.received.at(-1)?.ssrc;
  }

  /**
   * Sends a receiver report (or a sender report, with `sender`) about the gateway's stream:
   * `block` fields default to zeros, `ssrc` to the gateway's SSRC as received.
   */
  sendReport(block: Partial<ReportBlock>, sender?: SenderInfo): Buffer {
    const about = block.ssrc ?? this.gatewaySsrc;
    if (about === undefined) throw new Error(`${this.name} has received no RTP from the gateway to report on`);
    const report = buildCompound({
      ssrc: this.stream?.currentSsrc ?? this.ssrc,
      ...(sender && { sender }),
      blocks: [
        {
          ssrc: about,
          fractionLost: 0,
          cumulativeLost: 0,
          extendedHighestSequence: this.received.at(-1)?.sequenceNumber ?? 0,
          jitter: 0,
          lastSenderReport: 0,
          delaySinceLastSenderReport: 0,
          ...block,
        },
      ],
      cname: `${this.name}@${this.sdpAddress}`,
    });
    this.sendRtcp(report);
    return report;
  }

  /** Received RTP packets (all payload types) that arrived in [from, to) (performance.now() times). */
  between(from: number, to = Infinity): ReceivedRtp[] {
    return this.received.filter((p) => p.at >= from && p.at < to);
  }

  /** The decoded PCMU of the last `ms` milliseconds. */
  recent(ms: number): Int16Array {
    return pcmOf(this.between(performance.now() - ms));
  }

  /** Level of `frequency` (Goertzel, sample units) in the PCMU received over the last `ms`. */
  level(frequency: number, ms = 500): number {
    return toneLevel(this.recent(ms), frequency, CLOCK_RATE);
  }

  /** Levels of `frequency` in consecutive windows of `windowMs` of the audio received in [from, to). */
  windowLevels(frequency: number, from: number, to: number, windowMs = 100): number[] {
    const pcm = pcmOf(this.between(from, to));
    const size = (windowMs * CLOCK_RATE) / 1000;
    const levels: number[] = [];
    for (let at = 0; at + size <= pcm.length; at += size) levels.push(toneLevel(pcm.subarray(at, at + size), frequency, CLOCK_RATE));
    return levels;
  }

  /** Waits until the last `windowMs` of received audio passes `check`. */
  async until(check: (pcm: Int16Array) => boolean, what: string, timeoutMs = 10_000, windowMs = 500): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check(this.recent(windowMs))) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out waiting for ${what} (${this.describe()})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The valid compound RTCP packets received (on port+1 or muxed). */
  get reports(): (ReceivedRtcp & { compound: RtcpCompound })[] {
    return this.rtcp.filter((r): r is ReceivedRtcp & { compound: RtcpCompound } => r.compound !== undefined);
  }

  /** One line for failure messages. */
  describe(): string {
    const last = this.received.at(-1);
    const sources = [...new Set(this.received.map((p) => p.source))].join(', ') || 'nobody';
    const age = last ? `${Math.round(performance.now() - last.at)} ms ago` : 'never';
    return `${this.received.length} RTP packets from ${sources}, last ${age}; ${this.rtcp.length} RTCP; sent ${this.stream?.sent.length ?? 0}`;
  }

  /** Hangs up if still in a call, stops everything, closes the sockets and the SIP server; harmless twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.hangup(2000);
    } catch {
      // The gateway may already be gone.
    }
    this.stream?.dispose();
    this.closed = true;
    await Promise.all([closeUdp(this.rtpSocket), closeUdp(this.rtcpSocket), this.sip.close()]);
  }
}

function readAnswer(sdp: string): AnswerInfo {
  const session = sdpTransform.parse(sdp);
  const m = session.media.find((media) => media.type === 'audio');
  if (!m) throw new Error(`no audio in the answer:\n${sdp}`);
  const address = m.connection?.ip ?? session.connection?.ip;
  if (!address) throw new Error(`no connection address in the answer:\n${sdp}`);
  // sdp-transform turns a lone numeric payload list ("0") into a number, whatever its types say.
  const payloadList: unknown = m.payloads;
  const payloads = (typeof payloadList === 'string' || typeof payloadList === 'number' ? String(payloadList) : '')
    .split(' ')
    .map(Number)
    .filter((n) => Number.isInteger(n));
  return {
    sdp,
    address,
    port: m.port,
    rtcpPort: m.rtcp?.port ?? m.port + 1,
    payloadTypes: payloads,
    ptime: m.ptime,
  };
}

// ── The stranger ──────────────────────────────────────────────────────────────

export interface SprayOptions {
  /** Hz of the PCMU tone; 2500 by default. */
  frequency?: number;
  amplitude?: number;
  ssrc?: number;
  /** A telephone-event digit pressed now and then (pt 101), none by default. */
  digit?: string;
  /** How often a press starts, ms (press length `digitMs`); 1000 and 100 by default. */
  digitEveryMs?: number;
  digitMs?: number;
}

/**
 * Well-formed RTP from an address that is not the call's: PCMU of its own tone every 20 ms, one
 * SSRC and sequence, optionally RFC 4733 digits, from one port or rotating over `ports` sockets.
 */
export class Sprayer {
  /** RTP the gateway sent back to the sprayer (it does, if it learned the sprayer as the source). */
  readonly received: ReceivedRtp[] = [];
  private stream: RtpStreamer | undefined;
  private digitTimer: NodeJS.Timeout | undefined;
  private digitsPaused = false;

  private constructor(
    private readonly sockets: Socket[],
    private readonly rotateEvery: number,
  ) {
    for (const socket of sockets) {
      socket.on('message', (msg, rinfo) => {
        const packet = isRtcp(msg) ? undefined : parseIncomingRtp(msg, performance.now(), `${rinfo.address}:${rinfo.port}`);
        if (packet) this.received.push(packet);
      });
    }
  }

  /**
   * Binds `ports` sockets (1 by default) on `address` (127.0.0.2 by default); with more than one,
   * the source port changes every `rotateEvery` packets (10 by default).
   */
  static async open(options: { address?: string; ports?: number; rotateEvery?: number } = {}): Promise<Sprayer> {
    const sockets: Socket[] = [];
    for (let i = 0; i < (options.ports ?? 1); i++) {
      const socket = await bindUdp(options.address ?? '127.0.0.2', 0);
      if (!socket) {
        await Promise.all(sockets.map(closeUdp));
        throw new Error(`cannot bind UDP on ${options.address ?? '127.0.0.2'}`);
      }
      sockets.push(socket);
    }
    return new Sprayer(sockets, options.rotateEvery ?? 10);
  }

  get address(): string {
    return this.sockets[0]?.address().address ?? '';
  }

  get ports(): number[] {
    return this.sockets.map((s) => s.address().port);
  }

  /** Packets sent so far. */
  get sent(): number {
    return this.stream?.sent.filter((p) => !p.dropped).length ?? 0;
  }

  get ssrc(): number | undefined {
    return this.stream?.currentSsrc;
  }

  /** Whether a press is on the wire now. */
  get inDigit(): boolean {
    return this.stream?.inDigit ?? false;
  }

  /** Starts spraying at `target`. */
  start(target: UdpTarget, options: SprayOptions = {}): void {
    this.stop();
    let count = 0;
    this.stream = new RtpStreamer(
      (packet) => {
        const socket = this.sockets[Math.floor(count++ / this.rotateEvery) % this.sockets.length];
        socket?.send(packet, target.port, target.address);
      },
      { frequency: options.frequency ?? 2500, amplitude: options.amplitude ?? 8000, ptimeMs: 20, ...(options.ssrc !== undefined && { ssrc: options.ssrc }) },
    );
    this.stream.start();
    const digit = options.digit;
    if (digit !== undefined) {
      const press = (): void => {
        if (!this.digitsPaused && this.stream && !this.stream.inDigit) void this.stream.sendDigits(digit, { durationMs: options.digitMs ?? 100, gapMs: 0 });
      };
      press();
      this.digitTimer = setInterval(press, options.digitEveryMs ?? 1000);
    }
  }

  /** Stops pressing digits; resolves once no press is on the wire. */
  async pauseDigits(): Promise<void> {
    this.digitsPaused = true;
    await this.stream?.pauseDigits();
  }

  resumeDigits(): void {
    this.digitsPaused = false;
    this.stream?.resumeDigits();
  }

  stop(): void {
    clearInterval(this.digitTimer);
    this.digitTimer = undefined;
    this.stream?.dispose();
  }

  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.sockets.map(closeUdp));
  }
}
