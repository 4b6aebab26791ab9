import fc from 'fast-check';
import { io as connectClient, type Socket } from 'socket.io-client';
import { ERROR_CODES } from '../src/domain/errors.js';
import type { FuzzWorld } from './gateway.js';
import { checkAsync, InvariantFailure, Tally, type Budget, type TargetResult } from './property.js';
import { json, payloads } from './shapes.js';
import { runChecked, type CheckedRun, type StateWatch } from './stateWatch.js';

/** Names socket.io keeps for itself: a client cannot emit them. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const ACK_TIMEOUT_MS = 10_000;

interface FuzzClient {
  readonly label: string;
  readonly namespace: string;
  readonly token: string;
  socket: Socket;
  /** The request names the gateway registered on this client's server-side socket. */
  names: string[];
}

interface SocketInput {
  readonly client: number;
  /** An index into the client's request names, or a name of its own (unknown requests). */
  readonly name: number | string;
  readonly payload: unknown;
  readonly withPayload: boolean;
}

type Outcome = { kind: 'ack'; ack: unknown } | { kind: 'disconnected' };

async function open(url: string, namespace: string, token: string): Promise<Socket> {
  const socket = connectClient(`${url}${namespace}`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  return socket;
}

/** The names of the requests the gateway listens to on the server side of `socket`. */
function requestNames(world: FuzzWorld, namespace: string, socket: Socket): string[] {
  const server = world.gateway.app.io.of(namespace).sockets.get(socket.id ?? '');
  if (!server) throw new Error(`no server-side socket for ${namespace}`);
  return server
    .eventNames()
    .filter((n): n is string => typeof n === 'string' && !RESERVED.has(n))
    .sort();
}

function send(client: FuzzClient, name: string, input: SocketInput): Promise<Outcome> {
  const socket = client.socket;
  return new Promise((resolve, reject) => {
    const onDisconnect = (): void => {
      clearTimeout(timer);
      resolve({ kind: 'disconnected' });
    };
    const timer = setTimeout(() => {
      socket.off('disconnect', onDisconnect);
      reject(new InvariantFailure(`no acknowledgement within ${ACK_TIMEOUT_MS} ms`));
    }, ACK_TIMEOUT_MS);
    socket.once('disconnect', onDisconnect);
    const ack = (answer: unknown): void => {
      clearTimeout(timer);
      socket.off('disconnect', onDisconnect);
      resolve({ kind: 'ack', ack: answer });
    };
    if (input.withPayload) socket.emit(name, input.payload, ack);
    else socket.emit(name, ack);
  });
}

/** Checks an acknowledgement's shape; true when it accepts the request. */
function judgeAck(ack: unknown): boolean {
  if (ack === null || typeof ack !== 'object' || typeof (ack as { ok?: unknown }).ok !== 'boolean')
    throw new InvariantFailure(`malformed ack ${JSON.stringify(ack)}`);
  const { ok, error } = ack as { ok: boolean; error?: { code?: unknown; message?: unknown } };
  if (ok) return true;
  const code = error?.code;
  if (typeof code !== 'string' || !(code in ERROR_CODES) || typeof error?.message !== 'string')
    throw new InvariantFailure(`error ack without a stable code: ${JSON.stringify(ack)}`);
  if (code === 'Internal') throw new InvariantFailure(`error ack Internal: ${error.message}`);
  return false;
}

/**
 * Socket requests over real socket.io clients (the seeded user and a stranger on `/`, an operator
 * on `/operator`): every request name the gateway registered on each socket, and unknown ones,
 * with payloads shaped like the input schemas and wrong, arbitrary, or none. Each must be
 * acknowledged `{ ok: true, … }` or `{ ok: false, error: { code, message } }` with a catalogued
 * code other than Internal — or, for a payload over the size limit, end the connection — and a
 * rejected one must change nothing in the store.
 */
export async function fuzzSocketRequests(budget: Budget, world: FuzzWorld, watch: StateWatch, every?: (n: number) => Promise<void>): Promise<TargetResult> {
  const { url, config } = world.gateway;
  const clients: FuzzClient[] = [];
  for (const [label, namespace, token] of [
    ['user', '/', world.tokens.user],
    ['operator', '/operator', world.tokens.operator],
    ['stranger', '/', world.tokens.stranger],
  ] as const) {
    const socket = await open(url, namespace, token);
    clients.push({ label, namespace, token, socket, names: requestNames(world, namespace, socket) });
  }
  const tally = new Tally();
  const checked: CheckedRun = { watch, tally, background: 0 };
  let disconnects = 0;
  let count = 0;
  let madeSeen = world.engine.made.length;
  const arbitrary: fc.Arbitrary<SocketInput> = fc.record({
    client: fc.nat({ max: clients.length - 1 }),
    name: fc.oneof(
      { weight: 30, arbitrary: fc.nat() },
      {
        weight: 1,
        arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'conversation:join:x', 'rtc:offer')),
      },
    ),
    payload: payloads(world),
    withPayload: fc.nat({ max: 15 }).map((n) => n !== 0),
  });
  const nameOf = (input: SocketInput): string => {
    const client = clients[input.client]!;
    return typeof input.name === 'string' ? input.name : (client.names[input.name % client.names.length] ?? 'none');
  };
  try {
    const run = await checkAsync(
      arbitrary,
      async (input) => {
        const client = clients[input.client]!;
        const name = nameOf(input);
        if (RESERVED.has(name)) return;
        const size = Buffer.byteLength(json([name, input.payload]));
        await runChecked<Outcome>(checked, async () => {
          const outcome = await send(client, name, input);
          if (outcome.kind === 'disconnected') {
            // Only a message over the size limit may end the connection (socket.io's maxHttpBufferSize).
            if (size < config.bodyLimit - 64) throw new InvariantFailure(`the gateway ended the connection on a ${size}-byte request`);
            disconnects++;
            client.socket = await open(url, client.namespace, client.token);
            return { result: outcome, accepted: false };
          }
          return { result: outcome, accepted: judgeAck(outcome.ack) };
        });
        // A leg an accepted rtc:new made connects at once, as a browser's would.
        while (madeSeen < world.engine.made.length) {
          const endpoint = world.engine.made[madeSeen++]!;
          if (!endpoint.closed) endpoint.connect();
        }
        if (++count % 10_000 === 0) await every?.(count);
      },
      budget,
      tally,
      (input) =>
        `${clients[input.client]?.label ?? '?'} ${JSON.stringify(nameOf(input))} ${input.withPayload ? json(input.payload).slice(0, 2000) : '(no payload)'}`,
    );
    const names = clients.map((c) => `${c.label} on ${c.namespace}: ${c.names.join(', ')}`);
    return {
      name: 'Socket requests (real socket.io clients)',
      method: [
        "3 socket.io clients (the seeded member and a stranger on /, an operator on /operator); request names read from the gateway's own server-side sockets:",
        ...names.map((n) => `  ${n}`),
        'payloads drawn from the JSON Schema of every exported input schema (fields missing, mistyped, at and past their limits, real ids mixed in), arbitrary JSON, or none; 1 in 31 names unknown',
        `one request at a time; each must be acked with a catalogued code (not Internal); ${disconnects} over the size limit ended their connection, as they must`,
        `store checked around every rejected request (${checked.background} background writes told apart by replaying the input)`,
      ],
      ...run,
      ...tally.counts(),
    };
  } finally {
    for (const c of clients) c.socket.disconnect();
  }
}
