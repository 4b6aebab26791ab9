/**
 * The receiving half of a SIPp call's RTP: a UDP socket on 127.0.0.1 that keeps every RTP packet
 * sent to it, with its arrival time, and decodes PCMU, so that a test can ask what the far end of
 * a call sent to SIPp's side.
 *
 * SIPp cannot keep or check the audio it receives; its scenarios here (uac-invite-*.xml with RTP)
 * announce [media_port+4] in their SDP and play their pcap from that port, so a capture opened
 * with `RtpCapture.open()` listens on `sippMediaPort + 4`: pass `-mp <sippMediaPort>` to SIPp.
 * SIPp binds -mp and -mp + 2 itself (for its RTP echo), which is why they are left free.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeG711 } from '../../src/media/rtp/g711.js';

/** The offset from SIPp's -mp of the port its scenarios announce and play from. */
export const SIPP_ANNOUNCED_PORT_OFFSET = 4;

/** One RTP packet as it arrived. */
export interface CapturedPacket {
  /** performance.now() at arrival. */
  at: number;
  source: string;
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

async function bind(port: number): Promise<Socket | undefined> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => resolve(socket));
  });
}

async function udpFree(port: number): Promise<boolean> {
  const socket = await bind(port);
  if (!socket) return false;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return true;
}

export class RtpCapture {
  readonly packets: CapturedPacket[] = [];
  /** Datagrams that were not RTP version 2. */
  notRtp = 0;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg, rinfo) => this.receive(msg, `${rinfo.address}:${rinfo.port}`));
  }

  /** Binds a port P on 127.0.0.1 such that P − 4 and P − 2 are free for SIPp's own media sockets. */
  static async open(): Promise<RtpCapture> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const socket = await bind(0);
      if (!socket) continue;
      const port = socket.address().port;
      const base = port - SIPP_ANNOUNCED_PORT_OFFSET;
      if (base >= 1024 && (await udpFree(base)) && (await udpFree(base + 2))) return new RtpCapture(socket);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
    throw new Error('no port P on 127.0.0.1 with P-4 and P-2 free');
  }

  /** The port the capture listens on. */
  get port(): number {
    return this.socket.address().port;
  }

  /** What to give SIPp as -mp. */
  get sippMediaPort(): number {
    return this.port - SIPP_ANNOUNCED_PORT_OFFSET;
  }

  /** Every source packets came from, in order of first appearance. */
  get sources(): string[] {
    return [...new Set(this.packets.map((p) => p.source))];
  }

  /** The PCMU packets that arrived in the last `ms` milliseconds, decoded to 8 kHz samples, in arrival order. */
  recent(ms: number, payloadType = 0): Int16Array {
    const since = performance.now() - ms;
    return this.decode(this.packets.filter((p) => p.at >= since && p.payloadType === payloadType));
  }

  /** Packets that arrived at or after `at` (a performance.now() time). */
  since(at: number): CapturedPacket[] {
    return this.packets.filter((p) => p.at >= at);
  }

  /**
   * Waits until the last half second of received PCMU audio passes `check`, looking every 100 ms,
   * as TestPeer.until does for WebRTC audio. An empty window (nothing arrived) is an empty array.
   */
  async until(check: (lastHalfSecond: Int16Array) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check(this.recent(500))) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${this.describe()})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until no packet at all has arrived for `quietMs`. */
  async untilQuiet(quietMs: number, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = this.packets.at(-1);
      if (last === undefined || performance.now() - last.at >= quietMs) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${this.describe()})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A one-line summary for failure messages. */
  describe(): string {
    const last = this.packets.at(-1);
    const age = last ? `${Math.round(performance.now() - last.at)} ms ago` : 'never';
    return `${this.packets.length} RTP packets from ${this.sources.join(', ') || 'nobody'}, last ${age}; ${this.notRtp} not RTP`;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private decode(packets: readonly CapturedPacket[]): Int16Array {
    const out = new Int16Array(packets.reduce((n, p) => n + p.payload.length, 0));
    let at = 0;
    for (const p of packets) {
      decodeG711('PCMU', p.payload, out.subarray(at, at + p.payload.length));
      at += p.payload.length;
    }
    return out;
  }

  private receive(msg: Buffer, source: string): void {
    const b0 = msg[0] ?? 0;
    const b1 = msg[1] ?? 0;
    // RTCP (payload types 200-204 with the marker bit) multiplexed here is not audio either.
    if (msg.length < 12 || b0 >> 6 !== 2 || (b1 >= 200 && b1 <= 204)) {
      this.notRtp++;
      return;
    }
    let start = 12 + (b0 & 0x0f) * 4;
    if ((b0 & 0x10) !== 0 && msg.length >= start + 4) start += 4 + msg.readUInt16BE(start + 2) * 4;
    let end = msg.length;
    if ((b0 & 0x20) !== 0) end -= msg[end - 1] ?? 0;
    this.packets.push({
      at: performance.now(),
      source,
      payloadType: b1 & 0x7f,
      marker: (b1 & 0x80) !== 0,
      sequenceNumber: msg.readUInt16BE(2),
      timestamp: msg.readUInt32BE(4),
      ssrc: msg.readUInt32BE(8),
      payload: Buffer.from(msg.subarray(start, Math.max(start, end))),
    });
  }
}
