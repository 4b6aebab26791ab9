import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.js';
import { EventRecorder, request, startGateway, type TestGateway } from '../support/gateway.js';

/**
 * A client that stops reading, and a join that replays a long backlog: the gateway holds at most
 * about LEGWAY_SOCKET_MAX_BUFFERED_BYTES for one connection. A connection past it is closed, and
 * its client resumes with `since`; a replay waits for the socket to drain instead of queueing the
 * whole backlog. Both keep the feed's contract: every event after `since`, in id order, once.
 */

const LIMIT = 256 * 1024;
/** About 12 MB of events: more than the kernel's socket buffers on loopback take in. */
const BLOBS = 800;
const BLOB_TEXT = 'x'.repeat(15_000);

let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(): Promise<TestGateway> {
  gw = await startGateway({ env: { LEGWAY_SOCKET_MAX_BUFFERED_BYTES: String(LIMIT) } });
  return gw;
}

/** Posts `count` custom events of about 15 KB from member `from`, a few at a time; returns their ids in order. */
async function postBlobs(g: TestGateway, cid: string, from: string, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, () =>
      g.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'custom:blob', from, body: { text: BLOB_TEXT } } }),
    );
    for (const res of await Promise.all(batch)) {
      expect(res, JSON.stringify(res.body)).toMatchObject({ status: 201 });
      ids.push(res.body.id as number);
    }
  }
  return ids.sort((a, b) => a - b);
}

/** Stops reading the socket's TCP connection (the peer's data waits in the kernel, then in the gateway); returns `resume`. */
function stopReading(socket: Socket): () => void {
  const ws = (socket.io.engine.transport as unknown as { ws: { pause(): void; resume(): void } }).ws;
  ws.pause();
  return () => ws.resume();
}

/** Bytes the gateway holds for its connections and has not yet handed to the kernel (engine.io's queue and the WebSocket's). */
function unsentBytes(app: App): number {
  const clients = (app.io.engine as unknown as { clients: Record<string, EngineConnection> }).clients;
  let bytes = 0;
  for (const conn of Object.values(clients)) {
    for (const packet of conn.writeBuffer) bytes += typeof packet.data === 'string' ? packet.data.length : 0;
    bytes += conn.transport.socket?.bufferedAmount ?? 0;
  }
  return bytes;
}

interface EngineConnection {
  writeBuffer: { data?: unknown }[];
  transport: { socket?: { bufferedAmount: number } };
}

/** The ids of the blob events a recorder has seen, in arrival order. */
const blobIds = (seen: EventRecorder): number[] => seen.events.filter((e) => e.type === 'custom:blob').map((e) => e.id as number);

describe('a socket that stops reading', () => {
  it('is disconnected once its unsent bytes pass the limit, and resumes with since: every event once, in order', async () => {
    const g = await start();
    const cid = (await g.api('POST', '/v1/conversations', { body: { name: 'firehose' } })).body.id as string;
    const alice = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    expect(alice.status).toBe(201);
    const token = await g.token('alice');
    const socket = await g.connect(token);
    const seen = new EventRecorder(socket);
    const gone = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    expect(await request(socket, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true });
    const resume = stopReading(socket);

    const posted = await postBlobs(g, cid, alice.body.id as string, BLOBS);
    // The gateway let go of the connection, and of what it had queued for it.
    await vi.waitFor(() => expect(g.app.io.of('/').sockets.size).toBe(0), { timeout: 10_000 });
    expect(unsentBytes(g.app)).toBe(0);

    // The client reads what reached it, then learns the connection is gone.
    resume();
    expect(await gone).toBe('transport close');
    const firstPart = blobIds(seen);
    expect(firstPart.length).toBeLessThan(posted.length);
    expect(firstPart).toEqual(posted.slice(0, firstPart.length));

    // Back with `since` = the last id it saw: the rest, each once, in order.
    const again = await g.connect(token);
    const seenAgain = new EventRecorder(again);
    const since = seen.events.at(-1)?.id as number;
    expect(await request(again, 'conversation:join', { conversation_id: cid, since })).toMatchObject({ ok: true, since });
    await seenAgain.waitFor((e) => e.id === posted.at(-1), 20_000);
    expect([...firstPart, ...blobIds(seenAgain)]).toEqual(posted);
  }, 60_000);
});

describe("a join's replay of a long backlog", () => {
  it('waits for a slow reader to drain instead of queueing the backlog, and delivers every event once, in order', async () => {
    const g = await start();
    const cid = (await g.api('POST', '/v1/conversations', { body: { name: 'archive' } })).body.id as string;
    const alice = await g.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: 'alice' }, state: 'joined' } });
    expect(alice.status).toBe(201);
    const posted = await postBlobs(g, cid, alice.body.id as string, BLOBS);

    const socket = await g.connect(await g.token('alice'));
    const seen = new EventRecorder(socket);
    let disconnected = false;
    socket.on('disconnect', () => (disconnected = true));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, unsentBytes(g.app))), 2);
    try {
      // The client stops reading as the replay begins, for long enough to fill every buffer on the way.
      const joining = request(socket, 'conversation:join', { conversation_id: cid, since: 0 });
      const resume = stopReading(socket);
      await vi.waitFor(() => expect(peak).toBeGreaterThan(0), { timeout: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      resume();
      expect(await joining).toMatchObject({ ok: true, since: 0 });
      await seen.waitFor((e) => e.id === posted.at(-1), 30_000);
    } finally {
      clearInterval(sampler);
    }
    expect(blobIds(seen)).toEqual(posted);
    expect(disconnected).toBe(false);
    // The gateway never held more than the limit for it: the backlog waited in the store.
    expect(peak).toBeLessThanOrEqual(LIMIT);
  }, 60_000);
});
