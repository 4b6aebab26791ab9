import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { seesAll } from '../../../auth/principal.js';
import type { TokenVerifier } from '../../../auth/tokens.js';
import { fail } from '../../../domain/errors.js';
import type { Metrics } from '../../../observability/metrics.js';
import { isLoopbackPeer } from '../loopback.js';
import { problems } from '../responses.js';

/**
 * Who may read `/metrics` (README, Health and metrics):
 * - `token`: only `Authorization: Bearer <LEGWAY_METRICS_TOKEN>`, from anywhere;
 * - `listener`: anyone who reaches the listener of its own (`LEGWAY_METRICS_LISTEN` without a token);
 * - `local`: the default on the main port, loopback peers, or an application or operator token.
 */
export type MetricsAccess = { kind: 'token'; token: string } | { kind: 'listener' } | { kind: 'local'; verifier: TokenVerifier };

function bearerOf(req: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Compares in time that does not depend on where the strings differ, nor (hashed first) on their lengths. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The check run before `/metrics` answers; throws `Unauthorized` or `Forbidden`. */
function guard(access: MetricsAccess): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    if (access.kind === 'listener') return;
    const bearer = bearerOf(req);
    if (access.kind === 'token') {
      if (bearer === undefined || !sameSecret(bearer, access.token)) throw fail('Unauthorized', 'GET /metrics needs Authorization: Bearer <metrics token>');
      return;
    }
    // The socket's own peer address: a forwarded-for header is the client's word, not a fact.
    if (isLoopbackPeer(req.socket.remoteAddress)) return;
    if (bearer === undefined) {
      throw fail('Unauthorized', 'GET /metrics answers this host, or an application or operator token; configure a metrics token to scrape from elsewhere');
    }
    const principal = await access.verifier.verify(bearer);
    if (!seesAll(principal)) throw fail('Forbidden', 'GET /metrics needs an application or operator token');
  };
}

/**
 * How /metrics is described in /openapi.json: the main server's zod compilers read it. The listener
 * of its own (LEGWAY_METRICS_LISTEN) has neither those compilers nor a document, so it goes without.
 */
export const metricsSchema = {
  summary: 'Prometheus metrics (to this machine, an application or operator token, or the metrics token)',
  tags: ['health'],
  response: {
    200: { description: 'The Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
    ...problems(401, 403),
  },
};

/** GET /metrics (Prometheus text), behind the given access rule; `schema` documents it where there is a document. */
export function metricsRoutes(app: FastifyInstance, metrics: Metrics, access: MetricsAccess, schema?: typeof metricsSchema): void {
  app.get('/metrics', { onRequest: guard(access), ...(schema && { schema }) }, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
