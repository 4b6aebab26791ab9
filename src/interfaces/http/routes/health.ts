import type { FastifyInstance } from 'fastify';

export interface Readiness {
  /** Reasons the gateway is not ready; empty when it is. */
  problems(): string[];
}

/** /healthz (the process answers), /readyz (it can serve: store up, not shutting down); /metrics is in metrics.ts. */
export function healthRoutes(app: FastifyInstance, readiness: Readiness): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const problems = readiness.problems();
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready' };
  });
}
