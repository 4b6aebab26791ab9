import type { LegAudio } from '../bridge/legAudio.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import type { DtmfPress } from './dtmf.js';
import type { RtpEndpoint } from './rtpEndpoint.js';
import { SipAudioInput } from './sipAudioInput.js';
import type { PlayoutStats } from './playoutBuffer.js';

/**
 * A SIP leg's audio as the bridge sees it: RTP in (playout by timestamp, decode, to 48 kHz,
 * concealment) and the mix out (encoded and packetised by the endpoint), in whatever codec the
 * endpoint has negotiated. A re-INVITE that changes the codec gets a fresh input at its next packet.
 */
export class RtpLegAudio implements LegAudio {
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
    return this.input?.nextFrame();
  }

  send(mix: Int16Array): void {
    this.endpoint.sendFrame(mix);
  }

  sendSilence(): void {
    // Silence costs as much as anything else to encode, and a trunk expects a steady stream.
    this.endpoint.sendFrame(this.silence);
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
