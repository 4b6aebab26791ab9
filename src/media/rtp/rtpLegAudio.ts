import type { LegAudio } from '../bridge/legAudio.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import type { DtmfPress } from './dtmf.js';
import { G711Input } from './g711Input.js';
import type { G711Codec } from './g711.js';
import type { RtpEndpoint } from './rtpEndpoint.js';

/**
 * A SIP leg's audio as the bridge sees it: G.711 RTP in (jitter buffer, decode, 8→48 kHz,
 * concealment) and the mix out (48→8 kHz, encode, packetize), on the leg's own RTP endpoint.
 */
export class RtpLegAudio implements LegAudio {
  private readonly input: G711Input;
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly unsubscribe: () => void;

  constructor(
    private readonly endpoint: RtpEndpoint,
    codec: G711Codec,
    /** In-band DTMF detection, for calls that negotiated no telephone-event. */
    onInbandDtmf?: (press: DtmfPress) => void,
  ) {
    this.input = new G711Input({ codec, ...(onInbandDtmf && { onInbandDtmf }) });
    this.unsubscribe = endpoint.on('rtp', (packet) => {
      this.input.push({ sequenceNumber: packet.sequenceNumber, timestamp: packet.timestamp, payload: packet.payload });
    });
  }

  nextFrame(): Int16Array | undefined {
    return this.input.nextFrame();
  }

  send(mix: Int16Array): void {
    this.endpoint.sendFrame(mix);
  }

  sendSilence(): void {
    // G.711 silence costs as much as anything else to encode, and a trunk expects a steady stream.
    this.endpoint.sendFrame(this.silence);
  }

  close(): void {
    this.unsubscribe();
    this.input.close();
  }
}
