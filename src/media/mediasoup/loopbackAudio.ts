import type { types as ms } from 'mediasoup';
import type { LevelledAudioPacket } from '../audio/audioLevel.js';
import { parseRtp } from '../audio/rtp.js';
import { LoopbackProxy } from '../threads/loopbackProxy.js';
import type { LoopbackRtp } from './loopbackRtp.js';
import { consumerAudioLevelId } from './rtpParameters.js';

/**
 * Starts a WebRTC leg's audio on its loopback: the peer's audio as `inbound` forwards it (its RTP
 * only: its SSRC and payload type, with the sender's level when the stream carries RFC 6464's
 * extension), and the mix on `mix`. In this process the packets are emitted to `emit`; on a media
 * thread, the thread is told what to accept and what to send, and the packets stay there.
 */
export function attachAudio(
  loopback: LoopbackRtp | LoopbackProxy,
  inbound: ms.Consumer | undefined,
  mix: { payloadType: number; ssrc: number } | undefined,
  emit: (packet: LevelledAudioPacket) => void,
): void {
  const payloadType = inbound?.rtpParameters.codecs[0]?.payloadType;
  const ssrc = inbound?.rtpParameters.encodings?.[0]?.ssrc;
  const levelId = inbound && consumerAudioLevelId(inbound.rtpParameters);
  if (loopback instanceof LoopbackProxy) {
    loopback.connectAudio({ ...(inbound && { inbound: { payloadType, ssrc, levelId } }), ...(mix && { mix }) });
    return;
  }
  if (!inbound) return;
  loopback.onPacket((packet) => {
    const rtp = parseRtp(packet, levelId);
    if (!rtp || rtp.payloadType !== payloadType || rtp.ssrc !== ssrc) return;
    emit({ sequenceNumber: rtp.sequenceNumber, timestamp: rtp.timestamp, payload: rtp.payload, audioLevel: rtp.audioLevel });
  });
}
