/**
 * What a SIP leg sends, timed by the bridge's 20 ms ticks: the mix brought to the codec's rate (or
 * a mix already at it, or already encoded and shared with other legs), gathered into packets of
 * the negotiated packet time (10 to 60 ms, whatever the tick), and RFC 4733 telephone-events in
 * place of audio while a key is on the wire. One RTP clock runs through audio and events alike,
 * advancing a tick's worth of the codec's clock every tick.
 *
 * G.711 and G.722 are byte streams (a byte per sample, or per two): each tick is encoded at once
 * and packets are cut from the bytes, so a tick this leg encoded and one encoded for several legs
 * join in one packet. Opus is gathered as samples and encoded a packet at a time.
 */
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { createSipEncoder, type PacketEncoder } from '../codecs/sipCodecStreams.js';
import { SIP_CODECS, type SipCodecInfo } from '../codecs/sipCodecs.js';
import { decodeG711 } from './g711.js';
import { Downsampler } from './resampler.js';
import { DtmfSender, type DtmfSenderOptions } from './rfc4733.js';
import type { RtpCodecConfig } from './rtpEndpoint.js';

/** Sends one packet (the payload is valid only during the call); false when it could not go (direction, no destination). */
export type PacketSink = (payloadType: number, timestamp: number, marker: boolean, payload: Uint8Array) => boolean;

export type DtmfTiming = Pick<DtmfSenderOptions, 'toneMs' | 'gapMs' | 'volume'>;

interface Encoding {
  config: RtpCodecConfig;
  info: SipCodecInfo;
  encoder: PacketEncoder;
  /** 48 kHz → codec rate, or none for Opus. */
  downsampler: Downsampler | undefined;
  /** One tick at the codec's rate. */
  tickPcm: Int16Array;
  /** G.711, G.722: gathered as encoded bytes, one RTP clock unit each. */
  byteStream: boolean;
  /** What one packet holds: samples at the codec's rate (Opus), or bytes (byte streams). */
  packetSize: number;
  /** RTP clock units of one packet, and of one tick (a tick's bytes, for a byte stream). */
  packetUnits: number;
  tickUnits: number;
}

/** The outgoing half of a SIP leg's RTP session (encoding, packetisation, DTMF). */
export class AudioSendStream {
  private encoding: Encoding | undefined;
  private dtmf: DtmfSender;
  private dtmfClockRate = 8000;
  /** What is gathered for the next packet (samples, or bytes), and the RTP timestamp of its start. */
  private pendingPcm = new Int16Array(0);
  private pendingBytes = new Uint8Array(0);
  private pendingLength = 0;
  private pendingTs = 0;
  /** The next audio packet starts a talkspurt (marker bit): first packet, after DTMF or a pause. */
  private talkspurt = true;
  /** The end of the last tick that came already encoded, kept for the downsampler should 48 kHz ticks come again. */
  private readonly encodedTail = new Uint8Array(48);
  private encodedTailLength = 0;
  private readonly encodedTailPcm = new Int16Array(48);

  constructor(
    /** The outgoing stream's clock, in RTP units of the current codec. */
    private timestamp: number,
    private readonly dtmfTiming: DtmfTiming = {},
  ) {
    this.dtmf = new DtmfSender({ clockRate: this.dtmfClockRate, packetMs: FRAME_MS, ...dtmfTiming });
  }

  get config(): RtpCodecConfig | undefined {
    return this.encoding?.config;
  }

