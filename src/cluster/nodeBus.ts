import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClientType } from 'redis';
import { z } from 'zod';
import { ERROR_CODES, fail, LegwayError, type ErrorCode } from '../domain/errors.js';

/** How long a request to another node may take before it fails as `Unavailable`. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Largest message accepted from the bus (an SDP offer is a few KiB). */
const MAX_MESSAGE_BYTES = 256 * 1024;

const channelOf = (nodeId: string): string => `legway:node:${nodeId}`;

const message = z.union([
  z.strictObject({
    kind: z.literal('request'),
    id: z.string().min(1).max(64),
    from: z.string().min(1).max(64),
    method: z.string().min(1).max(64),
    params: z.unknown(),
  }),
  z.strictObject({ kind: z.literal('reply'), id: z.string().min(1).max(64), result: z.unknown() }),
  z.strictObject({
    kind: z.literal('error'),
    id: z.string().min(1).max(64),
    code: z.string().max(64),
    message: z.string().max(2000),
  }),
]);

type Handler = (params: unknown) => Promise<unknown>;

/**
 * Requests between the nodes of a cluster over Redis pub/sub: each node listens on its own channel;
 * a request names the method and carries JSON parameters, and the reply (or the error, with its
 * stable code) comes back on the asker's channel. A request to a node nobody listens for fails at
 * once; one unanswered within 10 s fails as `Unavailable`.
 */
export class NodeBus {
  private readonly handlers = new Map<string, Handler>();
  private readonly waiting = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
  private closed = false;

  private constructor(
    private readonly client: RedisClientType,
    private readonly subscriber: RedisClientType,
    readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  /** Listens on this node's channel (a second connection: a subscribed one can do nothing else). */
  static async start(client: RedisClientType, nodeId: string, logger: Logger): Promise<NodeBus> {
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    const bus = new NodeBus(client, subscriber, nodeId, logger);
    await subscriber.subscribe(channelOf(nodeId), (raw: string) => bus.receive(raw));
    return bus;
  }

  /** Serves `method` for the other nodes; `fn` validates its own parameters. */
  handle(method: string, fn: Handler): void {
    this.handlers.set(method, fn);
  }

  /** Asks node `nodeId` to run `method`; resolves with its result, or rejects with its error's code. */
  async request(nodeId: string, method: string, params: unknown): Promise<unknown> {
    if (this.closed) throw fail('Unavailable', 'this node is shutting down');
    const id = randomUUID();
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(fail('Unavailable', `node ${nodeId} did not answer in time`));
      }, REQUEST_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
    });
    const receivers = await this.client.publish(channelOf(nodeId), JSON.stringify({ kind: 'request', id, from: this.nodeId, method, params }));
    if (receivers === 0) {
      const waiter = this.waiting.get(id);
      if (waiter) {
        clearTimeout(waiter.timer);
        this.waiting.delete(id);
      }
      throw fail('Unavailable', `node ${nodeId} is not reachable`);
    }
    return reply;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(fail('Unavailable', 'this node is shutting down'));
      this.waiting.delete(id);
    }
    if (this.subscriber.isOpen) await this.subscriber.close();
  }

  private receive(raw: string): void {
    if (raw.length > MAX_MESSAGE_BYTES) {
      this.logger.warn({ bytes: raw.length }, 'refused an oversized message from the node bus');
      return;
    }
    let parsed;
    try {
      parsed = message.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.logger.warn('refused a malformed message from the node bus');
      return;
    }
    const m = parsed.data;
    if (m.kind === 'request') {
      void this.serve(m.id, m.from, m.method, m.params);
      return;
    }
    const waiter = this.waiting.get(m.id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiting.delete(m.id);
    if (m.kind === 'reply') waiter.resolve(m.result);
    else waiter.reject(new LegwayError(knownCode(m.code), m.message));
  }

  private async serve(id: string, from: string, method: string, params: unknown): Promise<void> {
    let answer: object;
    try {
      const handler = this.handlers.get(method);
      if (!handler) throw fail('BadRequest', `unknown node request ${method}`);
      answer = { kind: 'reply', id, result: (await handler(params)) ?? null };
    } catch (err) {
      const known = err instanceof LegwayError;
      if (!known) this.logger.error({ err, method }, 'a node request failed');
      answer = { kind: 'error', id, code: known ? err.code : 'Internal', message: known ? err.message : 'internal error' };
    }
    try {
      await this.client.publish(channelOf(from), JSON.stringify(answer));
    } catch (err) {
      this.logger.warn({ err, method }, 'could not answer a node request');
    }
  }
}

function knownCode(code: string): ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'Internal';
}
