/**
 * What a WebRTC leg's endpoint tells mediasoup and the peer: producer RTP parameters and consumer
 * capabilities from the peer's offer, and the sections of the SDP answer.
 */
import type { types as ms } from 'mediasoup';
import { AUDIO_LEVEL_EXTENSION } from '../audio/rtp.js';
import type { LocalSection } from './localSdp.js';
import { MID_EXTENSION, midOf, type MediaOffer, type ReadOffer } from './offer.js';

export const OPUS = { mimeType: 'audio/opus', clockRate: 48000, channels: 2 } as const;
export const VP8 = { mimeType: 'video/VP8', clockRate: 90000 } as const;
export const VIDEO_FEEDBACK: ms.RtcpFeedback[] = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];
/** The same feedback as SDP `a=rtcp-fb` values. */
export const VIDEO_FEEDBACK_LINES = VIDEO_FEEDBACK.map((f) => (f.parameter ? `${f.type} ${f.parameter}` : f.type));

/**
 * The `sdes:mid` extension id to negotiate for a section the peer sends in: none when the peer
 * signals its SSRC. mediasoup forwards a producer's header extensions as they arrived, so a
 * forwarded packet would carry the sender's mid under the id the receiver (another browser, same
 * ids) also uses for mid; the receiver would then route it to the wrong section, or drop it. Not
 * negotiating mid makes every peer route by SSRC, which the gateway always signals.
 */
function midExtensionOf(offered: MediaOffer): number | undefined {
  return offered.ssrc === undefined ? offered.midExtensionId : undefined;
}

/**
 * The id the peer's offer gives the RFC 6464 audio level extension in its audio section, if it
 * offers it (browsers do). Accepted in the answer and declared on the producer, it reaches the
 * DirectTransport consumer (whose router capabilities include it), so the bridge learns each
 * packet's level without decoding it.
 */
export function audioLevelExtensionOf(offer: ReadOffer): number | undefined {
  const id = offer.session.media[offer.audio.index]?.ext?.find((e) => e.uri === AUDIO_LEVEL_EXTENSION)?.value;
  return id !== undefined && Number.isInteger(id) && id >= 1 && id <= 255 ? id : undefined;
}

/** The id a consumer's RTP carries the audio level under (the router's, not the peer's), when it carries it. */
export function consumerAudioLevelId(parameters: ms.RtpParameters): number | undefined {
  return parameters.headerExtensions?.find((e) => e.uri === AUDIO_LEVEL_EXTENSION)?.id;
}

/** The producer's RTP parameters from the offered section: its payload type, mid and SSRC, and the audio level extension when given its id. */
export function producerParameters(
  offered: MediaOffer,
  codec: { mimeType: string; clockRate: number; channels?: number; parameters?: ms.RtpCodecParameters['parameters'] },
  rtcpFeedback: ms.RtcpFeedback[],
  audioLevelId?: number,
): ms.RtpParameters {
  const midId = midExtensionOf(offered);
  const headerExtensions: ms.RtpHeaderExtensionParameters[] = midId === undefined ? [] : [{ uri: MID_EXTENSION, id: midId }];
  if (audioLevelId !== undefined) headerExtensions.push({ uri: AUDIO_LEVEL_EXTENSION, id: audioLevelId });
  return {
    mid: offered.mid,
    codecs: [{ ...codec, payloadType: offered.payloadType, rtcpFeedback }],
    headerExtensions,
    encodings: [offered.ssrc === undefined ? {} : { ssrc: offered.ssrc }],
    rtcp: { reducedSize: true },
  };
}

/** What a consumer of this router may send to the peer: the router's codec of that kind, no RTX, no header extensions. */
export function capabilitiesFor(router: ms.Router, kind: 'audio' | 'video'): ms.RtpCapabilities {
  const codecs = (router.rtpCapabilities.codecs ?? []).filter((c) => c.kind === kind && !c.mimeType.toLowerCase().endsWith('/rtx'));
  return { codecs: codecs.map((c) => (kind === 'video' ? { ...c, rtcpFeedback: VIDEO_FEEDBACK } : c)), headerExtensions: [] };
}

/** The answer's sections: audio accepted (with the audio level extension when offered), the peer's video received (never sent back in it), the rest rejected. */
export function answerSections(offer: ReadOffer, mixSend: Extract<LocalSection, { rejected: false }>['send']): LocalSection[] {
  const { audio, video, session } = offer;
  // Accepted only where the peer sends: the extension describes the peer's own packets.
  const levelId = audio.peerSends ? audioLevelExtensionOf(offer) : undefined;
  return session.media.map((m, i): LocalSection => {
    if (i === audio.index) {
      const direction = audio.peerSends && audio.peerReceives ? 'sendrecv' : audio.peerSends ? 'recvonly' : 'sendonly';
      return {
        rejected: false,
        type: 'audio',
        protocol: m.protocol,
        mid: audio.mid,
        direction,
        codec: { payloadType: audio.payloadType, name: 'opus', rate: 48000, channels: 2, fmtp: 'minptime=10;useinbandfec=1', feedback: [] },
        midExtensionId: midExtensionOf(audio),
        ...(levelId !== undefined && { audioLevelExtensionId: levelId }),
        send: mixSend,
      };
    }
    if (video && i === video.index) {
      return {
        rejected: false,
        type: 'video',
        protocol: m.protocol,
        mid: video.mid,
        direction: video.peerSends ? 'recvonly' : 'inactive',
        codec: { payloadType: video.payloadType, name: 'VP8', rate: 90000, feedback: VIDEO_FEEDBACK_LINES },
        midExtensionId: midExtensionOf(video),
        send: undefined,
      };
    }
    return { rejected: true, type: m.type, protocol: m.protocol, payloads: m.payloads ?? '0', mid: midOf(m) };
  });
}
