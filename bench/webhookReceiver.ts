import { spawn, type ChildProcess } from 'node:child_process';

/** One POST the receiver took: the event it carried, when its body had been read, and the body. */
export interface Arrival {
  conversationId: string;
  id: number;
  /** process.hrtime.bigint() in the receiver: CLOCK_MONOTONIC, the same clock in every process here. */
  at: bigint;
  raw: string;
}

/**
 * The receiver's code, run by a plain `node` in a child process: records what arrived when, and
 * answers 200 at once or, with RECEIVER_DELAY_MS set, that long after the body was read (a receiver
 * that far away, or that slow to answer).
 */
const RECEIVER_SOURCE = `
const { createServer } = require('node:http');
const delayMs = Number(process.env.RECEIVER_DELAY_MS || 0);
const arrivals = [];
let malformed = 0;
/** Waits for a count: [count, id] pairs, answered when that many events have arrived. */
let waits = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = process.hrtime.bigint();
    if (delayMs > 0) setTimeout(() => res.writeHead(200, { 'content-length': '0' }).end(), delayMs);
    else res.writeHead(200, { 'content-length': '0' }).end();
    const raw = Buffer.concat(chunks).toString('utf8');
    try {
      const event = JSON.parse(raw);
      if (typeof event.conversation_id !== 'string' || typeof event.id !== 'number') throw new Error('not an event');
      arrivals.push({ conversationId: event.conversation_id, id: event.id, at, raw });
    } catch {
      malformed++;
    }
    if (waits.length > 0) answerWaits();
  });
});
function answerWaits() {
  const still = [];
  for (const w of waits) {
    if (arrivals.length >= w.count) process.send({ type: 'reached', id: w.id });
    else still.push(w);
  }
  waits = still;
}
server.listen(0, '127.0.0.1', () => process.send({ type: 'port', port: server.address().port }));
process.on('message', (m) => {
  if (m.type === 'collect') process.send({ type: 'collected', arrivals: arrivals.slice(m.from), malformed });
  else if (m.type === 'count') process.send({ type: 'count', count: arrivals.length, cpu: process.cpuUsage() });
  else if (m.type === 'wait') {
    waits.push({ count: m.count, id: m.id });
    answerWaits();
  } else if (m.type === 'close') {
    server.closeAllConnections();
    server.close(() => process.send({ type: 'closed' }, () => process.exit(0)));
  }
});
`;

type Reply =
  | { type: 'port'; port: number }
  | { type: 'reached'; id: number }
  | { type: 'collected'; arrivals: Arrival[]; malformed: number }
  | { type: 'count'; count: number; cpu: NodeJS.CpuUsage }
  | { type: 'closed' };

/**
 * A real HTTP webhook receiver in a child process (plain node, no loader), so that its CPU is not
 * counted as the gateway's: the gateway's process then holds only the gateway and the poster.
 * Arrival counts are asked for over IPC, never sent per request.
 */
export class BenchReceiver {
  private readonly child: ChildProcess;
  private nextWait = 0;

  /** `delayMs`: how long after reading a request's body the receiver answers it (0: at once). */
  constructor(delayMs = 0) {
    this.child = spawn(process.execPath, ['-e', RECEIVER_SOURCE], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Structured clone, so that the bigint arrival times cross as they are.
      serialization: 'advanced',
      env: { ...process.env, RECEIVER_DELAY_MS: String(delayMs) },
    });
  }

  async start(): Promise<string> {
    const { port } = await this.next('port');
    return `http://127.0.0.1:${port}/events`;
  }

  /** Events arrived so far, and the receiver's CPU time (µs, user + system) since it started. */
  async count(): Promise<{ count: number; cpuUs: number }> {
    const reply = this.next('count');
    this.child.send({ type: 'count' });
    const { count, cpu } = await reply;
    return { count, cpuUs: cpu.user + cpu.system };
  }

  /** Resolves true once `count` events have arrived in total, false after the timeout. */
  async until(count: number, timeoutMs: number): Promise<boolean> {
    const id = this.nextWait++;
    let timer: NodeJS.Timeout | undefined;
    let onMessage: ((m: Reply) => void) | undefined;
    try {
      return await new Promise<boolean>((resolve) => {
        onMessage = (m) => {
          if (m.type === 'reached' && m.id === id) resolve(true);
        };
        this.child.on('message', onMessage);
        timer = setTimeout(() => resolve(false), timeoutMs);
        this.child.send({ type: 'wait', count, id });
      });
    } finally {
      clearTimeout(timer);
      if (onMessage) this.child.off('message', onMessage);
    }
  }

  /** What arrived from index `from` on, and how many requests did not carry an event. */
  async collect(from = 0): Promise<{ arrivals: Arrival[]; malformed: number }> {
    const reply = this.next('collected');
    this.child.send({ type: 'collect', from });
    const { arrivals, malformed } = await reply;
    return { arrivals, malformed };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' });
    await exited;
  }

  /** The next reply of type `type`; rejects if the child fails or exits first. */
  private next<K extends Reply['type']>(type: K): Promise<Extract<Reply, { type: K }>> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        this.child.off('message', onMessage);
        this.child.off('error', onError);
        this.child.off('exit', onExit);
      };
      const onMessage = (m: Reply): void => {
        if (m.type !== type) return;
        cleanup();
        resolve(m as Extract<Reply, { type: K }>);
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`the webhook receiver exited (code ${code})`));
      };
      this.child.on('message', onMessage);
      this.child.once('error', onError);
      this.child.once('exit', onExit);
    });
  }
}
