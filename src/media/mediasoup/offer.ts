import * as sdpTransform from 'sdp-transform';
import { fail } from '../../domain/errors.js';

/** The parts of a browser's offer that the gateway needs to receive its audio and answer it. */
export interface AudioOffer {
  /** Index of the audio m-section in the offer. */
  index: number;
  mid: string;
  payloadType: number;
  fmtp: sdpTransform.ParamMap;
  /** RTP header extension id of `sdes:mid`, when offered (mediasoup routes on it without SSRC). */
  midExtensionId: number | undefined;
  ssrc: number | undefined;
  /** Whether the peer will send (`sendrecv`/`sendonly`) and receive (`sendrecv`/`recvonly`). */
  peerSends: boolean;
  peerReceives: boolean;
  remoteFingerprint: { algorithm: string; value: string };
  /** DTLS role the peer takes, from `a=setup` (actpass lets us choose; we answer passive). */
  peerDtlsRole: 'client' | 'server';
  ufrag: string;
  pwd: string;
}

export type ParsedOffer = sdpTransform.SessionDescription;

const MID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const MAX_SDP_BYTES = 64 * 1024;

/** Parses and checks a WebRTC offer; anything the gateway cannot answer is a `BadRequest` with the reason. */
export function readOffer(sdp: string): { session: ParsedOffer; audio: AudioOffer } {
  if (sdp.length === 0 || Buffer.byteLength(sdp) > MAX_SDP_BYTES) throw fail('BadRequest', 'offer SDP is empty or larger than 64 KiB');
  let session: ParsedOffer;
  try {
    session = sdpTransform.parse(sdp);
  } catch {
    throw fail('BadRequest', 'offer SDP cannot be parsed');
  }
  const media = session.media;
  if (!Array.isArray(media) || media.length === 0) throw fail('BadRequest', 'offer has no media section');
  const index = media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  const m = media[index];
  if (!m) throw fail('BadRequest', 'offer has no audio');
  if (!/UDP\/TLS\/RTP\/SAVPF/.test(m.protocol)) throw fail('BadRequest', `audio protocol ${m.protocol} is not UDP/TLS/RTP/SAVPF`);
  const opus = m.rtp.find((r) => r.codec.toLowerCase() === 'opus' && r.rate === 48000);
  if (!opus) throw fail('BadRequest', 'offer has no Opus/48000 audio codec');
  const mid = m.mid === undefined ? undefined : m.mid;
  if (mid === undefined) throw fail('BadRequest', 'audio section has no a=mid');
  const fingerprint = m.fingerprint ?? session.fingerprint;
  if (!fingerprint) throw fail('BadRequest', 'offer has no DTLS fingerprint');
  const ufrag = m.iceUfrag ?? session.iceUfrag;
  const pwd = m.icePwd ?? session.icePwd;
  if (ufrag === undefined || pwd === undefined) throw fail('BadRequest', 'offer has no ICE credentials');
  const setup = m.setup ?? session.setup ?? 'actpass';
  const direction = m.direction ?? session.direction ?? 'sendrecv';
  const fmtpLine = m.fmtp.find((f) => f.payload === opus.payload)?.config;
  const ssrcLine = m.ssrcs?.find((s) => s.attribute === 'cname') ?? m.ssrcs?.[0];
  return {
    session,
    audio: {
      index,
      mid,
      payloadType: opus.payload,
      fmtp: fmtpLine ? sdpTransform.parseParams(fmtpLine) : {},
      midExtensionId: m.ext?.find((e) => e.uri === MID_EXTENSION)?.value,
      ssrc: ssrcLine?.id,
      peerSends: direction === 'sendrecv' || direction === 'sendonly',
      peerReceives: direction === 'sendrecv' || direction === 'recvonly',
      remoteFingerprint: { algorithm: fingerprint.type.toLowerCase(), value: fingerprint.hash.toUpperCase() },
      peerDtlsRole: setup === 'passive' ? 'server' : 'client',
      ufrag,
      pwd,
    },
  };
}

export { MID_EXTENSION };
