import * as sdpTransform from 'sdp-transform';
import { fail } from '../../domain/errors.js';
import { codecByRtpmap, sendPtime, SIP_CODECS, staticCodec, type SipCodecName } from '../../media/codecs/sipCodecs.js';
import type { MediaDirection, RtpCodecConfig } from '../../media/rtp/rtpEndpoint.js';

/**
 * SDP offer/answer for SIP legs (RFC 3264): one audio stream of Opus (RFC 7587), G.722, PCMU or
 * PCMA, with RFC 4733 telephone-event at the chosen codec's clock rate, plain RTP/AVP. The codec is
 * picked by the gateway's preference order (`LEGWAY_SIP_CODECS`) among those offered; as offerer,
 * the answer's choice stands. Our packet time follows the far end's `a=ptime`/`a=maxptime`. Hold
 * is a direction (RFC 6337), or the old `c=0.0.0.0` form, and is answered as RFC 3264 says:
 * sendonly with recvonly, inactive with inactive.
 */

const MAX_SDP_BYTES = 16 * 1024;
/** The dynamic payload types the gateway offers telephone-event with, by clock rate. */
const OFFERED_TELEPHONE_EVENT: ReadonlyMap<number, number> = new Map([
  [8000, 101],
  [48_000, 110],
]);
/** Largest packet time anyone may ask of us (RFC 7587 and G.711 both stop at 120 ms). */
const MAX_PTIME_MS = 120;

/** What the far end's SDP says about its audio. */
export interface RemoteAudio {
  /** Where to send RTP (before its source is learned). */
  address: string;
  port: number;
  /** Its RTCP port when `a=rtcp` names one (RFC 3605); port+1 otherwise. */
  rtcpPort: number | undefined;
  /** Its direction, from its side. */
  direction: MediaDirection;
  /** Codecs we carry that it takes, in its order of preference, with their payload types. */
  codecs: { codec: SipCodecName; payloadType: number }[];
  /** telephone-event payload types by clock rate. */
  telephoneEvents: ReadonlyMap<number, number>;
  /** `a=ptime` and `a=maxptime`: what it wishes to receive. */
  ptime: number | undefined;
  maxptime: number | undefined;
  /** The old way of holding: `c=IN IP4 0.0.0.0`. */
  nullAddress: boolean;
}

/** The gateway's side of the session. */
export interface LocalAudio {
  address: string;
  port: number;
  sessionId: number;
  version: number;
}

function packetTime(value: unknown): number | undefined {
  const ms = Number(value);
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_PTIME_MS ? ms : undefined;
}

/** Parses the far end's SDP (offer or answer); anything unusable is a `BadRequest` (SIP 488). */
export function readRemoteAudio(sdp: string): RemoteAudio {
  if (sdp.length === 0 || Buffer.byteLength(sdp) > MAX_SDP_BYTES) throw fail('BadRequest', 'SDP is empty or too large');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch {
    throw fail('BadRequest', 'SDP cannot be parsed');
  }
  const m = session.media.find((media) => media.type === 'audio' && media.port !== 0 && /^RTP\/AVP$/i.test(media.protocol));
  if (!m) throw fail('BadRequest', 'no RTP/AVP audio stream offered');
  const address = m.connection?.ip ?? session.connection?.ip;
  if (address === undefined) throw fail('BadRequest', 'no connection address');
  // sdp-transform turns a lone numeric payload list ("0") into a number, whatever its types say.
  const payloadList: unknown = m.payloads;
  const payloads = (typeof payloadList === 'string' || typeof payloadList === 'number' ? String(payloadList) : '')
    .split(' ')
    .map(Number)
    .filter((pt) => Number.isInteger(pt) && pt >= 0 && pt <= 127);
  const codecs: RemoteAudio['codecs'] = [];
  const telephoneEvents = new Map<number, number>();
  for (const pt of payloads) {
    const rtp = m.rtp.find((r) => r.payload === pt);
    if (rtp === undefined) {
      const known = staticCodec(pt);
      if (known) codecs.push({ codec: known.name, payloadType: pt });
      continue;
    }
    const channels = rtp.encoding;
    // sdp-transform turns a numeric encoding name ("a=rtpmap:96 1/8000") into a number too.
    const codec: unknown = rtp.codec;
    const name = String(codec);
    if (name.toLowerCase() === 'telephone-event') {
      if (!telephoneEvents.has(rtp.rate ?? 0)) telephoneEvents.set(rtp.rate ?? 0, pt);
      continue;
    }
    const known = codecByRtpmap(name, rtp.rate ?? 0, channels);
    if (known) codecs.push({ codec: known.name, payloadType: pt });
  }
  const direction: MediaDirection = m.direction ?? session.direction ?? 'sendrecv';
  return {
    address,
    port: m.port,
    rtcpPort: m.rtcp !== undefined && Number.isInteger(m.rtcp.port) && m.rtcp.port > 0 && m.rtcp.port <= 65535 ? m.rtcp.port : undefined,
    direction,
    codecs,
    telephoneEvents,
    ptime: packetTime(m.ptime),
    maxptime: packetTime(m.maxptime),
    nullAddress: address === '0.0.0.0',
  };
}

