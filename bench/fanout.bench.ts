import { readFileSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { io as connectClient, type Socket } from 'socket.io-client';
import type { ConversationEvent } from '../src/domain/model.js';
import type { BenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, type BenchResult, type Window } from './stats.js';

/** Issue 15's target for socket deliveries per second on this machine. */
const TARGET_DELIVERIES_PER_S = 150_000;

const CLIENTS = 20;
const EVENTS = 2000;
const WARMUP = 1000;
const DELIVERY_TIMEOUT_MS = 30_000;
/** The socket.io room the limit run broadcasts to: the clients' own sockets, joined to it on the server. */
const LIMIT_ROOM = 'bench-fanout-limit';
/** workerData.role of the thread that runs this file's clients. */
const CLIENTS_ROLE = 'legway-bench-fanout-clients';

export const fanoutMethod =
  `${CLIENTS} socket.io clients (websocket transport) joined to one conversation as members created over REST; they run on a worker thread ` +
  "of this process, so they use the other core instead of the gateway's event loop, and the process's CPU time still counts them. " +
  `${EVENTS} texts posted through the service as the application, yielding to the event loop after each, after ${WARMUP} warm-up texts ` +
  `(synchronous=full). Timed from the first post until every client has received every event (${CLIENTS}×${EVENTS} deliveries); ` +
  "each client's ids are then checked to be all of the posted ids, in order. " +
  `Limit, in the same run on the same clients: the same ${WARMUP} + ${EVENTS} event objects broadcast with socket.io's own ` +
  `io.to(room).emit (each encoded once for all ${CLIENTS} sockets; no store, no feed), paced, timed and checked the same way.`;

/** Setup of the clients' thread. */
interface ClientsSetup {
  role: typeof CLIENTS_ROLE;
  url: string;
  conversationId: string;
  users: { name: string; token: string }[];
}

type ToClients = { kind: 'reset' } | { kind: 'expect'; count: number } | { kind: 'report' } | { kind: 'close' };

type FromClients =
  | { kind: 'ready'; socketIds: string[] }
  | { kind: 'reset' }
  | { kind: 'reached'; cpuMs: number | undefined }
  | { kind: 'report'; ids: number[][]; receivedNs: number[][] }
  | { kind: 'closed' }
  | { kind: 'failed'; message: string };

/** CPU time of the calling thread in ms (10 ms ticks), where Linux tells it; undefined elsewhere. */
function threadCpuMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in USER_HZ (100/s)
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** The clients' thread: connects and joins every client, then records each text's id and receipt time. */
async function runClients(setup: ClientsSetup, port: NonNullable<typeof parentPort>): Promise<void> {
  const send = (message: FromClients): void => port.postMessage(message);
  const sockets: Socket[] = [];
  const ids: number[][] = [];
  const receivedNs: number[][] = [];
  let want = Infinity;
  let cpuAtExpect: number | undefined;
  const check = (): void => {
    if (!ids.every((list) => list.length >= want)) return;
    want = Infinity;
    const now = threadCpuMs();
    send({ kind: 'reached', cpuMs: now === undefined || cpuAtExpect === undefined ? undefined : now - cpuAtExpect });
  };
  try {
    for (const [i, user] of setup.users.entries()) {
      const socket = connectClient(setup.url, { auth: { token: user.token }, transports: ['websocket'], reconnection: false, forceNew: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      sockets.push(socket);
      const mine: number[] = [];
      const times: number[] = [];
      ids.push(mine);
      receivedNs.push(times);
      socket.on('text', (event: { id: number }) => {
        times.push(Number(process.hrtime.bigint()));
        mine.push(event.id);
        if (mine.length === want) check();
      });
      const ack = (await socket.timeout(5000).emitWithAck('conversation:join', { conversation_id: setup.conversationId })) as { ok: boolean; error?: unknown };
      if (!ack.ok) throw new Error(`${setup.users[i]?.name ?? i} could not join: ${JSON.stringify(ack.error)}`);
    }
    port.on('message', (message: ToClients) => {
      if (message.kind === 'reset') {
        for (const list of [...ids, ...receivedNs]) list.length = 0;
        send({ kind: 'reset' });
      } else if (message.kind === 'expect') {
        cpuAtExpect = threadCpuMs();
        want = message.count;
        check();
      } else if (message.kind === 'report') {
        send({ kind: 'report', ids, receivedNs });
      } else {
        for (const socket of sockets) socket.disconnect();
        send({ kind: 'closed' });
      }
    });
    send({ kind: 'ready', socketIds: sockets.map((s) => s.id ?? '') });
  } catch (err) {
    for (const socket of sockets) socket.disconnect();
    send({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
}

if (!isMainThread && parentPort && (workerData as Partial<ClientsSetup> | null)?.role === CLIENTS_ROLE) {
  void runClients(workerData as ClientsSetup, parentPort);
}

/** The main thread's handle on the clients' thread. */
class ClientsThread {
  private readonly waiting: ((message: FromClients) => void)[] = [];

  private constructor(
    private readonly worker: Worker,
    readonly socketIds: string[],
  ) {
    worker.on('message', (message: FromClients) => this.waiting.shift()?.(message));
  }

  /** Starts the thread (this file, loaded through tsx) and waits until every client has joined. */
  static async start(setup: Omit<ClientsSetup, 'role'>): Promise<ClientsThread> {
    // Worker threads do not inherit tsx's loader: register it in the thread, then load this file.
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(boot, { eval: true, workerData: { ...setup, role: CLIENTS_ROLE } satisfies ClientsSetup });
    // Never the reason the process stays up, whatever happens to the run.
    worker.unref();
    const first = await new Promise<FromClients | Error>((resolve) => {
      const done = (result: FromClients | Error): void => {
        clearTimeout(timer);
        worker.off('message', done).off('error', done).off('exit', exited);
        resolve(result);
      };
      const exited = (code: number): void => done(new Error(`exited with code ${code}`));
      const timer = setTimeout(() => done(new Error('timed out')), DELIVERY_TIMEOUT_MS);
      worker.on('message', done).on('error', done).on('exit', exited);
    });
    if (first instanceof Error || first.kind !== 'ready') {
      await worker.terminate();
      const why = first instanceof Error ? first.message : first.kind === 'failed' ? first.message : first.kind;
      throw new Error(`the clients' thread did not start: ${why}`);
    }
    return new ClientsThread(worker, first.socketIds);
  }

  /** Makes every client forget the texts it has received. */
  async reset(): Promise<void> {
    this.post({ kind: 'reset' });
    if ((await this.next(DELIVERY_TIMEOUT_MS))?.kind !== 'reset') throw new Error("the clients' thread did not reset");
  }

  /** Resolves with `reached` once every client has `count` texts (undefined after the timeout). */
  expect(count: number): Promise<FromClients | undefined> {
    const reached = this.next(DELIVERY_TIMEOUT_MS);
    this.post({ kind: 'expect', count });
    return reached;
  }

  /** Every client's ids and receipt times (hrtime ns) since the last reset. */
  async report(): Promise<{ ids: number[][]; receivedNs: number[][] }> {
    this.post({ kind: 'report' });
    const message = await this.next(DELIVERY_TIMEOUT_MS);
    if (message?.kind !== 'report') throw new Error("the clients' thread did not report");
    return message;
  }

  async close(): Promise<void> {
    try {
      this.post({ kind: 'close' });
      await this.next(5000);
    } finally {
      await this.worker.terminate();
    }
  }

  private post(message: ToClients): void {
    this.worker.postMessage(message);
  }

  /** The thread's next message, or undefined after `timeoutMs`. */
  private next(timeoutMs: number): Promise<FromClients | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(done), 1);
        resolve(undefined);
      }, timeoutMs);
      const done = (message: FromClients): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiting.push(done);
    });
  }
}

