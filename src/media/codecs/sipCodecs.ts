/**
 * The codecs a SIP leg may carry, as offer/answer and RTP see them: RTP clock, payload types,
 * decoded sample rate, the telephone-event clock that goes with each (RFC 4733 §2.5.1.1: the
 * event clock matches the audio's), and what we put in `a=fmtp`.
 */

/** Codec names as `LEGWAY_SIP_CODECS` spells them. */
export const SIP_CODEC_NAMES = ['opus', 'G722', 'PCMU', 'PCMA'] as const;
export type SipCodecName = (typeof SIP_CODEC_NAMES)[number];

/** The default preference order: wide-band first, then the G.711 laws every trunk has. */
export const DEFAULT_SIP_CODECS: readonly SipCodecName[] = ['opus', 'G722', 'PCMU', 'PCMA'];

export interface SipCodecInfo {
  readonly name: SipCodecName;
  /** The encoding name in `a=rtpmap` (compared case-insensitively). */
  readonly encodingName: string;
  /** RTP timestamp rate. */
  readonly clockRate: number;
  /** Channels in `a=rtpmap` (Opus is always signalled as 2, RFC 7587 §7). */
  readonly channels: number | undefined;
  /** RFC 3551's static payload type, when the codec has one. */
  readonly staticPayloadType: number | undefined;
  /** The payload type we offer it with. */
  readonly offeredPayloadType: number;
  /** Samples per second of the decoded PCM (G.722: 16 kHz on an 8 kHz RTP clock). */
  readonly sampleRate: 8000 | 16000 | 48000;
  /** Our `a=fmtp` parameters, if any. */
  readonly fmtp: string | undefined;
  /** Packet times (ms) we can send; the far end's ptime is rounded to the nearest. */
  readonly sendPtimes: readonly number[];
}

const G711_PTIMES = [10, 20, 30, 40, 50, 60] as const;

export const SIP_CODECS: Readonly<Record<SipCodecName, SipCodecInfo>> = {
  // Mono speech, FEC on, no DTX: a SIP peer may not know comfort noise, and silence costs little.
  opus: {
    name: 'opus',
    encodingName: 'opus',
    clockRate: 48_000,
    channels: 2,
    staticPayloadType: undefined,
    offeredPayloadType: 111,
    sampleRate: 48_000,
    fmtp: 'minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0',
    sendPtimes: [20, 40, 60],
  },
  G722: {
    name: 'G722',
    encodingName: 'G722',
    clockRate: 8000,
    channels: undefined,
    staticPayloadType: 9,
    offeredPayloadType: 9,
    sampleRate: 16_000,
    fmtp: undefined,
    sendPtimes: G711_PTIMES,
  },
  PCMU: {
    name: 'PCMU',
    encodingName: 'PCMU',
    clockRate: 8000,
    channels: undefined,
    staticPayloadType: 0,
    offeredPayloadType: 0,
    sampleRate: 8000,
    fmtp: undefined,
    sendPtimes: G711_PTIMES,
  },
  PCMA: {
    name: 'PCMA',
    encodingName: 'PCMA',
    clockRate: 8000,
    channels: undefined,
    staticPayloadType: 8,
    offeredPayloadType: 8,
    sampleRate: 8000,
    fmtp: undefined,
    sendPtimes: G711_PTIMES,
  },
};

/** The codec with this static payload type (offered without an rtpmap), if any. */
export function staticCodec(payloadType: number): SipCodecInfo | undefined {
  for (const info of Object.values(SIP_CODECS)) if (info.staticPayloadType === payloadType) return info;
  return undefined;
}

/** The codec an `a=rtpmap` line names, if we carry it. */
export function codecByRtpmap(encodingName: string, clockRate: number, channels: number | undefined): SipCodecInfo | undefined {
  const name = encodingName.toLowerCase();
  for (const info of Object.values(SIP_CODECS)) {
    if (info.encodingName.toLowerCase() !== name || info.clockRate !== clockRate) continue;
    // RFC 7587: opus/48000/2 only; others are mono (no channel count, or 1).
    if (info.channels !== undefined ? channels === info.channels : channels === undefined || channels === 1) return info;
  }
  return undefined;
}

/**
 * The packet time we send: the far end's `a=ptime` (a wish for what it receives, RFC 3264 §6.1),
 * rounded to one we can make and capped by its `a=maxptime`; 20 ms when it says nothing.
 */
export function sendPtime(info: SipCodecInfo, ptime: number | undefined, maxptime: number | undefined): number {
  const wanted = ptime ?? 20;
  let best = 20;
  let bestDistance = Infinity;
  for (const candidate of info.sendPtimes) {
    if (maxptime !== undefined && candidate > maxptime) continue;
    const distance = Math.abs(candidate - wanted);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