/** Where the far end's media goes, for `RtpEndpoint.setRemote`. */
export function remoteMedia(remote: RemoteAudio): { address: string; port: number; rtcpPort: number | undefined } {
  return { address: remote.address, port: remote.port, rtcpPort: remote.rtcpPort };
}

/** Whether the far end's SDP puts the call on hold (it will not receive our audio). */
export function isHold(remote: RemoteAudio): boolean {
  return remote.nullAddress || remote.direction === 'sendonly' || remote.direction === 'inactive';
}

/** Our direction in an answer to `theirs` (RFC 3264 6.1). */
export function answerDirection(theirs: MediaDirection): MediaDirection {
  if (theirs === 'sendonly') return 'recvonly';
  if (theirs === 'recvonly') return 'sendonly';
  return theirs;
}

/**
 * Settles the codec with the far end's SDP: answering its offer, the first of `preference` it
 * offers; reading the answer to our offer (`asOfferer`), the first codec of the answer we offered.
 * `BadRequest` (488) when there is none in common.
 */
export function negotiate(remote: RemoteAudio, preference: readonly SipCodecName[], asOfferer = false): RtpCodecConfig {
  const chosen = asOfferer
    ? remote.codecs.find((c) => preference.includes(c.codec))
    : preference.map((name) => remote.codecs.find((c) => c.codec === name)).find((c) => c !== undefined);
  if (!chosen) throw fail('BadRequest', `no common codec (${preference.join(', ')}) offered`);
  const info = SIP_CODECS[chosen.codec];
  const telephoneEventPt = remote.telephoneEvents.get(info.clockRate);
  return {
    payloadType: chosen.payloadType,
    codec: chosen.codec,
    ptime: sendPtime(info, remote.ptime, remote.maxptime),
    ...(telephoneEventPt !== undefined && { telephoneEventPt }),
  };
}

/** Writes our answer: the chosen codec (and telephone-event), in the direction RFC 3264 asks. */
export function writeAnswer(local: LocalAudio, config: RtpCodecConfig, direction: MediaDirection): string {
  const telephoneEvents = config.telephoneEventPt === undefined ? [] : [{ pt: config.telephoneEventPt, rate: SIP_CODECS[config.codec].clockRate }];
  return write(local, [{ pt: config.payloadType, codec: config.codec }], telephoneEvents, direction);
}

/** Writes our offer (outbound calls, INVITEs without SDP): `codecs` in preference order, with telephone-event at each of their clock rates. */
export function writeOffer(local: LocalAudio, codecs: readonly SipCodecName[], direction: MediaDirection = 'sendrecv'): string {
  const rates = new Set(codecs.map((c) => SIP_CODECS[c].clockRate));
  const telephoneEvents = [...OFFERED_TELEPHONE_EVENT].filter(([rate]) => rates.has(rate)).map(([rate, pt]) => ({ pt, rate }));
  return write(
    local,
    codecs.map((codec) => ({ pt: SIP_CODECS[codec].offeredPayloadType, codec })),
    telephoneEvents,
    direction,
  );
}

/** The codec settings we assume for our own offer until the answer settles them (INVITE without SDP). */
export function offeredConfig(codecs: readonly SipCodecName[]): RtpCodecConfig {
  const first = codecs[0] ?? 'PCMU';
  const info = SIP_CODECS[first];
  const telephoneEventPt = OFFERED_TELEPHONE_EVENT.get(info.clockRate);
  return { payloadType: info.offeredPayloadType, codec: first, ptime: 20, ...(telephoneEventPt !== undefined && { telephoneEventPt }) };
}

/**
 * Our SDP, written line by line: what sdp-transform's writer makes of the same description
 * (test/unit/sip/audioSdp.test.ts compares the two), without its generic grammar walk per call.
 */
function write(
  local: LocalAudio,
  codecs: { pt: number; codec: SipCodecName }[],
  telephoneEvents: { pt: number; rate: number }[],
  direction: MediaDirection,
): string {
  const ip = `IN IP${local.address.includes(':') ? 6 : 4} ${local.address}`;
  const payloads: number[] = [];
  let rtpmap = '';
  let fmtp = '';
  for (const { pt, codec } of codecs) {
    const info = SIP_CODECS[codec];
    payloads.push(pt);
    rtpmap += `a=rtpmap:${pt} ${info.encodingName}/${info.clockRate}${info.channels === undefined ? '' : `/${info.channels}`}\r\n`;
    if (info.fmtp !== undefined) fmtp += `a=fmtp:${pt} ${info.fmtp}\r\n`;
  }
  for (const { pt, rate } of telephoneEvents) {
    payloads.push(pt);
    rtpmap += `a=rtpmap:${pt} telephone-event/${rate}\r\n`;
    fmtp += `a=fmtp:${pt} 0-16\r\n`;
  }
  return (
    `v=0\r\no=legway ${local.sessionId} ${local.version} ${ip}\r\ns=legway\r\nc=${ip}\r\nt=0 0\r\n` +
    `m=audio ${local.port} RTP/AVP ${payloads.join(' ')}\r\n${rtpmap}${fmtp}a=ptime:20\r\na=maxptime:${MAX_PTIME_MS}\r\na=${direction}\r\n`
  );
}
