import * as sdpTransform from 'sdp-transform';
import { AUDIO_LEVEL_EXTENSION } from '../audio/rtp.js';
import { MID_EXTENSION } from './offer.js';

/** The codec a section carries: one per section (Opus for audio, VP8 for video), no RTX. */
export interface SectionCodec {
  payloadType: number;
  name: 'opus' | 'VP8';
  rate: number;
  channels?: number;
  fmtp?: string;
  /** RTCP feedback lines, e.g. `nack`, `nack pli`, `ccm fir`. */
  feedback: string[];
}

/** One m-section of the gateway's side of the session, in the order the session has them. */
export type LocalSection =
  | { rejected: true; type: string; protocol: string; payloads: string; mid: string | undefined }
  | {
      rejected: false;
      type: 'audio' | 'video';
      protocol: string;
      mid: string;
      /** From the gateway's point of view. */
      direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
      codec: SectionCodec;
      midExtensionId: number | undefined;
      /** The RFC 6464 audio level extension's id, when the peer offered it (audio sections only). */
      audioLevelExtensionId?: number;
      /** What the gateway sends in this section, when it sends. */
      send: { ssrc: number; cname: string; streamId: string; trackId: string } | undefined;
    };

/** The gateway's transport as it appears in every bundled section. */
export interface LocalTransport {
  iceUfrag: string;
  icePwd: string;
  fingerprint: { algorithm: string; value: string };
  candidates: { foundation: string; priority: number; ip: string; port: number; protocol: 'udp' | 'tcp'; type: string }[];
  /** `a=setup`: our DTLS role once chosen (the same in every later offer, so DTLS is not restarted). */
  setup: 'active' | 'passive';
}

/** Writes the gateway's SDP (the answer to the peer's offer, or a later offer of its own): ICE-lite, one BUNDLE. */
export function writeLocalSdp(sections: LocalSection[], transport: LocalTransport, session: { id: number; version: number }): string {
  const media = sections.map((s) => (s.rejected ? rejectedMedia(s) : acceptedMedia(s, transport)));
  const bundled = sections.flatMap((s) => (s.rejected ? [] : [s.mid]));
  return sdpTransform.write({
    version: 0,
    origin: { username: 'legway', sessionId: session.id, sessionVersion: session.version, netType: 'IN', ipVer: 4, address: '127.0.0.1' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    groups: [{ type: 'BUNDLE', mids: bundled.join(' ') }],
    msidSemantic: { semantic: 'WMS', token: '*' },
    media: media as unknown as sdpTransform.MediaDescription[],
  });
}

/** A rejected section: same type, port 0, its mid kept so that the peer can match it. */
function rejectedMedia(s: Extract<LocalSection, { rejected: true }>): Record<string, unknown> {
  return {
    type: s.type,
    port: 0,
    protocol: s.protocol,
    payloads: s.payloads,
    rtp: [],
    fmtp: [],
    ...(s.mid !== undefined && { mid: s.mid }),
    direction: 'inactive',
  };
}

function acceptedMedia(s: Extract<LocalSection, { rejected: false }>, t: LocalTransport): Record<string, unknown> {
  const { codec } = s;
  const extensions: { value: number; uri: string }[] = [];
  if (s.midExtensionId !== undefined) extensions.push({ value: s.midExtensionId, uri: MID_EXTENSION });
  if (s.audioLevelExtensionId !== undefined) extensions.push({ value: s.audioLevelExtensionId, uri: AUDIO_LEVEL_EXTENSION });
  return {
    type: s.type,
    port: 7,
    protocol: s.protocol,
    payloads: String(codec.payloadType),
    connection: { version: 4, ip: '127.0.0.1' },
    rtp: [{ payload: codec.payloadType, codec: codec.name, rate: codec.rate, ...(codec.channels !== undefined && { encoding: codec.channels }) }],
    fmtp: codec.fmtp === undefined ? [] : [{ payload: codec.payloadType, config: codec.fmtp }],
    rtcpFb: codec.feedback.map((line) => {
      const [type, subtype] = line.split(' ');
      return { payload: codec.payloadType, type, ...(subtype !== undefined && { subtype }) };
    }),
    ...(extensions.length > 0 && { ext: extensions }),
    mid: s.mid,
    rtcpMux: 'rtcp-mux',
    rtcpRsize: 'rtcp-rsize',
    direction: s.direction,
    iceUfrag: t.iceUfrag,
    icePwd: t.icePwd,
    fingerprint: { type: t.fingerprint.algorithm, hash: t.fingerprint.value },
    setup: t.setup,
    candidates: t.candidates.map((c) => ({
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
    ...(s.send && {
      ssrcs: [
        { id: s.send.ssrc, attribute: 'cname', value: s.send.cname },
        { id: s.send.ssrc, attribute: 'msid', value: `${s.send.streamId} ${s.send.trackId}` },
      ],
      msid: [{ id: s.send.streamId, appdata: s.send.trackId }],
    }),
  };
}
