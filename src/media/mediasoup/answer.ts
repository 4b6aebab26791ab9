import * as sdpTransform from 'sdp-transform';
import type { AudioOffer, ParsedOffer } from './offer.js';
import { MID_EXTENSION } from './offer.js';

/** What the gateway's side of the connection looks like, for the answer. */
export interface LocalTransport {
  iceUfrag: string;
  icePwd: string;
  fingerprint: { algorithm: string; value: string };
  candidates: { foundation: string; priority: number; ip: string; port: number; protocol: 'udp' | 'tcp'; type: string }[];
  /** SSRC of what the gateway sends on the audio section (the leg's mix), when it sends. */
  sendSsrc: number | undefined;
  cname: string;
}

/**
 * Writes the SDP answer: the audio section accepted with Opus at the peer's payload type, in the
 * peer's BUNDLE, ICE-lite with the transport's candidates; every other section rejected (port 0).
 */
export function writeAnswer(offer: ParsedOffer, audio: AudioOffer, local: LocalTransport): string {
  const sendrecv = audio.peerSends && audio.peerReceives;
  const direction = sendrecv ? 'sendrecv' : audio.peerSends ? 'recvonly' : 'sendonly';
  const media = offer.media.map((m, i) => {
    if (i !== audio.index) {
      // Rejected section: same type, port 0, its mid kept so the peer can match it.
      return {
        type: m.type,
        port: 0,
        protocol: m.protocol,
        payloads: m.payloads ?? '0',
        rtp: [],
        fmtp: [],
        ...(m.mid !== undefined && { mid: m.mid }),
        direction: 'inactive' as const,
      };
    }
    return {
      type: 'audio',
      port: 7,
      protocol: m.protocol,
      payloads: String(audio.payloadType),
      connection: { version: 4, ip: '127.0.0.1' },
      rtp: [{ payload: audio.payloadType, codec: 'opus', rate: 48000, encoding: 2 }],
      fmtp: [{ payload: audio.payloadType, config: 'minptime=10;useinbandfec=1' }],
      ...(audio.midExtensionId !== undefined && { ext: [{ value: audio.midExtensionId, uri: MID_EXTENSION }] }),
      mid: audio.mid,
      rtcpMux: 'rtcp-mux',
      direction,
      iceUfrag: local.iceUfrag,
      icePwd: local.icePwd,
      fingerprint: { type: local.fingerprint.algorithm, hash: local.fingerprint.value },
      setup: audio.peerDtlsRole === 'client' ? 'passive' : 'active',
      candidates: local.candidates.map((c) => ({
        foundation: c.foundation,
        component: 1,
        transport: c.protocol,
        priority: c.priority,
        ip: c.ip,
        port: c.port,
        type: c.type,
        ...(c.protocol === 'tcp' && { tcptype: 'passive' }),
      })),
      endOfCandidates: 'end-of-candidates',
      ...(local.sendSsrc !== undefined && {
        ssrcs: [
          { id: local.sendSsrc, attribute: 'cname', value: local.cname },
          { id: local.sendSsrc, attribute: 'msid', value: `${local.cname} audio` },
        ],
        msid: [{ id: local.cname, appdata: 'audio' }],
      }),
    };
  });
  return sdpTransform.write({
    version: 0,
    origin: { username: 'legway', sessionId: Date.now(), sessionVersion: 1, netType: 'IN', ipVer: 4, address: '127.0.0.1' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    groups: [{ type: 'BUNDLE', mids: audio.mid }],
    msidSemantic: { semantic: 'WMS', token: '*' },
    media: media as sdpTransform.MediaDescription[],
  });
}
