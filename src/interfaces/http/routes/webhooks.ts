import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { pageQuery } from '../schemas.js';

const deliveryParams = z.strictObject({
  id: z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
});

/** /v1/webhooks/failed: webhook deliveries that were given up on, and their replay. */
export function webhookRoutes(app: FastifyInstance, services: Services): void {
  app.get('/v1/webhooks/failed', async (req) => {
    const q = parseOrThrow(pageQuery.extend({ order: z.literal('asc').default('asc') }), req.query, 'query', 'BadRequest');
    const after = decodeCursor(q.cursor, 'asc') ?? 0;
    const page = services.webhooks.listFailed(after, q.page_size, principalOf(req));
    return halPage(req, 'failed', q.page_size, 'asc', page);
  });

  app.post('/v1/webhooks/failed/replay', async (req, reply) => {
    const replayed = services.webhooks.replay(undefined, principalOf(req));
    return reply.code(202).send({ replayed });
  });

  app.post('/v1/webhooks/failed/:id/replay', async (req, reply) => {
    const { id } = parseOrThrow(deliveryParams, req.params, 'path', 'NotFound');
    const replayed = services.webhooks.replay(id, principalOf(req));
    return reply.code(202).send({ replayed });
  });
}
