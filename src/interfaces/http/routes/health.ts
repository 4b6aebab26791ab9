import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../../observability/metrics.js';

export interface Readiness {
  /** Reasons the gateway is not ready; empty when it is. */
  problems(): string[];
}

/** /healthz (the process answers), /readyz (it can serve: store up, not shutting down), /metrics. */
export function healthRoutes(app: FastifyInstance, readiness: Readiness, metrics: Metrics): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const problems = readiness.problems();
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready' };
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
