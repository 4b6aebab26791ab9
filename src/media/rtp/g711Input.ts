/**
 * A SIP leg's incoming audio as the bridge consumes it: the G.711 counterpart of `AudioInput`
 * (src/media/audio/decoderInput.ts). Packets in whenever the network delivers them, one 48 kHz
 * 20 ms frame out per tick. The jitter buffer is the bridge's own: it orders by sequence number
 * and holds opaque payloads, which fits G.711 at 20 ms per packet as well as Opus.
 */
import type { AudioPacket } from '../engine.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import { JitterBuffer, type JitterBufferOptions } from '../audio/jitterBuffer.js';
import type { DtmfPress } from './dtmf.js';
import { decodeG711, G711_FRAME_SAMPLES, type G711Codec } from './g711.js';
import { InbandDtmfDetector, type InbandDtmfOptions } from './inbandDtmf.js';
import { Upsampler } from './resampler.js';

export interface G711InputOptions {
  codec: G711Codec;
  jitter?: JitterBufferOptions;
  /**
   * Listens for in-band DTMF in the decoded audio and reports each press here. Meant for calls
   * that negotiated no telephone-event: a trunk that sends both would have each key reported twice.
   */
  onInbandDtmf?: (press: DtmfPress) => void;
  inbandDtmf?: InbandDtmfOptions;
}

/**
 * A lost frame is replaced by the last good one, faded: each concealed frame ramps its gain down
 * from one step to the next, so after three (60 ms) it reaches silence without a step. Then
 * silence (`undefined`), and the concealment source is forgotten, so that a later loss cannot
 * resurrect a stale frame, nor the filter's memory of it click into the next talkspurt.
 */
const CONCEALMENT_STEPS = [1, 0.5, 0.25, 0] as const;

/** Jitter buffer, G.711 decoding, 8→48 kHz and loss concealment for one incoming SIP stream. */
export class G711Input {
  readonly jitter: JitterBuffer;
  private readonly codec: G711Codec;
  private readonly upsampler = new Upsampler();
  private readonly detector: InbandDtmfDetector | undefined;
  private readonly onInbandDtmf: ((press: DtmfPress) => void) | undefined;
  /** The last frame decoded well (8 kHz), the source for concealment. */
  private readonly decoded = new Int16Array(G711_FRAME_SAMPLES);
  private readonly work = new Int16Array(G711_FRAME_SAMPLES);
  private readonly silence = new Int16Array(G711_FRAME_SAMPLES);
  private readonly out = new Int16Array(FRAME_SAMPLES);
  private hasDecoded = false;
  private losses = 0;
  private closed = false;

  constructor(options: G711InputOptions) {
    this.codec = options.codec;
    this.jitter = new JitterBuffer(options.jitter);
    this.onInbandDtmf = options.onInbandDtmf;
    this.detector = options.onInbandDtmf && new InbandDtmfDetector(options.inbandDtmf);
  }

  /** Adds one received packet; ignored after close. */
  push(packet: AudioPacket): void {
    if (!this.closed) this.jitter.push(packet);
  }

  /**
   * The frame for this tick (960 samples at 48 kHz), or `undefined` for silence: not started,
   * drained, or too long a loss. The array is reused: it is valid until the next call.
   */
  nextFrame(): Int16Array | undefined {
    if (this.closed) return undefined;
    const popped = this.jitter.pop();
    if (popped.kind === 'frame' && popped.payload.length === G711_FRAME_SAMPLES) {
      decodeG711(this.codec, popped.payload, this.decoded);
      this.hasDecoded = true;
      this.losses = 0;
      this.detect(this.decoded);
      return this.upsampler.process(this.decoded, this.out);
    }
    // Silence, not the concealed frame, goes to the detector: repeating a tone would lengthen a press.
    this.detect(this.silence);
    // A missing packet, one that is not 20 ms (other packetisations are not negotiated), or a
    // drained buffer (a burst of loss, or the far end stopped sending): fade out rather than
    // stop dead, which would click.
    return this.conceal();
  }

  /** Drops buffered packets and reports a press the detector was in the middle of; harmless twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.jitter.reset();
    const press = this.detector?.flush();
    if (press) this.onInbandDtmf?.(press);
  }

  private conceal(): Int16Array | undefined {
    const from = CONCEALMENT_STEPS[this.losses];
    const to = CONCEALMENT_STEPS[this.losses + 1];
    this.losses++;
    if (!this.hasDecoded || from === undefined || to === undefined) {
      this.stopConcealing();
      return undefined;
    }
    for (let i = 0; i < G711_FRAME_SAMPLES; i++) {
      const gain = from + ((to - from) * i) / G711_FRAME_SAMPLES;
      this.work[i] = Math.round((this.decoded[i] ?? 0) * gain);
    }
    // Concealed at 8 kHz and upsampled like real frames, so the filter smooths the joins.
    return this.upsampler.process(this.work, this.out);
  }

  private stopConcealing(): void {
    if (this.hasDecoded) this.upsampler.reset();
    this.hasDecoded = false;
  }

  private detect(frame: Int16Array): void {
    if (this.detector === undefined) return;
    for (const press of this.detector.push(frame)) this.onInbandDtmf?.(press);
  }
}
