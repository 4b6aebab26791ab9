import type { FastifyInstance } from 'fastify';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { conversationParams, eventParams, eventsQuery, postEventBody } from '../schemas.js';

/** /v1/conversations/:id/events: list (cursor paging, filters), get, post, delete. */
export function eventRoutes(app: FastifyInstance, services: Services): void {
  app.get('/v1/conversations/:id/events', async (req) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    const q = parseOrThrow(eventsQuery, req.query, 'query', 'BadRequest');
    const after = decodeCursor(q.cursor, q.order);
    const page = services.events.list(
      id,
      { order: q.order, size: q.page_size, after, startId: q.start_id, endId: q.end_id, types: q.event_type },
      principalOf(req),
    );
    return halPage(req, 'events', q.page_size, q.order, page);
  });

  app.get('/v1/conversations/:id/events/:event_id', async (req) => {
    const { id, event_id } = parseOrThrow(eventParams, req.params, 'path', 'EventNotFound');
    return services.events.get(id, event_id, principalOf(req));
  });

  app.post('/v1/conversations/:id/events', async (req, reply) => {
    const { id } = parseOrThrow(conversationParams, req.params, 'path', 'ConversationNotFound');
    const body = parseOrThrow(postEventBody, req.body ?? {}, 'event');
    const event = services.events.post(id, body, principalOf(req));
    return reply.code(201).header('location', `/v1/conversations/${id}/events/${event.id}`).send(event);
  });

  app.delete('/v1/conversations/:id/events/:event_id', async (req, reply) => {
    const { id, event_id } = parseOrThrow(eventParams, req.params, 'path', 'EventNotFound');
    services.events.delete(id, event_id, principalOf(req));
    return reply.code(204).send();
  });
}
