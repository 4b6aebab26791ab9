/**
 * Where a SIP leg's RTCP goes and what of it is read: reports every interval (randomised as RFC
 * 3550 §6.2 asks, without the bandwidth share) to the far end's RTCP port — where its own reports
 * come from once they have (symmetric RTCP), else its SDP's `a=rtcp` or port+1 — and the far end's
 * reports read only from the host media is learned from. The packets are ./rtcpSession.ts's.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { RtcpSession } from './rtcpSession.js';
import type { RtpCounters } from './rtpStats.js';
import { normalizeIp, type UdpAddress } from './udpAddress.js';

export interface RtcpChannelOptions {
  session: RtcpSession;
  /** Port+1 when bound; else reports share the RTP socket (RFC 5761 multiplexing). */
  socket: Socket;
  intervalMs: number;
  logger: Logger;
  counters: RtpCounters;
  /** Where media goes now (the learned source, or the SDP address). */
  mediaDestination: () => UdpAddress | undefined;
  /** The IP media is learned from, if any: the only one whose reports are read. */
  learnedIp: () => string | undefined;
}

export class RtcpChannel {
  /** The far end's RTCP port from its SDP (port+1 unless a=rtcp says otherwise). */
  private remotePort: number | undefined;
  /** Where the far end's reports come from, once one has. */
  private source: UdpAddress | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: RtcpChannelOptions) {
    this.schedule();
  }

  /** New SDP: its RTCP port, and (when the media address changed) forget where reports came from. */
  setRemote(rtpPort: number, rtcpPort: number | undefined, addressChanged: boolean): void {
    this.remotePort = rtcpPort ?? (rtpPort > 0 && rtpPort < 65535 ? rtpPort + 1 : undefined);
    if (addressChanged) this.source = undefined;
  }

  /** One received RTCP datagram (on port+1, or multiplexed on the RTP port). */
  receive(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const from = normalizeIp(rinfo.address);
    // Reports only from the host we take media from: a stranger's reports would skew what we show.
    if (from !== this.o.learnedIp() || !this.o.session.receiveReport(msg, Date.now())) {
      this.o.counters.rtcpDropped++;
      return;
    }
    this.o.counters.rtcpIn++;
    this.source = { address: from, port: rinfo.port };
  }

  /** Stops reporting after a last report with BYE; harmless twice. */
  close(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.send(this.o.session.bye(Date.now()));
    this.closed = true;
  }

  private schedule(): void {
    if (this.o.intervalMs <= 0) return;
    this.timer = setTimeout(
      () => {
        if (this.closed) return;
        // Nothing to say before media flows either way.
        if (this.o.counters.packetsOut > 0 || this.o.counters.packetsIn > 0) this.send(this.o.session.report(Date.now()));
        this.schedule();
      },
      this.o.intervalMs * (0.5 + Math.random()),
    );
    this.timer.unref();
  }

  private send(report: Buffer): void {
    const media = this.o.mediaDestination();
    if (media === undefined || this.closed) return;
    const to = this.source ?? (this.remotePort === undefined ? undefined : { address: media.address, port: this.remotePort });
    if (to === undefined) return;
    this.o.socket.send(report, to.port, to.address, (err) => {
      if (err) this.o.logger.debug({ err }, 'rtcp send failed');
    });
  }
}
