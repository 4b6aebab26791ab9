import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { io as connectClient, type Socket } from 'socket.io-client';
import { APPLICATION, seedConversation, startBenchGateway, type BenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, usBetween, type BenchResult } from './stats.js';

const CLIENTS = 20;
const EVENTS = 500;
const WARMUP = 50;
const DELIVERY_TIMEOUT_MS = 30_000;

export const fanoutMethod =
  `${CLIENTS} socket.io clients (websocket transport, in this process) joined to one conversation as members created over REST; ` +
  `${EVENTS} texts posted through the service as the application, yielding to the event loop after each, after ${WARMUP} warm-up texts ` +
  `(synchronous=full). Timed from the first post until every client has received every event (${CLIENTS}×${EVENTS} deliveries); ` +
  "each client's ids are then checked to be all of the posted ids, in order.";

/** Collects the text events one client receives, with post-to-receipt latency. */
class Receiver {
  readonly ids: number[] = [];
  private want = 0;
  private wake: (() => void) | undefined;

  constructor(
    readonly name: string,
    readonly socket: Socket,
    postedAt: Map<number, bigint>,
    latencies: number[],
  ) {
    socket.on('text', (event: { id: number }) => {
      const sent = postedAt.get(event.id);
      if (sent !== undefined) latencies.push(usBetween(sent, process.hrtime.bigint()));
      this.ids.push(event.id);
      if (this.ids.length >= this.want) this.wake?.();
    });
  }

  /** Resolves true once `count` texts have arrived in total, false after the timeout. */
  until(count: number, timeoutMs: number): Promise<boolean> {
    if (this.ids.length >= count) return Promise.resolve(true);
    this.want = count;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }
}

async function addJoinedMember(gw: BenchGateway, appToken: string, conversationId: string, name: string): Promise<void> {
  const res = await fetch(`${gw.url}/v1/conversations/${conversationId}/members`, {
    method: 'POST',
    headers: { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: { name }, state: 'joined' }),
  });
  if (res.status !== 201) throw new Error(`creating member ${name}: HTTP ${res.status} ${await res.text()}`);
}

function connect(url: string, token: string): Promise<Socket> {
  const socket = connectClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/** Benchmark 3: fan-out of service-posted texts to socket.io clients of one conversation. */
export async function benchFanout(): Promise<BenchResult> {
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: 'full' });
  const receivers: Receiver[] = [];
  try {
    const { conversationId, senderId } = seedConversation(gw.app, 'bench-fanout');
    const appToken = await gw.token('bench-backend', 'application');
    const postedAt = new Map<number, bigint>();
    const latencies: number[] = [];

    for (let i = 0; i < CLIENTS; i++) {
      const name = `bench-user-${String(i + 1).padStart(2, '0')}`;
      await addJoinedMember(gw, appToken, conversationId, name);
      const socket = await connect(gw.url, await gw.token(name));
      receivers.push(new Receiver(name, socket, postedAt, latencies));
      const ack = (await socket.timeout(5000).emitWithAck('conversation:join', { conversation_id: conversationId })) as { ok: boolean; error?: unknown };
      if (!ack.ok) throw new Error(`${name} could not join: ${JSON.stringify(ack.error)}`);
    }

    const post = (i: number): number => {
      const at = process.hrtime.bigint();
      const id = gw.app.services.events.post(conversationId, { type: 'text', from: senderId, body: { text: `fan-out ${i}` } }, APPLICATION).id;
      postedAt.set(id, at);
      return id;
    };

    // Warm-up: the same path, then wait for every client to drain it.
    for (let i = 0; i < WARMUP; i++) {
      post(i);
      await yieldToLoop();
    }
    const warmed = await Promise.all(receivers.map((r) => r.until(WARMUP, DELIVERY_TIMEOUT_MS)));
    if (warmed.includes(false)) throw new Error('warm-up texts did not reach every client');
    latencies.length = 0;

    const posted: number[] = [];
    const stop = startWindow();
    for (let i = 0; i < EVENTS; i++) {
      posted.push(post(i));
      await yieldToLoop();
    }
    const arrived = await Promise.all(receivers.map((r) => r.until(WARMUP + EVENTS, DELIVERY_TIMEOUT_MS)));
    const w = stop();

    const failures: string[] = [];
    receivers.forEach((r, i) => {
      if (!arrived[i]) failures.push(`${r.name} received ${r.ids.length - WARMUP} of ${EVENTS} texts within ${DELIVERY_TIMEOUT_MS} ms`);
      const got = r.ids.slice(WARMUP);
      const mismatch = posted.findIndex((id, k) => got[k] !== id);
      if (mismatch !== -1 || got.length !== posted.length) {
        failures.push(`${r.name}: ids differ from the posted ids at position ${mismatch === -1 ? posted.length : mismatch} (got ${got.length} ids)`);
      }
    });

    const deliveries = CLIENTS * EVENTS;
    const ms = (us: number): string => `${fixed(us / 1000, 2)} ms`;
    return {
      failures,
      lines: table([
        [
          'Deliveries',
          `${fixed((deliveries / w.wallMs) * 1000)} deliveries/s (${fixed(deliveries)} in ${fixed(w.wallMs, 1)} ms; ${fixed((EVENTS / w.wallMs) * 1000)} posts/s)`,
        ],
        ['Post-to-receipt', `p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))}`],
        ...cpuRows(w, deliveries, 'delivery'),
        ['CPU per posted event', `${fixed(w.cpuUs / EVENTS, 1)} µs (append + ${CLIENTS} sends + ${CLIENTS} client decodes)`],
        ['Order check', failures.length === 0 ? `every client got all ${EVENTS} ids, in order` : 'FAILED (see below)'],
      ]),
    };
  } finally {
    for (const r of receivers) r.socket.disconnect();
    await gw.close();
  }
}
