import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { fail, LegwayError, type ErrorCode, ERROR_CODES } from '../../domain/errors.js';
import { MessageBatch } from './messageBatch.js';
import type { FromThread, LoopbackAudio, RtpOpenOptions, RtpSnapshot, Snapshot, ToThread } from './protocol.js';

/**
 * SIP RTP endpoints each media thread keeps open ahead of their calls. A call that finds none waits
 * for the thread to open one, a round trip that a thread busy mixing a large conference can hold
 * up for a tick. Measured at 300 calls/s into one conference with calls up a second (benchmark 6's
 * load): with 2, refilled one at a time, 35-60 % of the calls found none; with 4, refilled at
 * once, 7-12 %; with 8, 1-13 %.
 */
export const SPARE_SIP_ENDPOINTS = 4;

let nextSpare = 1;

type Reply = Extract<FromThread, { t: 'reply' }>;
type Request = Extract<ToThread, { req: number }>;
type WithoutReq<T> = T extends unknown ? Omit<T, 'req'> : never;
/** Events of one thread-side object (an endpoint, a player, a tap, a bridge), by its id. */
export type ThreadListener = (message: FromThread) => void;

/**
 * One media thread as the main thread sees it: requests with replies, one-way control, events
 * routed by object id, the latest statistics snapshot, and how many media objects it holds (its load).
 */
export class MediaThread {
  private readonly worker: Worker;
  /** What goes to the thread in this turn, posted as one message at its end. */
  private readonly outbox: MessageBatch<ToThread>;
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (reply: Reply & { ok: true }) => void; reject: (err: unknown) => void }>();
  private readonly listeners = new Map<string, ThreadListener>();
  private snapshotWaiters = new Map<number, (s: Snapshot) => void>();
  snapshot: Snapshot = { bridges: {}, rtp: {} };
  /** SIP RTP endpoints opened ahead of their calls (see `MediaThreads.keepSpares`), by id, with their ports. */
  readonly spares: { id: string; port: number }[] = [];
  /** Media objects (SIP endpoints, WebRTC loopback sockets) open on this thread. */
  load = 0;
  sparesOpening = 0;
  dead = false;

  constructor(
    readonly index: number,
    logLevel: string,
    private readonly logger: Logger,
    private readonly onDeath: (thread: MediaThread) => void,
    priority?: number,
  ) {
    // Run from TypeScript sources (tests, `npm run dev`): the entry is a .ts file that tsx loads,
    // imported once tsx's hooks are in place (a worker's own entry file would be loaded before them).
    const fromSources = import.meta.url.endsWith('.ts');
    const options = { workerData: { logLevel, index, priority } };
    this.worker = fromSources
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./mediaThreadMain.ts', import.meta.url).href)}); })`, { ...options, eval: true })
      : new Worker(fileURLToPath(new URL('./mediaThreadMain.js', import.meta.url)), options);
    this.outbox = new MessageBatch((messages, transfer) => this.worker.postMessage(messages, transfer));
    this.worker.on('message', (messages: FromThread[]) => {
      for (const m of messages) this.receive(m);
    });
    this.worker.on('error', (err) => logger.error({ err, thread: index }, 'media thread failed'));
    this.worker.on('exit', (code) => this.died(code));
    this.worker.unref();
  }

  private lastElu: ReturnType<Worker['performance']['eventLoopUtilization']> | undefined;

  /** The share of time (0–1) this thread's event loop was busy since the previous call. */
  busyShare(): number {
    const now = this.worker.performance.eventLoopUtilization();
    const busy = this.lastElu === undefined ? now.utilization : this.worker.performance.eventLoopUtilization(now, this.lastElu).utilization;
    this.lastElu = now;
    return busy;
  }

  /** Sends one-way control. */
  send(message: ToThread, transfer?: ArrayBuffer[]): void {
    if (!this.dead) this.outbox.push(message, transfer);
  }

  /** Sends a request; resolves with the thread's reply, rejects with its coded error (or Unavailable once the thread is gone). */
  request(message: WithoutReq<Request>): Promise<{ port?: number; state?: LoopbackAudio['mix']; final?: RtpSnapshot }> {
    if (this.dead) return Promise.reject(fail('Unavailable', 'media thread is gone'));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.pending.set(req, { resolve, reject });
      this.outbox.push({ ...message, req });
    });
  }

  /** The thread's statistics now (waits for a fresh snapshot). */
  fresh(collect = false): Promise<Snapshot> {
    if (this.dead) return Promise.resolve(this.snapshot);
    const req = this.nextReq++;
    return new Promise((resolve) => {
      this.snapshotWaiters.set(req, resolve);
      this.outbox.push({ t: 'snapshot', req, ...(collect && { collect }) });
    });
  }

  listen(id: string, listener: ThreadListener): void {
    this.listeners.set(id, listener);
  }

  unlisten(id: string): void {
    this.listeners.delete(id);
  }

  /** Stops the thread; `crashed`: as if it had died by itself (its legs end, a new thread replaces it). */
  terminate(crashed = false): Promise<number> {
    if (!crashed) this.dead = true;
    return this.worker.terminate();
  }

  private receive(m: FromThread): void {
    switch (m.t) {
      case 'reply': {
        const waiter = this.pending.get(m.req);
        this.pending.delete(m.req);
        if (!waiter) return;
        if (m.ok) waiter.resolve(m);
        else waiter.reject(m.code !== undefined && m.code in ERROR_CODES ? new LegwayError(m.code as ErrorCode, m.message) : new Error(m.message));
        return;
      }
      case 'snapshot': {
        this.snapshot = m.snapshot;
        if (m.req === undefined) return;
        this.snapshotWaiters.get(m.req)?.(m.snapshot);
        this.snapshotWaiters.delete(m.req);
        return;
      }
      case 'speaking':
        this.listeners.get(`bridge:${m.conv}`)?.(m);
        return;
      case 'log':
        this.logger[m.level]({ thread: this.index, err: m.err }, m.msg);
        return;
      case 'playerEnded':
        this.listeners.get(`player:${m.id}`)?.(m);
        return;
      case 'tapFrames':
      case 'tapEnded':
        this.listeners.get(`tap:${m.id}`)?.(m);
        return;
      default:
        this.listeners.get(m.id)?.(m);
    }
  }

  private died(code: number): void {
    const expected = this.dead;
    this.dead = true;
    this.outbox.clear();
    for (const waiter of this.pending.values()) waiter.reject(fail('Unavailable', 'media thread is gone'));
    this.pending.clear();
    for (const resolve of this.snapshotWaiters.values()) resolve(this.snapshot);
    this.snapshotWaiters.clear();
    if (expected) return;
    this.logger.error({ thread: this.index, code }, 'media thread exited; its legs end');
    this.onDeath(this);
  }
}

