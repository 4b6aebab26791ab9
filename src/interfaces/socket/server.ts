import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { TokenVerifier } from '../../auth/tokens.js';
import { LegwayError } from '../../domain/errors.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Services } from '../../services/services.js';
import { registerClientNamespace } from './clientNamespace.js';
import type { ConversationFeed } from './conversationFeed.js';
import { RequestLimiter } from './limiter.js';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from './protocol.js';

export type LegwayIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketDeps {
  logger: Logger;
  services: Services;
  verifier: TokenVerifier;
  metrics: Metrics;
  feed: ConversationFeed;
  maxPayloadBytes: number;
  socketRateLimit: number;
  tokenRateLimit: number;
}

/** Attaches socket.io to the HTTP server and registers the namespaces. */
export function createSocketServer(httpServer: HttpServer, deps: SocketDeps): LegwayIo {
  const io: LegwayIo = new Server(httpServer, {
    maxHttpBufferSize: deps.maxPayloadBytes,
    serveClient: false,
    cors: { origin: true, credentials: false },
  });

  io.use((socket, next) => {
    const token: unknown = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    deps.verifier.verify(token).then(
      (principal) => {
        if (principal.role === 'application') {
          next(handshakeError(new LegwayError('Forbidden', 'application tokens are for the REST API; connect as a user or operator')));
          return;
        }
        socket.data.principal = principal;
        next();
      },
      (err: unknown) => next(handshakeError(err)),
    );
  });

  const limiter = new RequestLimiter(deps.socketRateLimit, deps.tokenRateLimit);
  registerClientNamespace(io.of('/'), { ...deps, limiter });
  return io;
}

/** A handshake refusal: the client's `connect_error` carries the reason as message and `data.code`. */
function handshakeError(err: unknown): Error & { data: { code: string } } {
  const code = err instanceof LegwayError ? err.code : 'Unauthorized';
  const message = err instanceof LegwayError ? err.message : 'authentication failed';
  return Object.assign(new Error(message), { data: { code } });
}
