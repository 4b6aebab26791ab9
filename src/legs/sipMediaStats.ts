/**
 * A SIP leg's media statistics as the APIs show them (`leg:list`, `GET /v1/legs/:id`): what the
 * RTP endpoint counted, what the playout buffer did with it, and what the far end's RTCP reports
 * say about our stream. Field names follow the REST API's snake_case.
 */
import type { SipLegAudio, SipRtp } from '../media/rtp/sipRtp.js';
import { SIP_CODECS } from '../media/codecs/sipCodecs.js';
import type { SipMediaTotals } from '../observability/metrics.js';

export interface SipMediaStats {
  codec: string | null;
  /** Packet time we send, and the one last received, in ms. */
  ptime_out_ms: number | null;
  ptime_in_ms: number | null;
  packets_in: number;
  packets_out: number;
  bytes_in: number;
  bytes_out: number;
  /** RFC 3550 cumulative loss and interarrival jitter of what we receive. */
  lost: number;
  jitter_ms: number;
  /** Packets that came after their time was played, duplicates, and audio made up for losses. */
  late: number;
  duplicate: number;
  concealed_ms: number;
  /** Where media is taken from and sent to, and how that was learned. */
  source: { address: string; port: number; learned_by: 'expected' | 'probation' } | null;
  dropped_wrong_source: number;
  dropped_probation: number;
  malformed: number;
  unknown_payload_type: number;
  rtcp_in: number;
  rtcp_out: number;
  /** The far end's last RTCP report about our stream. */
  remote: { fraction_lost: number; cumulative_lost: number; jitter_ms: number; rtt_ms: number | null } | null;
}

const round = (value: number, places = 2): number => Math.round(value * 10 ** places) / 10 ** places;

/** The statistics of one SIP leg's media now. */
export function sipMediaStats(rtp: Pick<SipRtp, 'stats' | 'codec'>, audio: SipLegAudio | undefined): SipMediaStats {
  const s = rtp.stats;
  const codec = rtp.codec;
  const playout = audio?.playoutStats;
  const sampleRate = playout ? SIP_CODECS[playout.codec as keyof typeof SIP_CODECS].sampleRate : 8000;
  return {
    codec: codec?.codec ?? null,
    ptime_out_ms: codec?.ptime ?? null,
    ptime_in_ms: playout && playout.lastPacketMs > 0 ? round(playout.lastPacketMs, 1) : null,
    packets_in: s.packetsIn,
    packets_out: s.packetsOut,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    lost: s.lost,
    jitter_ms: round(s.jitterMs),
    late: playout?.late ?? 0,
    duplicate: playout?.duplicate ?? 0,
    concealed_ms: playout ? Math.round((playout.concealedSamples * 1000) / sampleRate) : 0,
    source: s.learnedSource ? { address: s.learnedSource.address, port: s.learnedSource.port, learned_by: s.learnedSource.how } : null,
    dropped_wrong_source: s.droppedWrongSource,
    dropped_probation: s.droppedProbation,
    malformed: s.malformed,
    unknown_payload_type: s.unknownPayloadType,
    rtcp_in: s.rtcpIn,
    rtcp_out: s.rtcpOut,
    remote: s.remote
      ? {
          fraction_lost: round(s.remote.fractionLost, 4),
          cumulative_lost: s.remote.cumulativeLost,
          jitter_ms: round(s.remote.jitterMs),
          rtt_ms: s.remote.rttMs === undefined ? null : round(s.remote.rttMs),
        }
      : null,
  };
}

/** Zero totals. */
export function emptyTotals(): SipMediaTotals {
  return {
    legsByCodec: {},
    packetsIn: 0,
    packetsOut: 0,
    lost: 0,
    late: 0,
    concealedSeconds: 0,
    droppedWrongSource: 0,
    droppedProbation: 0,
    malformed: 0,
    unknownPayloadType: 0,
    rtcpIn: 0,
    rtcpOut: 0,
    maxJitterSeconds: 0,
  };
}

/** Adds one leg's counters to `totals`. */
export function addStats(totals: SipMediaTotals, stats: SipMediaStats): void {
  totals.packetsIn += stats.packets_in;
  totals.packetsOut += stats.packets_out;
  totals.lost += stats.lost;
  totals.late += stats.late;
  totals.concealedSeconds += stats.concealed_ms / 1000;
  totals.droppedWrongSource += stats.dropped_wrong_source;
  totals.droppedProbation += stats.dropped_probation;
  totals.malformed += stats.malformed;
  totals.unknownPayloadType += stats.unknown_payload_type;
  totals.rtcpIn += stats.rtcp_in;
  totals.rtcpOut += stats.rtcp_out;
}
