import { AudioInput } from '../audio/decoderInput.js';
import { encodedSilence, FrameEncoder } from '../audio/opusEncoder.js';
import type { AudioEndpoint } from '../engine.js';

/**
 * A leg's audio as the bridge sees it, whatever its codec: one decoded 48 kHz frame in per tick
 * (jitter-buffered, concealed), and one 48 kHz mix frame out, which the leg encodes its own way.
 */
export interface LegAudio {
  /** This tick's frame of what the leg says, or undefined when it has nothing (no packets yet). */
  nextFrame(): Int16Array | undefined;
  /** Sends this tick's mix (960 samples; the buffer is reused after the call). */
  send(mix: Int16Array): void;
  /** Sends this tick's silence, as cheaply as the codec allows. */
  sendSilence(): void;
  /** Frees the codec state; harmless twice. */
  close(): void;
}

/** A WebRTC leg's audio: Opus in (from the endpoint's RTP) and out (its own encoder). */
export class OpusLegAudio implements LegAudio {
  private readonly input = new AudioInput();
  private readonly encoder = new FrameEncoder();
  private readonly unsubscribe: () => void;

  constructor(private readonly endpoint: AudioEndpoint) {
    this.unsubscribe = endpoint.on('audio', (packet) => this.input.push(packet));
  }

  nextFrame(): Int16Array | undefined {
    return this.input.nextFrame();
  }

  send(mix: Int16Array): void {
    this.endpoint.sendAudio(this.encoder.encode(mix));
  }

  sendSilence(): void {
    // Any decoder takes the shared silent packet: an Opus packet describes its own mode.
    this.endpoint.sendAudio(encodedSilence());
  }

  close(): void {
    this.unsubscribe();
    this.input.close();
    this.encoder.close();
  }
}
