/**
 * The SIPp RTP harness of sip-call.test.ts, checked against a stand-in answerer instead of the
 * gateway: the SipServer (sip.js) answering with an SDP of its own UDP socket, which latches on
 * the RTP it receives and sends a tone back to its source (symmetric RTP, as the gateway does).
 * It shows that SIPp's pcap arrives as the pcap's PCMU from the port the offer announced, that
 * what is sent back there reaches RtpCapture, and that the scenarios' SDP checks fail a call
 * whose answer does not match. When sip-call.test.ts fails and this passes, look at the gateway.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeG711, encodeG711 } from '../../src/media/rtp/g711.js';
import { SipServer } from '../../src/sip/sipServer.js';
import { runSipp, sippMissing } from '../sipp/sipp.js';
import { pcmuTonePcap, rtpPacket } from '../support/pcap.js';
import { RtpCapture } from '../support/rtpCapture.js';
import { sine, toneLevel } from '../support/tone.js';

const missing = sippMissing();
if (missing) console.warn(`SIPp RTP harness tests skipped: ${missing}`);

/** The answerer's media: one UDP socket that latches on the first RTP and sends 440 Hz PCMU there every 20 ms. */
class StandInMedia {
  readonly received: { source: string; payloadType: number; payload: Buffer }[] = [];
  sending = true;
  private latched: { address: string; port: number } | undefined;
  private readonly timer: NodeJS.Timeout;
  private sequence = 0;
  private timestamp = 0;
  private readonly tone = encodeG711('PCMU', sine(440, 8000, 8000, 8000));

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg, rinfo) => {
      this.latched ??= { address: rinfo.address, port: rinfo.port };
      this.received.push({ source: `${rinfo.address}:${rinfo.port}`, payloadType: (msg[1] ?? 0) & 0x7f, payload: Buffer.from(msg.subarray(12)) });
    });
    this.timer = setInterval(() => this.tick(), 20);
  }

  static async open(): Promise<StandInMedia> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new StandInMedia(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  sdp(codec: 'PCMU' | 'PCMA', direction: string): string {
    const pt = codec === 'PCMU' ? 0 : 8;
    return `v=0\r\no=standin 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${this.port} RTP/AVP ${pt} 101\r\na=rtpmap:${pt} ${codec}/8000\r\na=rtpmap:101 telephone-event/8000\r\na=${direction}\r\n`;
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private tick(): void {
    if (!this.latched || !this.sending) return;
    const offset = (this.sequence % 50) * 160;
    const packet = rtpPacket({
      payloadType: 0,
      sequenceNumber: this.sequence++,
      timestamp: (this.timestamp += 160),
      ssrc: 0x5eed,
      payload: this.tone.subarray(offset, offset + 160),
    });
    this.socket.send(packet, this.latched.port, this.latched.address);
  }
}

describe.skipIf(missing !== undefined)('SIPp RTP harness against a stand-in answerer', () => {
  let server: SipServer | undefined;
  let media: StandInMedia | undefined;
  let capture: RtpCapture | undefined;
  let pcap = '';
  let dir = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-pcap-'));
    pcap = join(dir, 'tone.pcap');
    writeFileSync(pcap, pcmuTonePcap({ frequency: 1000, seconds: 10 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await server?.close();
    await media?.close();
    await capture?.close();
    server = media = capture = undefined;
  });

  /** Answers the INVITE with `codec`, and each re-INVITE as RFC 3264 says unless `holdAnswer` overrides it. */
  async function answerer(codec: 'PCMU' | 'PCMA' = 'PCMU', holdAnswer?: string): Promise<{ port: number; media: StandInMedia }> {
    const m = (media = await StandInMedia.open());
    const accept = (content: string) => ({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content } });
    server = await SipServer.start({
      host: '127.0.0.1',
      port: 0,
      trunks: ['127.0.0.1/32'],
      logger: pino({ level: 'silent' }),
      onInvite: ({ request }) => {
        request.progress({ statusCode: 180 });
        const { session } = request.accept(accept(m.sdp(codec, 'sendrecv')));
        session.delegate = {
          onBye: (bye) => bye.accept(),
          onInvite: (reinvite) => {
            const hold = reinvite.message.body.includes('a=sendonly');
            m.sending = !hold;
            reinvite.accept(accept(m.sdp(codec, hold ? (holdAnswer ?? 'recvonly') : 'sendrecv')));
          },
        };
      },
    });
    return { port: server.port, media: m };
  }

  async function sipp(scenario: string, port: number, lengths: Record<string, number>) {
    capture = await RtpCapture.open();
    const set = Object.entries(lengths).flatMap(([name, ms]) => ['-set', name, String(ms)]);
    return runSipp({
      scenario,
      transport: 'u1',
      target: `127.0.0.1:${port}`,
      timeoutSeconds: 20,
      extra: ['-mi', '127.0.0.1', '-mp', String(capture.sippMediaPort), '-key', 'pcap', pcap, ...set],
    });
  }

  it('plays the pcap from the announced port, and RtpCapture gets what is sent back to that port', async () => {
    const { port, media: m } = await answerer();
    const run = await sipp('uac-invite-pcmu-rtp-expect-200.xml', port, { talk_ms: 2000 });
    expect(run.code, run.trace).toBe(0);

    // SIPp's side: the pcap's PCMU, from -mp + 4, paced at 50 packets a second.
    expect(new Set(m.received.map((r) => r.source))).toEqual(new Set([`127.0.0.1:${String(capture!.port)}`]));
    expect(m.received.length).toBeGreaterThan(80);
    expect(m.received.length).toBeLessThan(130);
    expect(new Set(m.received.map((r) => r.payloadType))).toEqual(new Set([0]));
    const heard = decodeG711('PCMU', Buffer.concat(m.received.slice(10, 60).map((r) => r.payload)));
    expect(toneLevel(heard, 1000, 8000)).toBeGreaterThan(7000);

    // The answerer's side, sent to where SIPp's RTP came from, is what the capture holds.
    expect(capture!.sources).toEqual([`127.0.0.1:${String(m.port)}`]);
    expect(capture!.packets.length).toBeGreaterThan(50);
    const back = decodeG711('PCMU', Buffer.concat(capture!.packets.slice(5, 30).map((p) => p.payload)));
    expect(toneLevel(back, 440, 8000)).toBeGreaterThan(7000);
  });

  it('fails the call when the 200 does not answer PCMU', async () => {
    const { port } = await answerer('PCMA');
    const run = await sipp('uac-invite-pcmu-rtp-expect-200.xml', port, { talk_ms: 500 });
    expect(run.code, run.trace).not.toBe(0);
    expect(run.trace).toContain('Failed regexp match');
  });

  it('holds and unholds: the pcap goes on throughout, and nothing comes back while held', async () => {
    const { port, media: m } = await answerer();
    const run = await sipp('uac-invite-hold-unhold.xml', port, { talk_ms: 1500, hold_ms: 1500 });
    expect(run.code, run.trace).toBe(0);
    // 4.5 s of pcap at 50 packets a second reached the answerer, hold or not.
    expect(m.received.length).toBeGreaterThan(200);
    // Nothing was sent back for about the 1.5 s of hold: a gap of at least a second between packets.
    const gaps = capture!.packets.slice(1).map((p, i) => p.at - capture!.packets[i]!.at);
    expect(Math.max(...gaps)).toBeGreaterThan(1000);
  });

  it('fails the call when the hold is answered sendrecv', async () => {
    const { port } = await answerer('PCMU', 'sendrecv');
    const run = await sipp('uac-invite-hold-unhold.xml', port, { talk_ms: 500, hold_ms: 500 });
    expect(run.code, run.trace).not.toBe(0);
    expect(run.trace).toContain('Failed regexp match');
  });
});