  /** Applies the negotiated codec and packet time; a new codec gets a fresh encoder. */
  configure(config: RtpCodecConfig): void {
    const info = SIP_CODECS[config.codec];
    const same = this.encoding?.config.codec === config.codec;
    const ratio = (FRAME_SAMPLES * (1000 / FRAME_MS)) / info.sampleRate;
    const byteStream = config.codec !== 'opus';
    const packetSamples = (info.sampleRate * config.ptime) / 1000;
    const packetUnits = (info.clockRate * config.ptime) / 1000;
    this.encoding = {
      config: { ...config },
      info,
      encoder: same && this.encoding ? this.encoding.encoder : createSipEncoder(config.codec),
      downsampler: same && this.encoding ? this.encoding.downsampler : ratio === 1 ? undefined : new Downsampler(ratio === 3 ? 3 : 6),
      tickPcm: new Int16Array((info.sampleRate * FRAME_MS) / 1000),
      byteStream,
      packetSize: byteStream ? packetUnits : packetSamples,
      packetUnits,
      tickUnits: (info.clockRate * FRAME_MS) / 1000,
    };
    // A packet time that is not a whole number of ticks leaves part of a tick for the next packet.
    const capacity = this.encoding.packetSize + (byteStream ? this.encoding.tickUnits : this.encoding.tickPcm.length);
    if (byteStream && this.pendingBytes.length < capacity) this.pendingBytes = new Uint8Array(capacity);
    if (!byteStream && this.pendingPcm.length < capacity) this.pendingPcm = new Int16Array(capacity);
    this.dropPending();
    if (!same) this.encodedTailLength = 0;
    if (info.clockRate !== this.dtmfClockRate) {
      // Keys already queued were timed for the old clock; a codec change mid-key is rare enough to drop them.
      this.dtmfClockRate = info.clockRate;
      this.dtmf = new DtmfSender({ clockRate: info.clockRate, packetMs: FRAME_MS, ...this.dtmfTiming });
    }
    if (config.telephoneEventPt === undefined) this.dtmf.clear();
  }

  /** Queues keys (validated by the caller). */
  enqueueDtmf(digits: string): void {
    this.dtmf.enqueue(digits);
  }

  /** Keys are queued or on the wire. */
  get dtmfPending(): boolean {
    return this.dtmf.pending;
  }

  /** The next audio packet starts a talkspurt (after a pause in sending). */
  restartTalkspurt(): void {
    this.talkspurt = true;
    this.dropPending();
  }

  /**
   * One 20 ms tick: a DTMF packet if one is due, else this tick's audio (`pcm48`, the bridge's
   * 48 kHz frame) added to the packet being gathered, sent once it holds a packet time.
   * `undefined` audio (a DTMF-only tick) sends no audio.
   */
  tick(pcm48: Int16Array | undefined, send: PacketSink): void {
    const enc = this.encoding;
    if (enc === undefined) return;
    // Always through the filter, so its state stays continuous across DTMF and pauses.
    this.audio(enc, pcm48 === undefined ? undefined : this.toCodecRate(enc, pcm48), send);
  }

  /** As `tick`, with the mix already at the codec's rate (20 ms of it): nothing to resample. */
  tickNative(pcm: Int16Array, send: PacketSink): void {
    const enc = this.encoding;
    if (enc === undefined) return;
    if (pcm.length !== enc.tickPcm.length) throw new RangeError(`frame has ${pcm.length} samples, expected ${enc.tickPcm.length} for ${enc.config.codec}`);
    this.encodedTailLength = 0;
    enc.downsampler?.skipLow(pcm);
    this.audio(enc, pcm, send);
  }

  /**
   * As `tick`, with the tick's audio already encoded in this codec (a mix shared with other legs,
   * or another leg's G.711 as it came): G.711 and G.722 only, one tick of bytes.
   */
  tickEncoded(payload: Uint8Array, send: PacketSink): void {
    const enc = this.encoding;
    if (enc === undefined) return;
    if (enc.downsampler !== undefined) {
      // Kept as bytes: decoded only if the downsampler is ever needed again (see `toCodecRate`).
      const tail = payload.subarray(Math.max(0, payload.length - this.encodedTail.length));
      this.encodedTail.set(tail);
      this.encodedTailLength = tail.length;
    }
    const ts = this.advance(enc);
    if (this.sendEvent(enc, ts, send)) return;
    if (this.dtmf.active || !enc.byteStream || payload.length !== enc.tickUnits) {
      this.dropPending();
      return;
    }
    this.gatherBytes(enc, ts, payload, send);
  }

