import type { LevelledAudioPacket } from '../audio/audioLevel.js';
import { AudioInput, type ReceivedFrame } from '../audio/decoderInput.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import { encodedSilence, FrameEncoder } from '../audio/opusEncoder.js';
import { opusPacketSamples } from '../codecs/opusPacket.js';
import type { AudioEndpoint } from '../engine.js';

export type { ReceivedFrame } from '../audio/decoderInput.js';

/** Encodes one stream's 48 kHz frames; stateful, so one instance per stream. */
export interface MixEncoder {
  /** Encodes one 960-sample frame (the caller may reuse the array afterwards). */
  encode(frame: Int16Array): Buffer;
  /** Encodes one 20 ms frame at the codec's own rate (`LegCodec.nativeRate`), a mix that needed no resampling. */
  encodeNative?(pcm: Int16Array): Buffer;
  close(): void;
}

/**
 * What a leg sends, for sharing: legs whose codecs have the same key can be sent the very same
 * encoded frames (one encoder for every listener of a mix), and, when they carry what they receive
 * in that codec too, each other's packets as they came (two-party forwarding).
 */
export interface LegCodec {
  /** Codec, clock, channels, packet time and encoder settings: equal keys, interchangeable frames. */
  readonly key: string;
  /** A fresh encoder of this key, for a stream that several legs hear. */
  createEncoder(): MixEncoder;
  /** Whether a payload this leg received is one frame of this key, sendable as it is to a leg of the same key. */
  forwardable(payload: Buffer): boolean;
  /** False when no payload of this key ever is (a stateful codec whose packets make sense only in their own stream): two such legs are mixed, not forwarded. */
  readonly forwards?: boolean;
  /** The rate its encoders take frames at with `encodeNative()` (8 or 16 kHz SIP codecs); undefined: 48 kHz only. */
  readonly nativeRate?: number;
}

/**
 * A leg's audio as the bridge sees it, whatever its codec: one 48 kHz frame in per tick
 * (jitter-buffered, concealed), and one 48 kHz mix frame out, which the leg encodes its own way.
 *
 * Optional, for legs that can: `receive()` and `decode()` split taking the tick's packet from
 * decoding it, so the bridge decodes only the legs it mixes, and learns a leg's level from the RFC
 * 6464 extension (or the codec's own samples) instead of decoding; `codec()` and `sendEncoded()`
 * let several legs share one encoding, or take another leg's packets as they came. A leg whose
 * codec runs at a lower rate (G.711 at 8 kHz, G.722 at 16 kHz) may also hand over its input at that
 * rate (`nativeRate()`, `decodeNative()`) and take a mix at that rate (`sendNative()`): the mix
 * such legs hear is summed at their rate, its speakers of that rate as they came (no resampling)
 * and only the rest brought down to it. Legs without any of these are decoded every tick with
 * `nextFrame()` and encode everything they are sent themselves.
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
  /** Takes this tick's packet without decoding it (instead of `nextFrame()`); see `AudioInput.receive`. */
  receive?(): ReceivedFrame;
  /** Decodes what `receive()` took this tick; undefined for silence. */
  decode?(): Int16Array | undefined;
  /** The codec this leg is sent, now (a leg's codec may change); undefined: it takes only `send()`. */
  codec?(): LegCodec | undefined;
  /** Sends a frame already encoded in `codec()` (shared by other legs, or another leg's packet): do not modify it. */
  sendEncoded?(payload: Buffer): void;
  /** The rate (Hz) of what `receive()` took this tick, when `decodeNative()` can hand it over at that rate; undefined: 48 kHz only. */
  nativeRate?(): number | undefined;
  /** What `receive()` took this tick at `nativeRate()`, not resampled; undefined for silence. Valid until the next `receive()`. */
  decodeNative?(): Int16Array | undefined;
  /** Sends this tick's mix at the rate of `codec().nativeRate` (20 ms of it; the buffer is reused after the call). */
  sendNative?(pcm: Int16Array): void;
}

/** WebRTC legs: Opus at 48 kHz, mono, 20 ms, the project's FrameEncoder defaults. */
export const OPUS_20: LegCodec = {
  key: 'opus/48000/1/20ms',
  createEncoder: () => new FrameEncoder(),
  forwardable: (payload) => opusPacketSamples(payload) === FRAME_SAMPLES,
};

/** A WebRTC leg's audio: Opus in (from the endpoint's RTP) and out (its own encoder, or shared frames). */
export class OpusLegAudio implements LegAudio {
  private readonly input = new AudioInput();
  /** Made on first use: a leg that only ever hears shared frames never needs one. */
  private encoder: FrameEncoder | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly endpoint: AudioEndpoint) {
    this.unsubscribe = endpoint.on('audio', (packet: LevelledAudioPacket) => this.input.push(packet));
  }

  /** Packets decoded and packets left undecoded so far. */
  get counts(): Readonly<{ decoded: number; skipped: number }> {
    return this.input.counts;
  }

  nextFrame(): Int16Array | undefined {
    return this.input.nextFrame();
  }

  receive(): ReceivedFrame {
    return this.input.receive();
  }

  decode(): Int16Array | undefined {
    return this.input.decode();
  }

  codec(): LegCodec {
    return OPUS_20;
  }

  send(mix: Int16Array): void {
    this.encoder ??= new FrameEncoder();
    this.endpoint.sendAudio(this.encoder.encode(mix));
  }

  sendEncoded(payload: Buffer): void {
    this.endpoint.sendAudio(payload);
  }

  sendSilence(): void {
    // Any decoder takes the shared silent packet: an Opus packet describes its own mode.
    this.endpoint.sendAudio(encodedSilence());
  }

  close(): void {
    this.unsubscribe();
    this.input.close();
    this.encoder?.close();
  }
}