interface RunResult {
  w: Window;
  /** CPU of the clients' thread in the timed part (ms), where the OS tells it. */
  clientsCpuMs: number | undefined;
  /** Send-to-receipt, µs. */
  latencies: number[];
}

/**
 * One run: `send(i)` sends the i-th event (warm-up ones first) and returns its id; the loop yields
 * after each, then waits until every client has them all, and checks each client's ids.
 */
async function timedRun(label: string, clients: ClientsThread, send: (i: number) => number, failures: string[]): Promise<RunResult> {
  const sentNs = new Map<number, number>();
  const post = (i: number): number => {
    const at = Number(process.hrtime.bigint());
    const id = send(i);
    sentNs.set(id, at);
    return id;
  };

  // Warm-up: the same path, then wait for every client to drain it.
  await clients.reset();
  const warmed = clients.expect(WARMUP);
  for (let i = 0; i < WARMUP; i++) {
    post(i);
    await yieldToLoop();
  }
  if ((await warmed)?.kind !== 'reached') throw new Error(`${label}: warm-up texts did not reach every client`);

  const sent: number[] = [];
  const stop = startWindow();
  const reached = clients.expect(WARMUP + EVENTS);
  for (let i = WARMUP; i < WARMUP + EVENTS; i++) {
    sent.push(post(i));
    await yieldToLoop();
  }
  const done = await reached;
  const w = stop();

  const { ids, receivedNs } = await clients.report();
  const latencies: number[] = [];
  ids.forEach((all, c) => {
    const name = `client ${c + 1}`;
    if (done?.kind !== 'reached') failures.push(`${label}: ${name} received ${all.length - WARMUP} of ${EVENTS} texts within ${DELIVERY_TIMEOUT_MS} ms`);
    const got = all.slice(WARMUP);
    const mismatch = sent.findIndex((id, k) => got[k] !== id);
    if (mismatch !== -1 || got.length !== sent.length) {
      failures.push(`${label}: ${name}: ids differ from the sent ids at position ${mismatch === -1 ? sent.length : mismatch} (got ${got.length} ids)`);
    }
    all.forEach((id, k) => {
      const at = sentNs.get(id);
      const received = receivedNs[c]?.[k];
      if (k >= WARMUP && at !== undefined && received !== undefined) latencies.push((received - at) / 1000);
    });
  });
  return { w, clientsCpuMs: done?.kind === 'reached' ? done.cpuMs : undefined, latencies };
}

