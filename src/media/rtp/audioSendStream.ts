/**
 * What a SIP leg sends, timed by the bridge's 20 ms ticks: the mix resampled to the codec's rate,
 * gathered into packets of the negotiated packet time (10 to 60 ms, whatever the tick), encoded,
 * and RFC 4733 telephone-events in place of audio while a key is on the wire. One RTP clock runs
 * through audio and events alike, advancing a tick's worth of the codec's clock every tick.
 */
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { createSipEncoder, type PacketEncoder } from '../codecs/sipCodecStreams.js';
import { SIP_CODECS, type SipCodecInfo } from '../codecs/sipCodecs.js';
import { Downsampler } from './resampler.js';
import { DtmfSender, type DtmfSenderOptions } from './rfc4733.js';
import type { RtpCodecConfig } from './rtpEndpoint.js';

/** Sends one packet; false when it could not go (direction, no destination). */
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
  /** Samples of one packet at the codec's rate, and the RTP clock units of one tick. */
  packetSamples: number;
  tickUnits: number;
}

/** The outgoing half of a SIP leg's RTP session (encoding, packetisation, DTMF). */
export class AudioSendStream {
  private encoding: Encoding | undefined;
  private dtmf: DtmfSender;
  private dtmfClockRate = 8000;
  /** PCM gathered for the next packet, and the RTP timestamp of its first sample. */
  private pending = new Int16Array(0);
  private pendingLength = 0;
  private pendingTs = 0;
  /** The next audio packet starts a talkspurt (marker bit): first packet, after DTMF or a pause. */
  private talkspurt = true;

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
    const ratio = FRAME_SAMPLES * (1000 / FRAME_MS) / info.sampleRate;
    this.encoding = {
      config: { ...config },
      info,
      encoder: same && this.encoding ? this.encoding.encoder : createSipEncoder(config.codec),
      downsampler: same && this.encoding ? this.encoding.downsampler : ratio === 1 ? undefined : new Downsampler(ratio === 3 ? 3 : 6),
      tickPcm: new Int16Array((info.sampleRate * FRAME_MS) / 1000),
      packetSamples: (info.sampleRate * config.ptime) / 1000,
      tickUnits: (info.clockRate * FRAME_MS) / 1000,
    };
    // A packet time that is not a whole number of ticks leaves part of a tick for the next packet.
    const capacity = this.encoding.packetSamples + this.encoding.tickPcm.length;
    if (this.pending.length < capacity) this.pending = new Int16Array(capacity);
    this.dropPending();
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
    const ts = this.timestamp;
    this.timestamp = (ts + enc.tickUnits) >>> 0;
    // Always through the filter, so its state stays continuous across DTMF and pauses.
    const pcm = pcm48 === undefined ? undefined : enc.downsampler ? enc.downsampler.process(pcm48, enc.tickPcm) : pcm48;
    const event = this.dtmf.tick(ts);
    if (event !== undefined && enc.config.telephoneEventPt !== undefined) {
      this.restartTalkspurt();
      send(enc.config.telephoneEventPt, event.timestamp, event.marker, event.payload);
      return;
    }
    if (pcm === undefined || this.dtmf.active) {
      this.dropPending();
      return;
    }
    if (this.pendingLength === 0) this.pendingTs = ts;
    this.pending.set(pcm, this.pendingLength);
    this.pendingLength += pcm.length;
    // A packet time shorter than a tick (10 ms) sends two packets a tick.
    while (this.pendingLength >= enc.packetSamples) {
      const payload = enc.encoder.encode(this.pending.subarray(0, enc.packetSamples));
      const packetTs = this.pendingTs;
      this.pending.copyWithin(0, enc.packetSamples, this.pendingLength);
      this.pendingLength -= enc.packetSamples;
      this.pendingTs = (packetTs + (enc.packetSamples * enc.info.clockRate) / enc.info.sampleRate) >>> 0;
      if (send(enc.config.payloadType, packetTs, this.talkspurt, payload)) this.talkspurt = false;
    }
  }

  private dropPending(): void {
    this.pendingLength = 0;
  }
}
