import * as sdpTransform from 'sdp-transform';
import { fail } from '../../domain/errors.js';

/** What the gateway takes from one offered media section (audio Opus or video VP8). */
export interface MediaOffer {
  /** Index of the m-section in the offer. */
  index: number;
  mid: string;
  payloadType: number;
  fmtp: sdpTransform.ParamMap;
  /** RTP header extension id of `sdes:mid`, when offered (mediasoup routes on it without SSRC). */
  midExtensionId: number | undefined;
  /** The peer's media SSRC (the first of an FID group: the other one is RTX, which is not negotiated). */
  ssrc: number | undefined;
  /** Whether the peer will send (`sendrecv`/`sendonly`) and receive (`sendrecv`/`recvonly`). */
  peerSends: boolean;
  peerReceives: boolean;
}

/** The transport-level parts of an offer, shared by every bundled section. */
export interface TransportOffer {
  remoteFingerprint: { algorithm: string; value: string };
  /** DTLS role the peer takes, from `a=setup` (actpass lets us choose; we answer passive). */
  peerDtlsRole: 'client' | 'server';
  ufrag: string;
  pwd: string;
}

export interface ReadOffer {
  session: sdpTransform.SessionDescription;
  transport: TransportOffer;
  audio: MediaOffer;
  /** The first video section with VP8, when the peer offers one. */
  video: MediaOffer | undefined;
  /** Every payload type the offer uses in any section: a number the gateway picks must avoid them. */
  usedPayloadTypes: Set<number>;
}

export const MID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const MAX_SDP_BYTES = 64 * 1024;
const SECURE_PROFILE = /UDP\/TLS\/RTP\/SAVPF/;

type Media = sdpTransform.MediaDescription;

/** Parses an SDP (offer or answer) within the size limit; a `BadRequest` for anything else. */
export function parseSdp(sdp: string, what: string): sdpTransform.SessionDescription {
  if (sdp.length === 0 || Buffer.byteLength(sdp) > MAX_SDP_BYTES) throw fail('BadRequest', `${what} SDP is empty or larger than 64 KiB`);
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch {
    throw fail('BadRequest', `${what} SDP cannot be parsed`);
  }
  if (!Array.isArray(session.media) || session.media.length === 0) throw fail('BadRequest', `${what} has no media section`);
  return session;
}

/** A section's mid as a string: sdp-transform turns a numeric mid (`a=mid:0`) into a number, whatever its types say. */
export function midOf(m: Media): string | undefined {
  const mid: unknown = m.mid;
  return typeof mid === 'string' || typeof mid === 'number' ? String(mid) : undefined;
}

/** The direction of a section, from its own attribute or the session's. */
export function directionOf(m: Media, session: sdpTransform.SessionDescription): string {
  return m.direction ?? session.direction ?? 'sendrecv';
}

function readMedia(session: sdpTransform.SessionDescription, m: Media, index: number, payloadType: number): MediaOffer {
  const mid = midOf(m);
  if (mid === undefined) throw fail('BadRequest', `${m.type} section has no a=mid`);
  const direction = directionOf(m, session);
  const fmtpLine = m.fmtp.find((f) => f.payload === payloadType)?.config;
  const fid = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(' ')[0];
  const ssrc = Number(fid ?? m.ssrcs?.[0]?.id);
  return {
    index,
    mid,
    payloadType,
    fmtp: fmtpLine ? sdpTransform.parseParams(fmtpLine) : {},
    midExtensionId: m.ext?.find((e) => e.uri === MID_EXTENSION)?.value,
    ssrc: Number.isInteger(ssrc) && ssrc > 0 ? ssrc : undefined,
    peerSends: direction === 'sendrecv' || direction === 'sendonly',
    peerReceives: direction === 'sendrecv' || direction === 'recvonly',
  };
}

/** Parses and checks a WebRTC offer; anything the gateway cannot answer is a `BadRequest` with the reason. */
export function readOffer(sdp: string): ReadOffer {
  const session = parseSdp(sdp, 'offer');
  const media = session.media;
  const audioIndex = media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  const a = media[audioIndex];
  if (!a) throw fail('BadRequest', 'offer has no audio');
  if (!SECURE_PROFILE.test(a.protocol)) throw fail('BadRequest', `audio protocol ${a.protocol} is not UDP/TLS/RTP/SAVPF`);
  const opus = a.rtp.find((r) => String(r.codec as unknown).toLowerCase() === 'opus' && r.rate === 48000);
  if (!opus) throw fail('BadRequest', 'offer has no Opus/48000 audio codec');
  const audio = readMedia(session, a, audioIndex, opus.payload);

  // Video is optional: a section without VP8 is simply rejected in the answer.
  let video: MediaOffer | undefined;
  const videoIndex = media.findIndex((m) => m.type === 'video' && m.port !== 0 && SECURE_PROFILE.test(m.protocol) && vp8Of(m) !== undefined);
  const v = media[videoIndex];
  const vp8 = v && vp8Of(v);
  if (v && vp8 !== undefined) video = readMedia(session, v, videoIndex, vp8);

  const fingerprint = a.fingerprint ?? session.fingerprint;
  if (!fingerprint) throw fail('BadRequest', 'offer has no DTLS fingerprint');
  const ufrag = a.iceUfrag ?? session.iceUfrag;
  const pwd = a.icePwd ?? session.icePwd;
  if (ufrag === undefined || pwd === undefined) throw fail('BadRequest', 'offer has no ICE credentials');
  const setup = a.setup ?? session.setup ?? 'actpass';

  const usedPayloadTypes = new Set<number>();
  for (const m of media) for (const r of m.rtp) usedPayloadTypes.add(r.payload);
  return {
    session,
    transport: {
      remoteFingerprint: { algorithm: fingerprint.type.toLowerCase(), value: fingerprint.hash.toUpperCase() },
      peerDtlsRole: setup === 'passive' ? 'server' : 'client',
      ufrag,
      pwd,
    },
    audio,
    video,
    usedPayloadTypes,
  };
}

function vp8Of(m: Media): number | undefined {
  return m.rtp.find((r) => r.codec.toUpperCase() === 'VP8' && r.rate === 90000)?.payload;
}

/** A dynamic payload type the offer does not use (96–127, then 35–63), for a codec the peer did not offer. */
export function freePayloadType(used: Set<number>): number | undefined {
  for (let pt = 96; pt <= 127; pt++) if (!used.has(pt)) return pt;
  for (let pt = 35; pt <= 63; pt++) if (!used.has(pt)) return pt;
  return undefined;
}
