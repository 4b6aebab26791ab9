import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { Principal } from '../../auth/principal.js';
import type { TokenVerifier } from '../../auth/tokens.js';
import type { LimitsConfig } from '../../config/schema.js';
import { fail, LegwayError } from '../../domain/errors.js';
import type { LimitWarnings } from '../../services/limitWarnings.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import { registerClientNamespace } from './clientNamespace.js';
import type { ConversationFeed } from './conversationFeed.js';
import { coalesceFlushes } from './flushCoalescing.js';
import { ConnectionQuota } from './connectionQuota.js';
import { RequestLimiter } from './limiter.js';
import { SendBuffers, type Connection } from './sendBuffers.js';
import { registerOperatorNamespace, type OperatorNamespace } from './operatorNamespace.js';
import type { CommittedSource } from './operatorWatch.js';
import type { AdapterFactory } from '../../cluster/redisLink.js';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from './protocol.js';

export type LegwayIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketDeps {
  logger: Logger;
  /** socket.io's adapter between the nodes of a cluster (Redis); the in-memory one when undefined. */
  adapter?: AdapterFactory | undefined;
  services: Services;
  verifier: TokenVerifier;
  metrics: Metrics;
  feed: ConversationFeed;
  /** The event log's committed events, for operators who watch. */
  committed: CommittedSource;
  maxPayloadBytes: number;
  socketRateLimit: number;
  tokenRateLimit: number;
  /** Connections per subject and per address, and the bytes one connection may leave unsent. */
  limits: Pick<LimitsConfig, 'socketsPerSubject' | 'socketsPerIp' | 'socketMaxBufferedBytes'>;
  warnings: LimitWarnings;
}

/** Attaches socket.io to the HTTP server and registers the namespaces. */
export function createSocketServer(httpServer: HttpServer, deps: SocketDeps): LegwayIo {
  const io: LegwayIo = new Server(httpServer, {
    maxHttpBufferSize: deps.maxPayloadBytes,
    serveClient: false,
    cors: { origin: true, credentials: false },
    ...(deps.adapter && { adapter: deps.adapter }),
  });
  coalesceFlushes(io);
  const buffers = new SendBuffers(deps.limits.socketMaxBufferedBytes, deps.warnings, deps.logger.child({ component: 'socket' }));
  io.engine.on('connection', (conn: Connection) => buffers.watch(conn));
  // One quota for both namespaces: an operator's connections count as much as a user's.
  const quota = new ConnectionQuota(deps.limits.socketsPerSubject, deps.limits.socketsPerIp, deps.warnings);

  // `io.use` guards the main namespace only: each namespace verifies the token itself.
  io.use(
    authenticate(deps.verifier, quota, (p) =>
      p.role === 'application' ? fail('Forbidden', 'application tokens are for the REST API; connect as a user or operator') : undefined,
    ),
  );
  // The namespace's maps differ from the main one's; socket.io types `of()` with the server's maps.
  const operators = io.of('/operator') as unknown as OperatorNamespace;
  operators.use(
    authenticate(deps.verifier, quota, (p) =>
      p.role === 'operator' ? undefined : fail('Forbidden', `the operator namespace needs an operator token (this is a ${p.role} token)`),
    ),
  );

  // One limiter for both namespaces: a token's budget is shared by all its connections.
  const limiter = new RequestLimiter(deps.socketRateLimit, deps.tokenRateLimit);
  registerClientNamespace(io.of('/'), { ...deps, limiter, buffers });
  registerOperatorNamespace(operators, { ...deps, limiter });
  return io;
}

/** What the handshake middleware reads and writes on a socket of any namespace. */
interface HandshakeSocket {
  handshake: { auth: unknown; address: string };
  data: Partial<SocketData>;
  conn: { once(event: 'close', listener: () => void): unknown; off(event: 'close', listener: () => void): unknown };
  once(event: 'disconnect', listener: () => void): unknown;
}

/**
 * Handshake middleware: verifies the token of `auth.token`, then lets `refuse` turn the principal
 * away (a LegwayError) or admit it (undefined), and takes its place in the connection quota; an
 * admitted principal is kept in `socket.data`.
 */
function authenticate(verifier: TokenVerifier, quota: ConnectionQuota, refuse: (p: Principal) => LegwayError | undefined) {
  return (socket: HandshakeSocket, next: (err?: Error) => void): void => {
    const token: unknown = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    verifier.verify(token).then(
      (principal) => {
        const refusal = refuse(principal);
        if (refusal) {
          next(handshakeError(refusal));
          return;
        }
        const place = quota.admit(`${principal.role}:${principal.sub}`, socket.handshake.address);
        if (place instanceof LegwayError) {
          next(handshakeError(place));
          return;
        }
        // Given back when the socket leaves, or when its connection closes before it ever connected.
        // The connection may outlive many sockets (namespaces joined and left): its listener goes too.
        const release = (): void => {
          place.release();
          socket.conn.off('close', release);
        };
        socket.once('disconnect', release);
        socket.conn.once('close', release);
        socket.data.principal = principal;
        next();
      },
      (err: unknown) => next(handshakeError(err)),
    );
  };
}

/** A handshake refusal: the client's `connect_error` carries the reason as message and `data.code`. */
function handshakeError(err: unknown): Error & { data: { code: string } } {
  const code = err instanceof LegwayError ? err.code : 'Unauthorized';
  const message = err instanceof LegwayError ? err.message : 'authentication failed';
  return Object.assign(new Error(message), { data: { code } });
}

/** Resolves once no client connection has messages waiting to be written, or after `limitMs`. */
export async function clientsFlushed(io: LegwayIo, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  const pending = (): boolean => {
    const clients = (io.engine as unknown as { clients: Record<string, { writeBuffer?: unknown[] }> }).clients;
    return Object.values(clients).some((c) => (c.writeBuffer?.length ?? 0) > 0);
  };
  while (pending() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