/** Told when a media thread dies: each object it held ends (its leg with it). */
export type DeathListener = () => void;

/**
 * The media threads (LEGWAY_MEDIA_THREADS; one per core by default): each conversation's bridge
 * and its legs' audio sockets live on one of them, chosen as the least loaded when the
 * conversation first needs media, so that nothing on the main thread can delay a bridge's tick.
 */
export class MediaThreads {
  /** Each slot's thread, started when first needed (a gateway without calls starts none). */
  private readonly threads: (MediaThread | undefined)[];
  /** Each conversation with media: its thread and how many media objects it holds there. */
  private readonly placed = new Map<string, { thread: MediaThread; count: number }>();
  private readonly deathListeners = new Map<MediaThread, Set<DeathListener>>();
  private spareOptions: { options: RtpOpenOptions; count: number } | undefined;
  private closed = false;

  constructor(
    count: number,
    private readonly logLevel: string,
    private readonly logger: Logger,
    /** Nice value each thread asks for itself (see media/priority.ts); undefined leaves it as inherited. */
    private readonly priority?: number,
  ) {
    this.threads = Array.from({ length: Math.max(1, count) }, () => undefined);
  }

  /** The mean busy share (0–1) of the running threads since the previous call; 0 while none runs. */
  busyShare(): number {
    const running = this.threads.filter((t): t is MediaThread => t !== undefined && !t.dead);
    if (running.length === 0) return 0;
    return running.reduce((sum, t) => sum + t.busyShare(), 0) / running.length;
  }

  /**
   * Keeps `count` SIP RTP endpoints open ahead of their calls on every thread, so that a call is
   * answered in the turn its INVITE arrived (as with sockets of the main thread: a CANCEL right
   * behind the INVITE then meets a 200). Resolves once the first ones are open.
   */
  async keepSpares(options: RtpOpenOptions, count = SPARE_SIP_ENDPOINTS): Promise<void> {
    this.spareOptions = { options, count };
    await Promise.all(this.threads.map((_, i) => this.refill(this.threads[i] ?? this.start(i))));
  }

