import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, embedded, json, leg, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';
import { conversationParams } from '../schemas.js';

const tags = ['legs'];

/** A leg id in a path; anything else is a leg that does not exist. */
export const legParams = refusedAs(z.strictObject({ id: z.string().min(1).max(200).describe('leg id (a UUID)') }), 'LegNotFound', 'path');

const legActionBody = refusedAs(
  z.discriminatedUnion('action', [
    z.strictObject({ action: z.enum(['mute', 'unmute', 'earmuff', 'unearmuff', 'video-mute', 'video-unmute', 'hangup']) }),
    /** Moves the leg to another conversation (id or name). */
    z.strictObject({ action: z.literal('transfer'), conversation_id: z.string().min(1).max(200).describe('the conversation (id or name) to move to') }),
  ]),
  'ValidationFailed',
  'leg action',
);

/** /v1/legs: read legs and act on them (`PUT /v1/legs/:id { action }`, as Vonage's call actions). */
export function legRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/legs/:id',
    {
      schema: {
        summary: 'Get a leg, with media statistics while a SIP leg runs',
        tags,
        params: legParams,
        response: { 200: json('The leg', leg), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => {
      await services.legs.refreshStats();
      return services.legs.get(req.params.id, principalOf(req));
    },
  );

  r.get(
    '/v1/conversations/:id/legs',
    {
      schema: {
        summary: "A conversation's legs, ended ones included",
        tags,
        params: conversationParams,
        response: { 200: json('Every leg of the conversation', embedded('legs', leg)), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => ({ _embedded: { legs: services.legs.list(req.params.id, principalOf(req)) } }),
  );

  r.put(
    '/v1/legs/:id',
    {
      schema: {
        summary: 'Act on a leg: mute, unmute, earmuff, unearmuff, video-mute, video-unmute, hangup, transfer',
        tags,
        params: legParams,
        body: legActionBody,
        response: { 200: json('The leg after the action', leg), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422, 503) },
      },
    },
    async (req) => {
      const { id } = req.params;
      const body = req.body;
      const p = principalOf(req);
      const initiator = p.role === 'application' ? 'application' : p.sub;
      if (body.action === 'transfer') return services.transfers.transfer(id, body.conversation_id, p, initiator);
      return services.legs.act(id, body.action, p, initiator);
    },
  );
}
