/**
 * A SIP leg's incoming audio as the bridge consumes it: packets in whenever the network delivers
 * them, placed by RTP timestamp and decoded in order (./playoutBuffer.ts), one 20 ms frame per
 * tick at the codec's rate, brought to the bridge's 48 kHz only when asked (a bridge that mixes at
 * the codec's rate never asks). Any packet time, a size that changes mid-call, reordering, a new
 * SSRC or talkspurt are the playout buffer's business; this adds the codec, the resampling and
 * in-band DTMF detection.
 */
import type { RtpPacket } from '../audio/rtp.js';
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { createSipDecoder } from '../codecs/sipCodecStreams.js';
import { SIP_CODECS, type SipCodecName } from '../codecs/sipCodecs.js';
import type { DtmfPress } from './dtmf.js';
import { InbandDtmfDetector, type InbandDtmfOptions } from './inbandDtmf.js';
import { PlayoutBuffer, type PlayoutStats } from './playoutBuffer.js';
import { Downsampler, Upsampler } from './resampler.js';

export interface SipAudioInputOptions {
  codec: SipCodecName;
  /**
   * Listens for in-band DTMF in the decoded audio and reports each press here. Meant for calls
   * that negotiated no telephone-event: a trunk that sends both would have each key reported twice.
   */
  onInbandDtmf?: (press: DtmfPress) => void;
  inbandDtmf?: InbandDtmfOptions;
  /** Delay held before playing, in ms (the playout buffer's default otherwise). */
  targetDelayMs?: number;
}

/** Playout, decoding, resampling to 48 kHz and in-band DTMF for one incoming SIP stream. */
export class SipAudioInput {
  readonly codec: SipCodecName;
  private readonly playout: PlayoutBuffer;
  private readonly upsampler: Upsampler | undefined;
  private readonly out = new Int16Array(FRAME_SAMPLES);
  private readonly detector: InbandDtmfDetector | undefined;
  /** 48 → 8 kHz for the detector, when the codec is not narrow-band already. */
  private readonly detectorDownsampler: Downsampler | undefined;
  private readonly detectorPcm = new Int16Array(160);
  private readonly silence8k = new Int16Array(160);
  private readonly onInbandDtmf: ((press: DtmfPress) => void) | undefined;
  private playing = false;
  private closed = false;
  /** This tick's audio at the codec's rate, and whether it has been brought to 48 kHz. */
  private taken: Int16Array | undefined;
  private converted = false;

  constructor(options: SipAudioInputOptions) {
    this.codec = options.codec;
    const info = SIP_CODECS[options.codec];
    this.playout = new PlayoutBuffer({
      decoder: createSipDecoder(options.codec),
      frameSamples: (info.sampleRate * FRAME_MS) / 1000,
      sampleRate: info.sampleRate,
      ...(options.targetDelayMs !== undefined && { targetDelayMs: options.targetDelayMs }),
    });
    this.upsampler = info.sampleRate === 8000 ? new Upsampler(6) : info.sampleRate === 16_000 ? new Upsampler(3) : undefined;
    this.onInbandDtmf = options.onInbandDtmf;
    if (options.onInbandDtmf) {
      this.detector = new InbandDtmfDetector(options.inbandDtmf);
      this.detectorDownsampler = info.sampleRate === 8000 ? undefined : new Downsampler(6);
    }
  }

  /** What the playout buffer counted (late, duplicate, concealed, …). */
  get stats(): Readonly<PlayoutStats> {
    return this.playout.stats;
  }

  /** The sender is sending telephone-events instead of audio: what runs dry now is a pause. */
  pause(): void {
    this.playout.pause();
  }

  /** Adds one received packet; ignored after close. */
  push(packet: RtpPacket): void {
    if (this.closed) return;
    this.playout.push(packet);
  }

  /**
   * Takes this tick's audio at the codec's rate (played out and decoded, cheap for G.711 and G.722),
   * without bringing it to 48 kHz: `undefined` for silence (not started, drained, too long a loss).
   * Call once per tick, then `decode()` if the 48 kHz frame is wanted. The array is reused.
   */
  receive(): Int16Array | undefined {
    // Last tick's audio was not converted: the filter still takes it in, so the next frame joins it cleanly.
    if (this.taken !== undefined && !this.converted) this.upsampler?.skip(this.taken);
    this.taken = undefined;
    this.converted = false;
    if (this.closed) return undefined;
    const pcm = this.playout.nextFrame();
    if (pcm === undefined) {
      // Silence, not a repeat, goes to the detector: repeating a tone would lengthen a press.
      this.detect(this.silence8k);
      if (this.playing) {
        // The next talkspurt starts clean rather than from the filter's memory of the last one.
        this.upsampler?.reset();
        this.detectorDownsampler?.reset();
        this.playing = false;
      }
      return undefined;
    }
    this.playing = true;
    this.taken = pcm;
    // The detector needs every frame; for 8 kHz codecs it reads this one as it is.
    if (this.detector) {
      const down = this.detectorDownsampler;
      const wide = down === undefined ? undefined : this.decode();
      this.detect(down !== undefined && wide !== undefined ? down.process(wide, this.detectorPcm) : pcm);
    }
    return pcm;
  }

  /** This tick's audio (from `receive()`) at 48 kHz (960 samples), or `undefined` for silence. The array is reused. */
  decode(): Int16Array | undefined {
    const pcm = this.taken;
    if (pcm === undefined) return undefined;
    if (!this.upsampler) return pcm;
    if (!this.converted) {
      this.upsampler.process(pcm, this.out);
      this.converted = true;
    }
    return this.out;
  }

  /** The codec's rate, when it is below the bridge's (G.711, G.722): `receive()` hands audio over at it. */
  get nativeRate(): number | undefined {
    return this.upsampler === undefined ? undefined : SIP_CODECS[this.codec].sampleRate;
  }

  /**
   * The frame for this tick (960 samples at 48 kHz), or `undefined` for silence: not started,
   * drained, or too long a loss. The array is reused: it is valid until the next call.
   */
  nextFrame(): Int16Array | undefined {
    this.receive();
    return this.decode();
  }

  /** Drops buffered packets and reports a press the detector was in the middle of; harmless twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.playout.reset();
    const press = this.detector?.flush();
    if (press) this.onInbandDtmf?.(press);
  }

  private detect(frame: Int16Array): void {
    if (this.detector === undefined) return;
    for (const press of this.detector.push(frame)) this.onInbandDtmf?.(press);
  }
}
