/**
 * The RTCP half of a SIP leg's RTP session (RFC 3550 §6): what we report about the stream we
 * receive (receive statistics, a report block) and the one we send (sender info), the compound
 * packet that carries both, and what the far end's reports say about our stream (its loss,
 * jitter, and the round trip from its LSR/DLSR). Sockets and timing stay with the endpoint.
 */
import { buildBye, buildCompound, compactNtp, ntpFromEpochMs, parseCompound, type ReportBlock } from './rtcp.js';
import { ReceiveStatistics, roundTripMs } from './receiveStatistics.js';

/** What the far end last reported about our stream. */
export interface RemoteReport {
  /** Fraction of our packets it lost in its last interval, 0..1. */
  fractionLost: number;
  /** Its cumulative count of our lost packets. */
  cumulativeLost: number;
  jitterMs: number;
  /** Round trip from its last report block, when it echoed one of our sender reports. */
  rttMs: number | undefined;
}

export class RtcpSession {
  readonly receive: ReceiveStatistics;
  private packetsSent = 0;
  private octetsSent = 0;
  /** The RTP timestamp and wall time of our newest packet, to place `now` on our RTP clock. */
  private lastSentTs: number | undefined;
  private lastSentAt = 0;
  private sendClockRate: number;
  private remoteReport: RemoteReport | undefined;
  reportsReceived = 0;
  reportsSent = 0;

  constructor(
    private readonly ssrc: number,
    private readonly cname: string,
    clockRate: number,
  ) {
    this.receive = new ReceiveStatistics(clockRate);
    this.sendClockRate = clockRate;
  }

  /** The codec (and so the RTP clock rate) changed. */
  setClockRate(clockRate: number): void {
    this.receive.setClockRate(clockRate);
    this.sendClockRate = clockRate;
  }

  /** One RTP packet we sent (`payloadBytes` without the header, as SR octet counts are). */
  sent(timestamp: number, payloadBytes: number, nowMs: number): void {
    this.packetsSent++;
    this.octetsSent += payloadBytes;
    this.lastSentTs = timestamp;
    this.lastSentAt = nowMs;
  }

  /** What the far end last said about our stream. */
  get remote(): RemoteReport | undefined {
    return this.remoteReport;
  }

  /** Our report now: an SR once we have sent, else an RR; with a block about the stream we receive. */
  report(nowMs: number): Buffer {
    this.reportsSent++;
    const block = this.receive.reportBlock(nowMs);
    const blocks = block ? [block] : [];
    if (this.lastSentTs === undefined) return buildCompound({ ssrc: this.ssrc, blocks, cname: this.cname });
    const ntp = ntpFromEpochMs(nowMs);
    // Our RTP clock at `now`: the newest packet's timestamp moved on by the time since it went out.
    const rtpTimestamp = (this.lastSentTs + Math.round(((nowMs - this.lastSentAt) * this.sendClockRate) / 1000)) >>> 0;
    return buildCompound({
      ssrc: this.ssrc,
      sender: { ntpSeconds: ntp.seconds, ntpFraction: ntp.fraction, rtpTimestamp, packetCount: this.packetsSent >>> 0, octetCount: this.octetsSent >>> 0 },
      blocks,
      cname: this.cname,
    });
  }

  /** A BYE for when the leg ends (with a last report, as a compound packet must start with one). */
  bye(nowMs: number): Buffer {
    return Buffer.concat([this.report(nowMs), buildBye(this.ssrc)]);
  }

  /** Reads one received RTCP datagram; false when it is not valid RTCP. */
  receiveReport(datagram: Buffer, nowMs: number): boolean {
    const compound = parseCompound(datagram);
    if (compound === undefined) return false;
    this.reportsReceived++;
    for (const sr of compound.senderReports) {
      this.receive.onSenderReport(sr.ssrc, compactNtp(sr.sender.ntpSeconds, sr.sender.ntpFraction), nowMs);
      this.readBlocks(sr.blocks, nowMs);
    }
    for (const rr of compound.receiverReports) this.readBlocks(rr.blocks, nowMs);
    return true;
  }

  private readBlocks(blocks: readonly ReportBlock[], nowMs: number): void {
    const ours = blocks.find((b) => b.ssrc === this.ssrc);
    if (ours === undefined) return;
    this.remoteReport = {
      fractionLost: ours.fractionLost / 256,
      cumulativeLost: Math.max(0, ours.cumulativeLost),
      jitterMs: (ours.jitter * 1000) / this.sendClockRate,
      rttMs: roundTripMs(ours, nowMs),
    };
  }
}