/** Benchmark 3: fan-out of service-posted texts to socket.io clients of one conversation, beside socket.io's own broadcast. */
export async function benchFanout(): Promise<BenchResult> {
  // Imported here, not at the top: the clients' thread loads this file too and needs none of the gateway.
  const { APPLICATION, seedConversation, startBenchGateway } = await import('./gateway.js');
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: 'full' });
  let clients: ClientsThread | undefined;
  try {
    const { conversationId, senderId } = seedConversation(gw.app, 'bench-fanout');
    const appToken = await gw.token('bench-backend', 'application');
    const users: ClientsSetup['users'] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const name = `bench-user-${String(i + 1).padStart(2, '0')}`;
      await addJoinedMember(gw, appToken, conversationId, name);
      users.push({ name, token: await gw.token(name) });
    }
    clients = await ClientsThread.start({ url: gw.url, conversationId, users });

    const failures: string[] = [];
    // Legway: posted through the service, committed by the store, fanned out by the feed.
    const posted: ConversationEvent[] = [];
    const legway = await timedRun(
      'legway',
      clients,
      (i) => {
        const event = gw.app.services.events.post(conversationId, { type: 'text', from: senderId, body: { text: `fan-out ${i}` } }, APPLICATION);
        posted.push(event);
        return event.id;
      },
      failures,
    );

    // The limit: the same event objects, broadcast by socket.io itself to the same sockets.
    gw.app.io.in(clients.socketIds).socketsJoin(LIMIT_ROOM);
    const limit = await timedRun(
      'limit',
      clients,
      (i) => {
        const event = posted[i]!;
        gw.app.io.to(LIMIT_ROOM).emit('text', event);
        return event.id;
      },
      failures,
    );

    const deliveries = CLIENTS * EVENTS;
    const ms = (us: number): string => `${fixed(us / 1000, 2)} ms`;
    const rate = (r: RunResult): number => (deliveries / r.w.wallMs) * 1000;
    const latency = (r: RunResult): string =>
      `p50 ${ms(percentile(r.latencies, 50))}, p99 ${ms(percentile(r.latencies, 99))}, max ${ms(Math.max(...r.latencies))}`;
    const split = (r: RunResult): string =>
      r.clientsCpuMs === undefined
        ? 'not measured (no /proc/thread-self)'
        : `clients' thread ${fixed((r.clientsCpuMs * 1000) / deliveries, 1)} µs, the rest (gateway) ${fixed((r.w.cpuUs - r.clientsCpuMs * 1000) / deliveries, 1)} µs ` +
          '(thread CPU in 10 ms ticks)';
    const lw = legway.w;
    const mw = limit.w;
    return {
      failures,
      summary: [
        {
          path: 'Socket fan-out',
          unit: 'deliveries/s',
          value: rate(legway),
          limit: rate(limit),
          limitIs: "socket.io's own room broadcast",
          target: TARGET_DELIVERIES_PER_S,
          better: 'higher',
        },
      ],
      lines: table([
        [
          'Deliveries',
          `${fixed(rate(legway))} deliveries/s (${fixed(deliveries)} in ${fixed(lw.wallMs, 1)} ms; ${fixed((EVENTS / lw.wallMs) * 1000)} posts/s)`,
        ],
        ['Post-to-receipt', latency(legway)],
        ...cpuRows(lw, deliveries, 'delivery'),
        ['CPU per delivery, split', split(legway)],
        ['CPU per posted event', `${fixed(lw.cpuUs / EVENTS, 1)} µs (append + commit + 1 broadcast to ${CLIENTS} sockets + ${CLIENTS} client decodes)`],
        [
          'Limit (io.to(room).emit)',
          `${fixed(rate(limit))} deliveries/s (${fixed(deliveries)} in ${fixed(mw.wallMs, 1)} ms); CPU ${fixed(mw.cpuUs / 1000, 1)} ms = ${fixed(mw.cpuUs / deliveries, 1)} µs per delivery`,
        ],
        ['Limit CPU, split', split(limit)],
        ['Emit-to-receipt (limit)', latency(limit)],
        [
          'Legway / limit',
          `${fixed((rate(legway) / rate(limit)) * 100)}% of the limit's deliveries/s; CPU per delivery ${fixed(lw.cpuUs / mw.cpuUs, 2)}× the limit's ` +
            `(${fixed((lw.cpuUs - mw.cpuUs) / EVENTS, 1)} µs more per event: store, commit, feed)`,
        ],
        ['Order check', failures.length === 0 ? `every client got all ${EVENTS} ids, in order, in both runs` : 'FAILED (see below)'],
      ]),
    };
  } finally {
    await clients?.close();
    await gw.close();
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