  /** This tick's RTP timestamp; moves the clock on by a tick. */
  private advance(enc: Encoding): number {
    const ts = this.timestamp;
    this.timestamp = (ts + enc.tickUnits) >>> 0;
    return ts;
  }

  private toCodecRate(enc: Encoding, pcm48: Int16Array): Int16Array {
    const down = enc.downsampler;
    if (down === undefined) return pcm48;
    if (this.encodedTailLength > 0) this.catchUp(enc, down);
    return down.process(pcm48, enc.tickPcm);
  }

  /** The last tick went out already encoded: the downsampler picks up from where it ended. */
  private catchUp(enc: Encoding, down: Downsampler): void {
    const codec = enc.config.codec;
    const tail = this.encodedTail.subarray(0, this.encodedTailLength);
    this.encodedTailLength = 0;
    if (codec === 'PCMU' || codec === 'PCMA') down.skipLow(decodeG711(codec, tail, this.encodedTailPcm.subarray(0, tail.length)));
    // G.722's bytes mean nothing without the encoder's state: the filter starts afresh instead.
    else down.reset();
  }

  /** A telephone-event packet, when one is due this tick; true when it went in place of audio. */
  private sendEvent(enc: Encoding, ts: number, send: PacketSink): boolean {
    const event = this.dtmf.tick(ts);
    if (event === undefined || enc.config.telephoneEventPt === undefined) return false;
    this.restartTalkspurt();
    send(enc.config.telephoneEventPt, event.timestamp, event.marker, event.payload);
    return true;
  }

  /** One tick of PCM at the codec's rate (or none): DTMF first, then into the packet being gathered. */
  private audio(enc: Encoding, pcm: Int16Array | undefined, send: PacketSink): void {
    const ts = this.advance(enc);
    if (this.sendEvent(enc, ts, send)) return;
    if (pcm === undefined || this.dtmf.active) {
      this.dropPending();
      return;
    }
    if (enc.byteStream) this.gatherBytes(enc, ts, enc.encoder.encode(pcm), send);
    else this.gatherPcm(enc, ts, pcm, send);
  }

  private gatherBytes(enc: Encoding, ts: number, bytes: Uint8Array, send: PacketSink): void {
    if (this.pendingLength === 0) this.pendingTs = ts;
    this.pendingBytes.set(bytes, this.pendingLength);
    this.pendingLength += bytes.length;
    // A packet time shorter than a tick (10 ms) sends two packets a tick.
    let at = 0;
    while (this.pendingLength - at >= enc.packetSize) {
      const packetTs = this.pendingTs;
      this.pendingTs = (packetTs + enc.packetUnits) >>> 0;
      if (send(enc.config.payloadType, packetTs, this.talkspurt, this.pendingBytes.subarray(at, at + enc.packetSize))) this.talkspurt = false;
      at += enc.packetSize;
    }
    if (at > 0) {
      this.pendingBytes.copyWithin(0, at, this.pendingLength);
      this.pendingLength -= at;
    }
  }

  private gatherPcm(enc: Encoding, ts: number, pcm: Int16Array, send: PacketSink): void {
    if (this.pendingLength === 0) this.pendingTs = ts;
    this.pendingPcm.set(pcm, this.pendingLength);
    this.pendingLength += pcm.length;
    while (this.pendingLength >= enc.packetSize) {
      const payload = enc.encoder.encode(this.pendingPcm.subarray(0, enc.packetSize));
      const packetTs = this.pendingTs;
      this.pendingPcm.copyWithin(0, enc.packetSize, this.pendingLength);
      this.pendingLength -= enc.packetSize;
      this.pendingTs = (packetTs + enc.packetUnits) >>> 0;
      if (send(enc.config.payloadType, packetTs, this.talkspurt, payload)) this.talkspurt = false;
    }
  }

  private dropPending(): void {
    this.pendingLength = 0;
  }
}
