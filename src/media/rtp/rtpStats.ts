/** What a SIP leg's RTP session counts, as `leg:list`, `GET /v1/legs/:id` and `/metrics` show it. */
import type { RemoteReport } from './rtcpSession.js';

/** Datagram counters kept by the endpoint itself. */
export interface RtpCounters {
  /** Accepted packets (audio and telephone-event) and their bytes, headers included. */
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Received while the direction says we do not receive (still counted in `packetsIn`). */
  droppedNotReceiving: number;
  malformed: number;
  unknownPayloadType: number;
  /** RTCP reports read, and RTCP datagrams dropped (invalid, or not from the media's source). */
  rtcpIn: number;
  rtcpDropped: number;
  sendErrors: number;
}

/** Counters since open, with receive statistics, source learning and the far end's reports. */
export interface RtpStats extends RtpCounters {
  /** RFC 3550 cumulative loss of the stream we receive. */
  lost: number;
  /** RFC 3550 interarrival jitter of the stream we receive, in ms. */
  jitterMs: number;
  /** Packets from a source other than the learned one, and from a candidate still on probation. */
  droppedWrongSource: number;
  droppedProbation: number;
  /** Times a source was learned, and times an expected address took over from a probation-learned one. */
  learnedCount: number;
  takeovers: number;
  rtcpOut: number;
  learnedSource: { address: string; port: number; how: 'expected' | 'probation' } | undefined;
  /** What the far end last reported about our stream. */
  remote: RemoteReport | undefined;
}

/** Fresh endpoint counters. */
export function emptyRtpStats(): RtpCounters {
  return {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    droppedNotReceiving: 0,
    malformed: 0,
    unknownPayloadType: 0,
    rtcpIn: 0,
    rtcpDropped: 0,
    sendErrors: 0,
  };
}
