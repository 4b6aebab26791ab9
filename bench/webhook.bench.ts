import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { APPLICATION, seedConversation, startBenchGateway, type BenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, usBetween, type BenchResult } from './stats.js';

const CONCURRENCY = 8; // LEGWAY_WEBHOOK_CONCURRENCY, set explicitly (it is also the default)
const DELIVERY_TIMEOUT_MS = 20_000;

export interface WebhookScenario {
  conversations: number;
  events: number;
  warmup: number;
}

export const WEBHOOK_MANY: WebhookScenario = { conversations: 16, events: 4000, warmup: 160 };
export const WEBHOOK_ONE: WebhookScenario = { conversations: 1, events: 1000, warmup: 50 };
/** Below this many events outstanding at the last commit, delivery kept pace and there is no drain rate to speak of. */
const MIN_BACKLOG_FOR_DRAIN = 100;

export const webhookMethod = (s: WebhookScenario): string =>
  `A node:http receiver on 127.0.0.1:0 answers every POST 200 at once and records its arrival time (process.hrtime.bigint(), ` +
  "when the body has been read) and the event's (conversation_id, id). A gateway started in this process has LEGWAY_EVENT_URL " +
  `pointing at it, LEGWAY_WEBHOOK_CONCURRENCY=${CONCURRENCY} and synchronous=full. ${fixed(s.events)} text events are posted ` +
  `${s.conversations === 1 ? 'into one conversation' : `round-robin over ${s.conversations} conversations`} through app.services.events.post() as the ` +
  'application, yielding to the event loop after each post so the dispatcher runs between commits (a loop that never yields would ' +
  'hold every delivery back until the last post); the commit time is read as post() returns. Timed until the receiver has seen every ' +
  `event, after ${fixed(s.warmup)} warm-up events delivered the same way. Deliveries/s = events / (last receipt − first commit); ` +
  'latency is commit to the receiver answering 2xx; the drain rate counts only what arrived after the last commit, when nothing ' +
  `competes with delivery. Receiver, gateway and poster share one process and the machine's ${availableParallelism()} cores; CPU runs from the ` +
  'first post until the outbox is empty, so it includes the appends, the outbox rows, signing, both HTTP ends and the deletes. ' +
  "Afterwards each conversation's ids are checked to have arrived once each, in increasing order.";

interface Arrival {
  conversationId: string;
  id: number;
  at: bigint;
  /** Requests the dispatcher had in flight when this one arrived. */
  inFlight: number;
}

