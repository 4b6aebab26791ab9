/**
 * One stream's encoder and decoder for each SIP codec, behind the two small interfaces the RTP
 * endpoint and the playout buffer use. Each leg gets its own instances: G.722 and Opus keep state
 * from packet to packet.
 */
import type { PacketDecoder } from '../rtp/playoutBuffer.js';
import { decodeG711, encodeG711 } from '../rtp/g711.js';
import { createOpusCodec, type OpusCodec } from '../audio/opusCodec.js';
import { G722Decoder, G722Encoder } from './g722.js';
import { opusPacketSamples } from './opusPacket.js';
import type { SipCodecName } from './sipCodecs.js';

/** Encodes PCM at the codec's sample rate (one packet's worth) to one RTP payload. */
export interface PacketEncoder {
  /** The payload for `pcm`; the buffer may be reused by the next call (the caller copies it into a packet). */
  encode(pcm: Int16Array): Uint8Array;
}

/** A fresh decoder for one incoming stream of `codec`. */
export function createSipDecoder(codec: SipCodecName): PacketDecoder {
  switch (codec) {
    case 'PCMU':
    case 'PCMA':
      return new G711Decoder(codec);
    case 'G722':
      return new G722PacketDecoder();
    case 'opus':
      return new OpusPacketDecoder();
  }
}

/** A fresh encoder for one outgoing stream of `codec`. */
export function createSipEncoder(codec: SipCodecName): PacketEncoder {
  switch (codec) {
    case 'PCMU':
    case 'PCMA':
      return new G711Encoder(codec);
    case 'G722':
      return new G722PacketEncoder();
    case 'opus':
      return new OpusPacketEncoder();
  }
}

/** Largest payload we decode: 120 ms, the most any of these codecs puts in one packet. */
const MAX_G711_BYTES = 960;

class G711Decoder implements PacketDecoder {
  readonly samplesPerTick = 1;
  private readonly out = new Int16Array(MAX_G711_BYTES);

  constructor(private readonly codec: 'PCMU' | 'PCMA') {}

  duration(payload: Uint8Array): number | undefined {
    return payload.length > 0 && payload.length <= MAX_G711_BYTES ? payload.length : undefined;
  }

  decode(payload: Uint8Array): Int16Array {
    return decodeG711(this.codec, payload, this.out).subarray(0, payload.length);
  }

  reset(): void {
    // G.711 is stateless.
  }
}

class G711Encoder implements PacketEncoder {
  private out = Buffer.alloc(160);

  constructor(private readonly codec: 'PCMU' | 'PCMA') {}

  encode(pcm: Int16Array): Uint8Array {
    if (this.out.length < pcm.length) this.out = Buffer.alloc(pcm.length);
    return encodeG711(this.codec, pcm, this.out).subarray(0, pcm.length);
  }
}

class G722PacketDecoder implements PacketDecoder {
  /** Two 16 kHz samples per byte, one byte per tick of G.722's 8 kHz RTP clock. */
  readonly samplesPerTick = 2;
  private decoder = new G722Decoder();
  private readonly out = new Int16Array(MAX_G711_BYTES * 2);

  duration(payload: Uint8Array): number | undefined {
    return payload.length > 0 && payload.length <= MAX_G711_BYTES ? payload.length : undefined;
  }

  decode(payload: Uint8Array): Int16Array {
    return this.decoder.decode(payload, this.out).subarray(0, payload.length * 2);
  }

  reset(): void {
    this.decoder.reset();
  }
}

class G722PacketEncoder implements PacketEncoder {
  private readonly encoder = new G722Encoder();
  private out = new Uint8Array(160);

  encode(pcm: Int16Array): Uint8Array {
    const bytes = pcm.length >> 1;
    if (this.out.length < bytes) this.out = new Uint8Array(bytes);
    return this.encoder.encode(pcm, this.out).subarray(0, bytes);
  }
}

class OpusPacketDecoder implements PacketDecoder {
  readonly samplesPerTick = 1;
  private codec: OpusCodec = createOpusCodec();

  duration(payload: Uint8Array): number | undefined {
    return opusPacketSamples(payload);
  }

  decode(payload: Uint8Array): Int16Array {
    const pcm = this.codec.decode(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    // A view when the bytes are aligned for 16-bit reads (they are, from the binding), else a copy.
    if (pcm.byteOffset % 2 === 0) return new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength >> 1);
    return new Int16Array(Uint8Array.from(pcm).buffer);
  }

  reset(): void {
    // The native decoder has no reset in this binding; a fresh one forgets the old stream.
    this.codec = createOpusCodec();
  }
}

class OpusPacketEncoder implements PacketEncoder {
  private readonly codec: OpusCodec = createOpusCodec();

  encode(pcm: Int16Array): Uint8Array {
    // A view, not a copy; Node's platforms are little-endian, as Opus input must be.
    return this.codec.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  }
}
