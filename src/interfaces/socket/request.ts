import type { Logger } from 'pino';
import type { z } from 'zod';
import { toLegwayError, type ErrorCode } from '../../domain/errors.js';
import { parseOrThrow } from '../../domain/validation.js';
import type { Metrics } from '../../observability/metrics.js';
import type { RequestLimiter } from './limiter.js';
import type { Ack, SocketData } from './protocol.js';

/** The part of a server-side socket that requests use; every namespace's typed socket fits it. */
export interface RequestSocket {
  readonly id: string;
  readonly data: SocketData;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** socket.io passes the event name as sent: a string, or a number (its parser accepts both). */
  onAny(listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export interface RequestDeps {
  logger: Logger;
  metrics: Metrics;
  limiter: RequestLimiter;
  /** The store's group commit: a request is acknowledged only once what it wrote is durable. */
  services: { events: { durable(): Promise<void> } };
}

export interface RequestOptions {
  /** Code of the error ack for a payload that fails its schema (default `ValidationFailed`). */
  invalidPayload?: ErrorCode;
}

/** A request handler; `afterAck` queues work that must follow the acknowledgement on the wire. */
export type Handler<S extends z.ZodType> = (
  payload: z.infer<S>,
  afterAck: (fn: () => void) => void,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** Registers a socket's requests, and answers every name it did not register. */
export interface SocketRequests<N extends string> {
  /** Registers a request: rate limit, validate, run, answer with one ack; nothing escapes as a crash. */
  request: <S extends z.ZodType>(name: N, schema: S, handler: Handler<S>) => void;
  /** Answers any other request name with an `UnknownRequest` ack (call once, after the requests). */
  answerUnknown: () => void;
}

/** The request pattern of the socket protocol (README, Socket API), for one socket of any namespace. */
export function socketRequests<N extends string>(socket: RequestSocket, deps: RequestDeps, options: RequestOptions = {}): SocketRequests<N> {
  const principal = socket.data.principal;
  const log = deps.logger.child({ component: 'socket', socket_id: socket.id, role: principal.role });
  const invalidPayload = options.invalidPayload ?? 'ValidationFailed';
  // A Set, not an object: names such as 'constructor' or '__proto__' must not count as registered.
  const names = new Set<string>();

  return {
    request(name, schema, handler) {
      names.add(name);
      socket.on(name, (...args: unknown[]) => {
        // The ack is the last argument; a request sent without a payload has only the ack.
        const last = args.at(-1);
        const reply: Ack = typeof last === 'function' ? (last as Ack) : () => undefined;
        const payload = typeof args[0] === 'function' ? undefined : args[0];
        void (async () => {
          try {
            await deps.limiter.take(socket.id, `${principal.role}:${principal.sub}`);
            const input = parseOrThrow(schema, payload, `${name} payload`, invalidPayload);
            const after: (() => void)[] = [];
            const result = await handler(input, (fn) => after.push(fn));
            await deps.services.events.durable();
            deps.metrics.socketRequests.inc({ request: name, outcome: 'ok' });
            reply({ ok: true, ...result });
            for (const fn of after) fn();
          } catch (err) {
            // A refused request may still have written (an event before the failure): answer after it too.
            await deps.services.events.durable().catch(() => undefined);
            const error = toLegwayError(err);
            if (error.code === 'Internal') log.error({ err, request: name }, 'socket request failed');
            deps.metrics.socketRequests.inc({ request: name, outcome: error.code });
            reply({ ok: false, error: { code: error.code, message: error.message } });
          }
        })();
      });
    },

    answerUnknown() {
      socket.onAny((name: unknown, ...args: unknown[]) => {
        if (typeof name === 'string' && names.has(name)) return;
        const ack = args.at(-1);
        deps.metrics.socketRequests.inc({ request: 'unknown', outcome: 'UnknownRequest' });
        if (typeof ack === 'function') {
          (ack as Ack)({ ok: false, error: { code: 'UnknownRequest', message: `unknown request "${String(name).slice(0, 60)}"` } });
        }
      });
    },
  };
}