/** A real HTTP webhook receiver that answers 200 immediately and records what arrived when. */
class BenchReceiver {
  readonly arrivals: Arrival[] = [];
  /** Requests whose body was not a JSON event with conversation_id and id. */
  malformed = 0;
  inFlight: () => number = () => 0;
  private readonly server: Server;
  private want = Infinity;
  private wake: (() => void) | undefined;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = process.hrtime.bigint();
        const inFlight = this.inFlight();
        res.writeHead(200, { 'content-length': '0' }).end();
        try {
          const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { conversation_id?: unknown; id?: unknown };
          if (typeof event.conversation_id !== 'string' || typeof event.id !== 'number') throw new Error('not an event');
          this.arrivals.push({ conversationId: event.conversation_id, id: event.id, at, inFlight });
        } catch {
          this.malformed++;
        }
        if (this.arrivals.length >= this.want) this.wake?.();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  /** Resolves true once `count` events have arrived in total, false after the timeout. */
  until(count: number, timeoutMs: number): Promise<boolean> {
    if (this.arrivals.length >= count) return Promise.resolve(true);
    this.want = count;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.wake = undefined;
        this.want = Infinity;
        resolve(ok);
      };
      this.wake = () => finish(true);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until the dispatcher has nothing in flight and the outbox nothing pending (its bookkeeping is done). */
async function drained(gw: BenchGateway, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const dispatcher = gw.app.webhooks.dispatcher;
  while (Date.now() < deadline) {
    if ((dispatcher?.inFlightCount ?? 0) === 0 && gw.app.store.outbox.counts().pending === 0) return true;
    await sleep(1);
  }
  return false;
}

/** Benchmark 4: webhook delivery from the outbox to a real HTTP receiver, for one spread of conversations. */
export async function benchWebhook(s: WebhookScenario): Promise<BenchResult> {
  const receiver = new BenchReceiver();
  const url = await receiver.start();
  let gw: BenchGateway | undefined;
  try {
    gw = await startBenchGateway({
      LEGWAY_SQLITE_SYNCHRONOUS: 'full',
      LEGWAY_EVENT_URL: url,
      LEGWAY_WEBHOOK_CONCURRENCY: String(CONCURRENCY),
    });
    const app = gw.app;
    const dispatcher = app.webhooks.dispatcher;
    if (dispatcher === undefined) throw new Error('the gateway has no webhook dispatcher although LEGWAY_EVENT_URL is set');
    receiver.inFlight = () => dispatcher.inFlightCount;

    const conversations = Array.from({ length: s.conversations }, (_, i) => seedConversation(app, `bench-webhook-${s.conversations}-${i}`));
    const committedAt = new Map<string, bigint>();
    const key = (conversationId: string, id: number): string => `${conversationId}#${id}`;
    const post = (i: number): string => {
      const c = conversations[i % conversations.length]!;
      const id = app.services.events.post(c.conversationId, { type: 'text', from: c.senderId, body: { text: `webhook ${i}` } }, APPLICATION).id;
      const k = key(c.conversationId, id);
      committedAt.set(k, process.hrtime.bigint());
      return k;
    };

    // Warm-up: the same path end to end, then let the outbox drain.
    for (let i = 0; i < s.warmup; i++) {
      post(i);
      await yieldToLoop();
    }
    if (!(await receiver.until(s.warmup, DELIVERY_TIMEOUT_MS))) throw new Error(`warm-up: ${receiver.arrivals.length} of ${s.warmup} events arrived`);
    if (!(await drained(gw, DELIVERY_TIMEOUT_MS))) throw new Error('warm-up: the outbox did not drain');
    const skip = receiver.arrivals.length;

    const posted: string[] = [];
    const stop = startWindow();
    for (let i = 0; i < s.events; i++) {
      posted.push(post(i));
      await yieldToLoop();
    }
    const lastCommit = committedAt.get(posted.at(-1)!)!;
    const backlog = s.events - (receiver.arrivals.length - skip);
    const arrived = await receiver.until(skip + s.events, DELIVERY_TIMEOUT_MS);
    const emptied = arrived && (await drained(gw, DELIVERY_TIMEOUT_MS));
    const w = stop();

    const measured = receiver.arrivals.slice(skip);
    const failures: string[] = [];
    if (!arrived) failures.push(`${measured.length} of ${s.events} events arrived within ${DELIVERY_TIMEOUT_MS} ms`);
    else if (!emptied) failures.push(`the outbox still had pending entries ${DELIVERY_TIMEOUT_MS} ms after the last arrival`);
    if (receiver.malformed > 0) failures.push(`${receiver.malformed} requests did not carry an event`);

    // Verification (outside the timed window): every posted event once, each conversation in increasing id order.
    const seen = new Set<string>();
    let duplicates = 0;
    let unexpected = 0;
    let outOfOrder = 0;
    const lastId = new Map<string, number>();
    for (const a of receiver.arrivals) {
      const prev = lastId.get(a.conversationId);
      if (prev !== undefined && a.id <= prev) outOfOrder++;
      lastId.set(a.conversationId, a.id);
    }
    for (const a of measured) {
      const k = key(a.conversationId, a.id);
      if (seen.has(k)) duplicates++;
      seen.add(k);
      if (!committedAt.has(k)) unexpected++;
    }
    const missing = posted.filter((k) => !seen.has(k)).length;
    if (duplicates > 0) failures.push(`${duplicates} events arrived more than once`);
    if (outOfOrder > 0) failures.push(`${outOfOrder} events arrived after a later id of the same conversation`);
    if (unexpected > 0) failures.push(`${unexpected} events arrived that were not posted by the benchmark`);
    if (arrived && missing > 0) failures.push(`${missing} posted events never arrived`);
    const failed = app.store.outbox.counts().failed;
    if (failed > 0) failures.push(`${failed} deliveries were parked as failed`);

    const latencies: number[] = [];
    const firstCommit = committedAt.get(posted[0]!)!;
    let lastReceipt = 0n;
    for (const a of measured) {
      const at = committedAt.get(key(a.conversationId, a.id));
      if (at === undefined) continue;
      latencies.push(usBetween(at, a.at));
      if (a.at > lastReceipt) lastReceipt = a.at;
    }
    const spanMs = usBetween(firstCommit, lastReceipt) / 1000;
    const postMs = usBetween(firstCommit, lastCommit) / 1000;
    const drainMs = usBetween(lastCommit, lastReceipt) / 1000;
    const drain =
      backlog >= MIN_BACKLOG_FOR_DRAIN
        ? `${fixed((backlog / drainMs) * 1000)} deliveries/s (${fixed(backlog)} outstanding at the last commit, received in ${fixed(drainMs, 1)} ms)`
        : `n/a: delivery kept pace with posting (${fixed(backlog)} outstanding at the last commit)`;
    const peak = Math.max(...measured.map((a) => a.inFlight));
    const ms = (us: number): string => `${fixed(us / 1000, 2)} ms`;

    return {
      failures,
      lines: table([
        ['Deliveries', `${fixed((s.events / spanMs) * 1000)} deliveries/s (${fixed(s.events)} from first commit to last receipt in ${fixed(spanMs, 1)} ms)`],
        ['Posting', `${fixed(s.events)} commits in ${fixed(postMs, 1)} ms (${fixed((s.events / postMs) * 1000)} posts/s)`],
        ['Drain after posting', drain],
        [
          'Commit to 2xx',
          `p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))}`,
        ],
        [
          'Requests in flight',
          `at most ${peak} seen at an arrival (limit ${Math.min(CONCURRENCY, s.conversations)}: ${CONCURRENCY} at once, one per conversation)`,
        ],
        ...cpuRows(w, s.events, 'delivery'),
        [
          'Order check',
          failures.length === 0 ? `all ${fixed(s.events)} events arrived once each, every conversation in increasing id order` : 'FAILED (see below)',
        ],
      ]),
    };
  } finally {
    await gw?.close();
    await receiver.close();
  }
}