  /**
   * Starts every thread and waits until each answers, so the first calls do not wait for a thread to
   * load (hundreds of milliseconds), as a gateway that carries media does before it listens.
   */
  async warm(): Promise<void> {
    await Promise.all(this.threads.map((_, i) => (this.threads[i] ?? this.start(i)).fresh()));
  }

  /**
   * Refills a thread's spare SIP endpoints (after one was taken): every missing one is asked for at
   * once, so the requests share one message to the thread and one answer back, and a burst of calls
   * does not drain the spares faster than one round trip at a time puts them back.
   */
  async refill(thread: MediaThread): Promise<void> {
    const spare = this.spareOptions;
    if (!spare) return;
    const opening: Promise<void>[] = [];
    while (thread.spares.length + thread.sparesOpening < spare.count && !thread.dead) {
      const id = `rtp-spare-${String(nextSpare++)}`;
      thread.sparesOpening++;
      opening.push(
        thread
          .request({ t: 'rtpOpen', id, options: spare.options })
          .then(({ port }) => {
            thread.spares.push({ id, port: port ?? 0 });
          })
          .finally(() => {
            thread.sparesOpening--;
          }),
      );
    }
    const failed = (await Promise.allSettled(opening)).find((outcome) => outcome.status === 'rejected');
    if (failed) this.logger.warn({ err: failed.reason as unknown }, 'could not open a spare RTP endpoint');
  }

  /** The thread a conversation's media is on, or undefined when it has none now. */
  threadOf(conversationId: string): MediaThread | undefined {
    return this.placed.get(conversationId)?.thread;
  }

  /** Takes a place for one media object of a conversation: its thread, or the least loaded one for a new conversation. */
  acquire(conversationId: string, on?: MediaThread): MediaThread {
    let place = this.placed.get(conversationId);
    if (!place) {
      const thread = on ?? this.leastLoaded();
      place = { thread, count: 0 };
      this.placed.set(conversationId, place);
    }
    place.count++;
    place.thread.load++;
    return place.thread;
  }

  /** Gives back the place `acquire` took. */
  release(conversationId: string): void {
    const place = this.placed.get(conversationId);
    if (!place) return;
    place.thread.load = Math.max(0, place.thread.load - 1);
    if (--place.count <= 0) this.placed.delete(conversationId);
  }

  /** Calls `listener` if `thread` dies; returns the unsubscribe. */
  onDeath(thread: MediaThread, listener: DeathListener): () => void {
    let set = this.deathListeners.get(thread);
    if (!set) {
      set = new Set();
      this.deathListeners.set(thread, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The statistics of every thread, fresh. */
  async snapshots(collect = false): Promise<Snapshot[]> {
    return Promise.all(this.started().map((t) => t.fresh(collect)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.started().map((t) => t.terminate()));
  }

  /** Test hook: ends the thread of a conversation's media as a crash would. */
  crashThreadOf(conversationId: string): Promise<number> | undefined {
    return this.threadOf(conversationId)?.terminate(true);
  }

  private started(): MediaThread[] {
    return this.threads.filter((t) => t !== undefined);
  }

  /** The thread with the fewest media objects (a slot not started yet has none: it starts now). */
  private leastLoaded(): MediaThread {
    let best = 0;
    for (let i = 1; i < this.threads.length; i++) if ((this.threads[i]?.load ?? 0) < (this.threads[best]?.load ?? 0)) best = i;
    return this.threads[best] ?? this.start(best);
  }

  private start(index: number): MediaThread {
    const thread = this.spawn(index);
    this.threads[index] = thread;
    void this.refill(thread);
    return thread;
  }

  private spawn(index: number): MediaThread {
    return new MediaThread(index, this.logLevel, this.logger, (dead) => this.replace(dead), this.priority);
  }

  private replace(dead: MediaThread): void {
    const at = this.threads.indexOf(dead);
    for (const [conv, place] of this.placed) if (place.thread === dead) this.placed.delete(conv);
    const listeners = this.deathListeners.get(dead);
    this.deathListeners.delete(dead);
    if (!this.closed && at >= 0) this.start(dead.index);
    for (const listener of listeners ?? []) {
      try {
        listener();
      } catch (err) {
        this.logger.error({ err }, 'ending a leg of a dead media thread failed');
      }
    }
  }
}
