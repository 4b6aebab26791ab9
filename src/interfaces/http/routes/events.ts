import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { AUTHENTICATED, event, halPage as halPageSchema, json, noContent, problems } from '../responses.js';
import { conversationParams, eventParams, eventsQuery, postEventBody } from '../schemas.js';

const tags = ['events'];

/** /v1/conversations/:id/events: list (cursor paging, filters), get, post, delete. */
export function eventRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/conversations/:id/events',
    {
      schema: {
        summary: "List a conversation's events: cursor paging, filters by type (`text,member:*`) and id range",
        tags,
        params: conversationParams,
        querystring: eventsQuery,
        response: { 200: json('A page of events', halPageSchema('events', event)), ...problems(400, ...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => {
      const q = req.query;
      const after = decodeCursor(q.cursor, q.order);
      const page = services.events.list(
        req.params.id,
        { order: q.order, size: q.page_size, after, startId: q.start_id, endId: q.end_id, types: q.event_type },
        principalOf(req),
      );
      return halPage(req, 'events', q.page_size, q.order, page);
    },
  );

  r.get(
    '/v1/conversations/:id/events/:event_id',
    {
      schema: { summary: 'Get an event', tags, params: eventParams, response: { 200: json('The event', event), ...problems(...AUTHENTICATED, 403, 404) } },
    },
    async (req) => services.events.get(req.params.id, req.params.event_id, principalOf(req)),
  );

  r.post(
    '/v1/conversations/:id/events',
    {
      schema: {
        summary: 'Post an event (text, image, seen, typing, custom:NAME…)',
        tags,
        params: conversationParams,
        body: postEventBody,
        response: { 201: json('The event as logged', event), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const posted = services.events.post(id, req.body, principalOf(req));
      return reply.code(201).header('location', `/v1/conversations/${id}/events/${posted.id}`).send(posted);
    },
  );

  r.delete(
    '/v1/conversations/:id/events/:event_id',
    {
      schema: {
        summary: 'Delete a text, image or custom event: its body is blanked and event:delete appended',
        tags,
        params: eventParams,
        response: { 204: noContent, ...problems(...AUTHENTICATED, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      services.events.delete(req.params.id, req.params.event_id, principalOf(req));
      return reply.code(204).send();
    },
  );
}
