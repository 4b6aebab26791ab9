import * as sdpTransform from 'sdp-transform';
import { fail } from '../../domain/errors.js';
import type { G711Codec } from '../../media/rtp/g711.js';
import type { MediaDirection, RtpCodecConfig } from '../../media/rtp/rtpEndpoint.js';

/**
 * SDP offer/answer for SIP legs (RFC 3264): one audio stream of PCMU or PCMA with RFC 4733
 * telephone-event, plain RTP/AVP, 20 ms packets. Hold is a direction (RFC 6337), or the old
 * `c=0.0.0.0` form, and is answered as RFC 3264 says: sendonly with recvonly, inactive with inactive.
 */

const MAX_SDP_BYTES = 16 * 1024;
/** Static payload types (RFC 3551): offered without an rtpmap, still valid. */
const STATIC: Record<number, G711Codec> = { 0: 'PCMU', 8: 'PCMA' };
/** The dynamic payload type the gateway offers telephone-event with. */
const OFFERED_TELEPHONE_EVENT = 101;

/** What the far end's SDP says about its audio. */
export interface RemoteAudio {
  /** Where to send RTP (before latching). */
  address: string;
  port: number;
  /** Its direction, from its side. */
  direction: MediaDirection;
  /** Codecs it takes, in its order of preference, with their payload types. */
  codecs: { codec: G711Codec; payloadType: number }[];
  telephoneEventPt: number | undefined;
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
  let telephoneEventPt: number | undefined;
  for (const pt of payloads) {
    const rtp = m.rtp.find((r) => r.payload === pt);
    const name = rtp?.codec.toUpperCase();
    if (name === 'TELEPHONE-EVENT' && rtp?.rate === 8000) telephoneEventPt ??= pt;
    else if ((name === 'PCMU' || name === 'PCMA') && (rtp?.rate ?? 8000) === 8000) codecs.push({ codec: name, payloadType: pt });
    else if (!rtp && STATIC[pt]) codecs.push({ codec: STATIC[pt], payloadType: pt });
  }
  const direction: MediaDirection = m.direction ?? session.direction ?? 'sendrecv';
  return { address, port: m.port, direction, codecs, telephoneEventPt, nullAddress: address === '0.0.0.0' };
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

/** Picks the codec for an offer (its first G.711) and telephone-event; `BadRequest` (488) when there is none. */
export function negotiate(remote: RemoteAudio): RtpCodecConfig {
  const first = remote.codecs[0];
  if (!first) throw fail('BadRequest', 'no common codec (PCMU or PCMA) offered');
  return { payloadType: first.payloadType, codec: first.codec, ptime: 20, ...(remote.telephoneEventPt !== undefined && { telephoneEventPt: remote.telephoneEventPt }) };
}

/** Writes our answer: the chosen codec (and telephone-event), in the direction RFC 3264 asks. */
export function writeAnswer(local: LocalAudio, config: RtpCodecConfig, direction: MediaDirection): string {
  return write(local, [{ pt: config.payloadType, codec: config.codec }], config.telephoneEventPt, direction);
}

/** Writes our offer (outbound calls, INVITEs without SDP): PCMU, PCMA and telephone-event. */
export function writeOffer(local: LocalAudio, direction: MediaDirection = 'sendrecv'): string {
  return write(
    local,
    [
      { pt: 0, codec: 'PCMU' },
      { pt: 8, codec: 'PCMA' },
    ],
    OFFERED_TELEPHONE_EVENT,
    direction,
  );
}

function write(local: LocalAudio, codecs: { pt: number; codec: G711Codec }[], telephoneEventPt: number | undefined, direction: MediaDirection): string {
  const rtp: { payload: number; codec: string; rate: number }[] = codecs.map(({ pt, codec }) => ({ payload: pt, codec, rate: 8000 }));
  const fmtp: { payload: number; config: string }[] = [];
  if (telephoneEventPt !== undefined) {
    rtp.push({ payload: telephoneEventPt, codec: 'telephone-event', rate: 8000 });
    fmtp.push({ payload: telephoneEventPt, config: '0-16' });
  }
  const ipVer = local.address.includes(':') ? 6 : 4;
  return sdpTransform.write({
    version: 0,
    origin: { username: 'legway', sessionId: local.sessionId, sessionVersion: local.version, netType: 'IN', ipVer, address: local.address },
    name: 'legway',
    connection: { version: ipVer, ip: local.address },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port: local.port,
        protocol: 'RTP/AVP',
        payloads: rtp.map((r) => r.payload).join(' '),
        rtp,
        fmtp,
        ptime: 20,
        direction,
      },
    ],
  });
}
