import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { AUTHENTICATED, failedDelivery, halPage as halPageSchema, json, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';
import { pageQuery } from '../schemas.js';

const tags = ['webhooks'];

const deliveryParams = refusedAs(
  z.strictObject({
    id: z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number)
      .describe('a failed delivery id'),
  }),
  'NotFound',
  'path',
);

const failedQuery = pageQuery.extend({ order: z.literal('asc').default('asc') });
const replayed = z.strictObject({ replayed: z.int().min(0).describe('deliveries put back in their queues') });

/** /v1/webhooks/failed: webhook deliveries that were given up on, and their replay. */
export function webhookRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/webhooks/failed',
    {
      schema: {
        summary: 'Webhook deliveries given up on, oldest first (application)',
        tags,
        querystring: failedQuery,
        response: { 200: json('A page of failed deliveries', halPageSchema('failed', failedDelivery)), ...problems(400, ...AUTHENTICATED, 403) },
      },
    },
    async (req) => {
      const q = req.query;
      const after = decodeCursor(q.cursor, 'asc') ?? 0;
      const page = services.webhooks.listFailed(after, q.page_size, principalOf(req));
      return halPage(req, 'failed', q.page_size, 'asc', page);
    },
  );

  r.post(
    '/v1/webhooks/failed/replay',
    {
      schema: {
        summary: 'Put every failed delivery back in its queue (application)',
        tags,
        response: { 202: json('Queued again', replayed), ...problems(...AUTHENTICATED, 403) },
      },
    },
    async (req, reply) => {
      const count = services.webhooks.replay(undefined, principalOf(req));
      return reply.code(202).send({ replayed: count });
    },
  );

  r.post(
    '/v1/webhooks/failed/:id/replay',
    {
      schema: {
        summary: 'Put one failed delivery back in its queue (application)',
        tags,
        params: deliveryParams,
        response: { 202: json('Queued again', replayed), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req, reply) => {
      const count = services.webhooks.replay(req.params.id, principalOf(req));
      return reply.code(202).send({ replayed: count });
    },
  );
}
