/**
 * The channel between benchmark 9's gateway process (bench/webrtcJoin.bench.ts) and its clients'
 * process (bench/webrtcJoinClients.ts). Every message is checked with zod on arrival: it crossed a
 * process boundary, so its static type is only a claim about what the other side meant to send.
 * The parent asks one thing at a time and waits for its answer, so a reply never needs an id.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const client = z.object({ name: z.string(), token: z.string(), conversationId: z.string() });
export type ClientSpec = z.infer<typeof client>;

export const toClients = z.discriminatedUnion('kind', [
  /** Make `timed + warmUp` offers, `batch` at a time. */
  z.object({ kind: z.literal('offer'), timed: z.number().int().positive(), warmUp: z.number().int().nonnegative(), batch: z.number().int().positive() }),
  /** Connect every client, room by room, and have each send conversation:join. */
  z.object({ kind: z.literal('connect'), url: z.string(), rooms: z.array(z.array(client)), warmUpRooms: z.array(z.array(client)) }),
  z.object({ kind: z.literal('warmUp'), ratePerS: z.number().positive() }),
  z.object({ kind: z.literal('run'), ratePerS: z.number().positive() }),
  z.object({ kind: z.literal('hangUp') }),
  z.object({ kind: z.literal('stop') }),
]);
export type ToClients = z.infer<typeof toClients>;

const join = z.object({
  ms: z.number(),
  /** The ack said ok. */
  ok: z.boolean(),
  legId: z.string().optional(),
  /** The ack carried an SDP answer with a DTLS fingerprint. */
  answerOk: z.boolean(),
  /** Seconds from the first emit of the run. */
  startedAt: z.number(),
  /** The ack's error, or why there was no ack. */
  error: z.string().optional(),
});
export type JoinResult = z.infer<typeof join>;

const stall = z.object({ at: z.number(), ms: z.number(), what: z.string() });

export const fromClients = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('offers'), sdps: z.array(z.string()) }),
  z.object({ kind: z.literal('connected') }),
  z.object({ kind: z.literal('warmedUp') }),
  z.object({
    kind: z.literal('ran'),
    joins: z.array(join),
    /** The clients' process's own CPU (process.cpuUsage) and wall time from its first emit to its last ack. */
    cpu: z.object({ userUs: z.number(), systemUs: z.number(), wallMs: z.number() }),
    stalls: z.array(stall),
  }),
  z.object({ kind: z.literal('hungUp'), legs: z.number().int() }),
  z.object({ kind: z.literal('stopped') }),
  z.object({ kind: z.literal('failed'), error: z.string() }),
]);
export type FromClients = z.infer<typeof fromClients>;
type Reply = Exclude<FromClients, { kind: 'failed' }>;

/** Runs `job(i)` for i < count, one every 1000 / ratePerS ms from now (drift-free), and waits for all of them. */
export async function paced<T>(count: number, ratePerS: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const start = performance.now();
  const running: Promise<T>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / ratePerS - performance.now();
    if (wait > 0) await sleep(wait);
    running.push(job(i));
  }
  return Promise.all(running);
}

export const describeError = (err: unknown): string => (err instanceof Error ? (err.stack ?? err.message) : String(err));

/** The parent's end: the clients' process, started with tsx so it runs from its TypeScript source. */
export class ClientProcess {
  private readonly child: ChildProcess;
  private pending: { resolve(message: FromClients): void; reject(err: Error): void } | undefined;
  /** Something arrived that no question asked for: the next question fails with it rather than hide it. */
  private broken: Error | undefined;
  private exitedWith: string | undefined;
  /** Resolves with how the process ended: `code N` or the signal. */
  private readonly exited: Promise<string>;

  constructor() {
    const entry = fileURLToPath(new URL('./webrtcJoinClients.ts', import.meta.url));
    // Resolved from here, not from the working directory, so the bench runs from anywhere.
    this.child = fork(entry, [], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (raw) => {
      const parsed = fromClients.safeParse(raw);
      const message: FromClients = parsed.success ? parsed.data : { kind: 'failed', error: `unreadable message: ${parsed.error.message}` };
      const pending = this.pending;
      this.pending = undefined;
      if (pending) pending.resolve(message);
      else this.broken ??= new Error(`clients' process sent ${JSON.stringify(message).slice(0, 300)} unasked`);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitedWith = signal ?? `code ${String(code)}`;
        this.pending?.reject(new Error(`clients' process exited (${this.exitedWith})`));
        this.pending = undefined;
        resolve(this.exitedWith);
      });
    });
    this.child.on('error', (err) => {
      this.pending?.reject(err);
      this.pending = undefined;
      this.broken ??= err;
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Sends `command` and resolves with the reply of kind `reply`; a `failed` reply, another kind, an exit or `timeoutMs` rejects. */
  async ask<K extends Reply['kind']>(command: ToClients, reply: K, timeoutMs: number): Promise<Extract<Reply, { kind: K }>> {
    if (this.broken) throw this.broken;
    if (this.exitedWith !== undefined) throw new Error(`clients' process exited (${this.exitedWith})`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const message = await new Promise<FromClients>((resolve, reject) => {
        this.pending = { resolve, reject };
        timer = setTimeout(() => {
          this.pending = undefined;
          reject(new Error(`clients' process did not answer ${command.kind} within ${String(timeoutMs)} ms`));
        }, timeoutMs);
        this.child.send(command, (err) => {
          if (!err) return;
          this.pending = undefined;
          reject(err);
        });
      });
      if (message.kind === 'failed') throw new Error(`clients' process, on ${command.kind}: ${message.error}`);
      if (message.kind !== reply) throw new Error(`clients' process answered ${command.kind} with ${message.kind}, not ${reply}`);
      return message as Extract<Reply, { kind: K }>;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Asks the clients to disconnect and the process to end; kills it if it has not exited within
   * `timeoutMs` (it should exit by itself once its sockets and IPC channel are closed, so a kill
   * means it left something open). Never throws: it runs in a finally. Returns what went wrong, if anything.
   */
  async stop(timeoutMs = 10_000): Promise<string | undefined> {
    if (this.exitedWith !== undefined) return `clients' process exited before it was stopped (${this.exitedWith})`;
    let problem: string | undefined;
    // Whatever went wrong before has been reported by the question it failed; stopping still has to be asked.
    this.broken = undefined;
    try {
      await this.ask({ kind: 'stop' }, 'stopped', timeoutMs);
    } catch (err) {
      problem = `clients' process did not stop cleanly: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (!(await within(this.exited, timeoutMs))) {
      this.child.kill('SIGKILL');
      // Bounded even so: a process that never started has no exit to wait for.
      await within(this.exited, timeoutMs);
      return problem ?? `clients' process had not exited ${String(timeoutMs)} ms after stopping (a handle left open); killed`;
    }
    const exit = await this.exited;
    return problem ?? (exit === 'code 0' ? undefined : `clients' process exited with ${exit}`);
  }
}

/** Whether `promise` settles within `ms`; the timer is cleared either way, so it holds no process open. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))]);
  } finally {
    clearTimeout(timer);
  }
}
