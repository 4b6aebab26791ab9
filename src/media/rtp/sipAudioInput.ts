/**
 * A SIP leg's incoming audio as the bridge consumes it: packets in whenever the network delivers
 * them, placed by RTP timestamp and decoded in order (./playoutBuffer.ts), then brought to the
 * bridge's 48 kHz, one 20 ms frame per tick. Any packet time, a size that changes mid-call,
 * reordering, a new SSRC or talkspurt are the playout buffer's business; this adds the codec, the
 * resampling and in-band DTMF detection.
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
   * The frame for this tick (960 samples at 48 kHz), or `undefined` for silence: not started,
   * drained, or too long a loss. The array is reused: it is valid until the next call.
   */
  nextFrame(): Int16Array | undefined {
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
    const frame = this.upsampler ? this.upsampler.process(pcm, this.out) : pcm;
    if (this.detector) this.detect(this.detectorDownsampler ? this.detectorDownsampler.process(frame, this.detectorPcm) : pcm);
    return frame;
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
