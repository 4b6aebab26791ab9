import type { LegAudio, LegCodec, ReceivedFrame } from '../bridge/legAudio.js';
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { frameDbfs } from '../audio/speakingDetector.js';
import { SIP_CODECS } from '../codecs/sipCodecs.js';
import type { DtmfPress } from './dtmf.js';
import { encodeG711 } from './g711.js';
import type { RtpEndpoint } from './rtpEndpoint.js';
import { SipAudioInput } from './sipAudioInput.js';
import { isByteCodec, SIP_MIX_CODECS } from './sipMixCodecs.js';
import type { PlayoutStats } from './playoutBuffer.js';

/** Samples in one 20 ms tick of G.711. */
const G711_TICK = (8000 * FRAME_MS) / 1000;

/**
 * A tick as received, whose G.711 payload (for forwarding) is encoded only if something asks for
 * it: most ticks of most legs are never forwarded.
 */
class ReceivedTick implements ReceivedFrame {
  kind: ReceivedFrame['kind'] = 'empty';
  levelDbfs: number | undefined;
  private pcm: Int16Array | undefined;
  private law: 'PCMU' | 'PCMA' | undefined;
  private encoded: Buffer | undefined;

  /** This tick's audio at the codec's rate, or undefined for nothing. */
  set(pcm: Int16Array | undefined, codec: string | undefined): void {
    this.kind = pcm === undefined ? 'empty' : 'frame';
    this.levelDbfs = pcm === undefined ? undefined : frameDbfs(pcm);
    this.pcm = pcm;
    this.law = codec === 'PCMU' || codec === 'PCMA' ? codec : undefined;
    this.encoded = undefined;
  }

  /** The codes that came in (each law maps its own codes back to themselves), one tick of them whatever the packet time. */
  get payload(): Buffer | undefined {
    if (this.encoded === undefined && this.pcm?.length === G711_TICK && this.law !== undefined) this.encoded = encodeG711(this.law, this.pcm);
    return this.encoded;
  }
}

/**
 * A SIP leg's audio as the bridge sees it: RTP in (playout by timestamp, decode, concealment; to
 * 48 kHz only when the bridge asks) and the mix out (encoded and packetised by the endpoint), in
 * whatever codec the endpoint has negotiated. A re-INVITE that changes the codec gets a fresh input
 * at its next packet. G.711 and G.722 legs hand the bridge their audio at the codec's rate and take
 * a mix at it, and share one encoding of the mix per codec (./sipMixCodecs.ts); a G.711 leg's
 * tick, re-encoded, can be forwarded to a leg that hears only it.
 */
export class RtpLegAudio implements LegAudio {
  private readonly received = new ReceivedTick();
  /** This tick's audio at the codec's rate, from `receive()`. */
  private pcm: Int16Array | undefined;
  private input: SipAudioInput | undefined;
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly unsubscribe: () => void;
  private readonly unsubscribeEvents: () => void;
  /** Playout counters of inputs replaced by a codec change, so the leg's totals never go back. */
  private readonly earlier = { late: 0, duplicate: 0, concealedSamples: 0 };

  constructor(
    private readonly endpoint: RtpEndpoint,
    /** In-band DTMF detection, for calls that negotiated no telephone-event. */
    private readonly onInbandDtmf?: (press: DtmfPress) => void,
  ) {
    this.unsubscribe = endpoint.on('rtp', (packet) => this.inputFor()?.push(packet));
    this.unsubscribeEvents = endpoint.on('telephoneEvent', () => this.input?.pause());
  }

  /** The playout counters of the current input (undefined before any audio arrived). */
  get playoutStats(): (Readonly<PlayoutStats> & { codec: string }) | undefined {
    const input = this.input;
    if (!input) return undefined;
    const s = input.stats;
    return {
      ...s,
      late: s.late + this.earlier.late,
      duplicate: s.duplicate + this.earlier.duplicate,
      concealedSamples: s.concealedSamples + this.earlier.concealedSamples,
      codec: input.codec,
    };
  }

  nextFrame(): Int16Array | undefined {
    this.receive();
    return this.decode();
  }

  /**
   * Takes this tick's audio at the codec's rate, its level measured there (cheap: 160 or 320
   * samples); a G.711 tick's payload, for forwarding, is re-encoded from it when asked for.
   */
  receive(): ReceivedFrame {
    const pcm = this.input?.receive();
    this.pcm = pcm;
    this.received.set(pcm, this.input?.codec);
    return this.received;
  }

  decode(): Int16Array | undefined {
    return this.input?.decode();
  }

  nativeRate(): number | undefined {
    return this.input?.nativeRate;
  }

  decodeNative(): Int16Array | undefined {
    return this.pcm;
  }

  codec(): LegCodec | undefined {
    const codec = this.endpoint.codec?.codec;
    return isByteCodec(codec) ? SIP_MIX_CODECS[codec] : undefined;
  }

  sendEncoded(payload: Buffer): void {
    this.endpoint.sendEncoded(payload);
  }

  sendNative(pcm: Int16Array): void {
    this.endpoint.sendNative(pcm);
  }

  send(mix: Int16Array): void {
    this.endpoint.sendFrame(mix);
  }

  sendSilence(): void {
    // A trunk expects a steady stream. At the codec's rate it costs an encode, not a resampling too.
    const codec = this.endpoint.codec?.codec;
    if (isByteCodec(codec)) this.endpoint.sendNative(this.silence.subarray(0, (SIP_CODECS[codec].sampleRate * FRAME_MS) / 1000));
    else this.endpoint.sendFrame(this.silence);
  }

  close(): void {
    this.unsubscribe();
    this.unsubscribeEvents();
    this.input?.close();
  }

  private inputFor(): SipAudioInput | undefined {
    const codec = this.endpoint.codec?.codec;
    if (codec === undefined) return undefined;
    if (this.input?.codec === codec) return this.input;
    if (this.input) {
      const s = this.input.stats;
      this.earlier.late += s.late;
      this.earlier.duplicate += s.duplicate;
      this.earlier.concealedSamples += s.concealedSamples;
      this.input.close();
    }
    this.input = new SipAudioInput({ codec, ...(this.onInbandDtmf && { onInbandDtmf: this.onInbandDtmf }) });
    return this.input;
  }
}
