import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { types as ms } from 'mediasoup';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parseRtp, RtpPacketizer } from '../../src/media/audio/rtp.js';
import { LoopbackRtp } from '../../src/media/mediasoup/loopbackRtp.js';
import { WorkerPool } from '../../src/media/mediasoup/workerPool.js';
import { TEST_SECRET } from '../support/gateway.js';
import { udpSocketsOf, waitUntil, workerUdpSockets } from '../support/resources.js';

const OPUS = { mimeType: 'audio/opus', clockRate: 48000, channels: 2 } as const;
const PAYLOAD_TYPE = 111;
const SSRC = 0x5eed;
const PORTS = { min: 20000, max: 29999 };

/**
 * The path a WebRTC leg's audio takes between its router and Node: RTP sent into the loopback
 * PlainTransport comes back through a consumer of its own producer, as the peer's audio does.
 */
describe('LoopbackRtp, the internal RTP path between a router and Node', () => {
  let pool: WorkerPool;
  let router: ms.Router;
  const opened: LoopbackRtp[] = [];
  const strangers: Socket[] = [];

  beforeAll(async () => {
    pool = await WorkerPool.start({
      workerBin: loadConfig({ env: { LEGWAY_SECRET: TEST_SECRET } }).mediasoupWorker,
      size: 1,
      logger: pino({ level: 'silent' }),
      onWorkerDied: () => undefined,
    });
  });
  afterAll(async () => {
    await pool.close();
  });
  afterEach(() => {
    for (const loopback of opened.splice(0)) loopback.close();
    for (const socket of strangers.splice(0)) socket.close();
    if (!router.closed) router.close();
  });

  /** A loopback on a new router whose own RTP comes back to Node; `received` collects the RTP that reaches the listener. */
  async function echoing(): Promise<{ loopback: LoopbackRtp; received: Buffer[] }> {
    router = await pool.createRouter('loopback-test', [{ kind: 'audio', ...OPUS, preferredPayloadType: PAYLOAD_TYPE }]);
    const loopback = await LoopbackRtp.open(router, PORTS);
    opened.push(loopback);
    const producer = await loopback.transport.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ ...OPUS, payloadType: PAYLOAD_TYPE }], encodings: [{ ssrc: SSRC }] },
    });
    await loopback.transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const received: Buffer[] = [];
    loopback.onPacket((packet) => {
      if (parseRtp(packet)?.payloadType === PAYLOAD_TYPE) received.push(packet);
    });
    return { loopback, received };
  }

  async function stranger(): Promise<Socket> {
    const socket = createSocket('udp4');
    strangers.push(socket);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket;
  }

  it('binds both ends to 127.0.0.1 and carries RTP out of Node into the router and back', async () => {
    const { loopback, received } = await echoing();
    expect(loopback.transport.tuple.localAddress).toBe('127.0.0.1');
    expect(loopback.transport.tuple.remoteIp).toBe('127.0.0.1');
    expect(loopback.transport.tuple.remotePort).toBe(loopback.localPort);

    const packetizer = new RtpPacketizer(PAYLOAD_TYPE, SSRC);
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.from([0x78, i, 0xaa, 0x55]));
    for (const payload of payloads) loopback.send(packetizer.packet(payload));

    await waitUntil(() => received.length === payloads.length, { what: 'the packets to come back' });
    expect(received.map((p) => parseRtp(p)?.payload)).toEqual(payloads);
  });

  it('takes nothing from a stranger on loopback at either end, even RTP of the very stream it carries', async () => {
    const { loopback, received } = await echoing();
    const spoofer = await stranger();
    // The stream's own SSRC and payload type, from another port: to Node's socket (as if from the
    // consumer) and to the transport (as if from Node, which would come back through the consumer).
    const forged = new RtpPacketizer(PAYLOAD_TYPE, SSRC);
    for (let i = 0; i < 20; i++) {
      spoofer.send(forged.packet(Buffer.from([0x78, 0xee, 0xee, 0xee])), loopback.localPort, '127.0.0.1');
      spoofer.send(forged.packet(Buffer.from([0x78, 0xdd, 0xdd, 0xdd])), loopback.transport.tuple.localPort, '127.0.0.1');
    }

    // A packet of its own sent after them comes back: the forged ones, sent first, had their chance.
    loopback.send(new RtpPacketizer(PAYLOAD_TYPE, SSRC).packet(Buffer.from([0x78, 1, 2, 3])));
    await waitUntil(() => received.length > 0, { what: 'the own packet to come back' });
    await new Promise((r) => setTimeout(r, 100));
    expect(received.map((p) => [...(parseRtp(p)?.payload ?? [])])).toEqual([[0x78, 1, 2, 3]]);
  });

  it('close frees the socket and the transport, twice is harmless, and sending after it is dropped', async () => {
    const udpBefore = udpSocketsOf(process.pid);
    const workerBefore = workerUdpSockets();
    const { loopback } = await echoing();
    expect(udpSocketsOf(process.pid)).toBe(udpBefore + 1);
    expect(workerUdpSockets()).toBe(workerBefore + 1);

    loopback.close();
    loopback.close();
    loopback.send(Buffer.alloc(20));

    expect(loopback.transport.closed).toBe(true);
    await waitUntil(() => udpSocketsOf(process.pid) === udpBefore && workerUdpSockets() === workerBefore, { what: 'both sockets to close' });
  });

  it('closes its socket when its router closes (a leg ending, or its worker dying)', async () => {
    const udpBefore = udpSocketsOf(process.pid);
    await echoing();
    expect(udpSocketsOf(process.pid)).toBe(udpBefore + 1);

    router.close();

    await waitUntil(() => udpSocketsOf(process.pid) === udpBefore, { what: "the Node socket to close with the router's transport" });
  });
});
