/**
 * The bridge's view of what a SIP leg is sent, for sharing (../bridge/legAudio.ts `LegCodec`):
 * G.711 and G.722 are byte streams timed by the bridge's ticks, so one tick encoded once serves
 * every leg of that codec whatever its packet time (each leg's send stream cuts its own packets
 * from the bytes). The shared encoder takes the 48 kHz mix, or a mix already at the codec's rate
 * when the bridge could mix there.
 */
import type { LegCodec, MixEncoder } from '../bridge/legAudio.js';
import { FRAME_MS } from '../audio/frame.js';
import { G722Encoder } from '../codecs/g722.js';
import { SIP_CODECS } from '../codecs/sipCodecs.js';
import { encodeG711 } from './g711.js';
import { Downsampler } from './resampler.js';

/** The SIP codecs whose ticks can be shared as bytes. */
export type ByteCodec = 'PCMU' | 'PCMA' | 'G722';

export function isByteCodec(codec: string | undefined): codec is ByteCodec {
  return codec === 'PCMU' || codec === 'PCMA' || codec === 'G722';
}

/** One stream of ticks of one byte codec, encoded for every leg that hears the shared mix. */
class SharedByteEncoder implements MixEncoder {
  private readonly down: Downsampler;
  private readonly pcm: Int16Array;
  private readonly g722: G722Encoder | undefined;

  constructor(private readonly codec: ByteCodec) {
    const rate = SIP_CODECS[codec].sampleRate;
    this.down = new Downsampler(rate === 16_000 ? 3 : 6);
    this.pcm = new Int16Array((rate * FRAME_MS) / 1000);
    this.g722 = codec === 'G722' ? new G722Encoder() : undefined;
  }

  encode(frame: Int16Array): Buffer {
    return this.bytes(this.down.process(frame, this.pcm));
  }

  encodeNative(pcm: Int16Array): Buffer {
    this.down.skipLow(pcm);
    return this.bytes(pcm);
  }

  close(): void {
    // Nothing native to free.
  }

  private bytes(pcm: Int16Array): Buffer {
    // A fresh buffer per tick, as the Opus encoder gives: a payload once handed out never changes.
    if (this.g722) return Buffer.from(this.g722.encode(pcm));
    return encodeG711(this.codec === 'PCMA' ? 'PCMA' : 'PCMU', pcm, Buffer.allocUnsafe(pcm.length));
  }
}

function byteCodec(codec: ByteCodec): LegCodec {
  return {
    key: `sip/${codec}/20ms-ticks`,
    nativeRate: SIP_CODECS[codec].sampleRate,
    createEncoder: () => new SharedByteEncoder(codec),
    // A G.711 tick re-encoded from what was decoded is the same codes (each law maps its own codes back to themselves), so it goes to another leg as it is.
    forwardable: (payload) => codec !== 'G722' && payload.length === (8000 * FRAME_MS) / 1000,
    // G.722's codes cannot be made again from the decoded audio (its encoder has state): its ticks have nothing to forward.
    forwards: codec !== 'G722',
  };
}

/** The shared codec of each byte codec: equal keys, interchangeable ticks. */
export const SIP_MIX_CODECS: Readonly<Record<ByteCodec, LegCodec>> = { PCMU: byteCodec('PCMU'), PCMA: byteCodec('PCMA'), G722: byteCodec('G722') };
