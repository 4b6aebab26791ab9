import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { AUTHENTICATED, conversation, halPage as halPageSchema, json, noContent, problems } from '../responses.js';
import { conversationParams, createConversationBody, pageQuery, updateConversationBody } from '../schemas.js';

const tags = ['conversations'];

/** /v1/conversations: create, list, get, update, delete. */
export function conversationRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/conversations',
    {
      schema: {
        summary: 'Create a conversation (application)',
        tags,
        body: createConversationBody,
        response: { 201: json('The new conversation', conversation), ...problems(400, ...AUTHENTICATED, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const created = services.conversations.create(req.body, principalOf(req));
      return reply.code(201).header('location', `/v1/conversations/${created.id}`).send(created);
    },
  );

  r.get(
    '/v1/conversations',
    {
      schema: {
        summary: 'List the conversations the token reaches, oldest first (cursor paging)',
        tags,
        querystring: pageQuery,
        response: { 200: json('A page of conversations', halPageSchema('conversations', conversation)), ...problems(400, ...AUTHENTICATED) },
      },
    },
    async (req) => {
      const q = req.query;
      const after = decodeCursor(q.cursor, q.order);
      const page = services.conversations.list({ size: q.page_size, order: q.order, ...(after !== undefined && { after }) }, principalOf(req));
      return halPage(req, 'conversations', q.page_size, q.order, page);
    },
  );

  r.get(
    '/v1/conversations/:id',
    {
      schema: {
        summary: 'Get a conversation',
        tags,
        params: conversationParams,
        response: { 200: json('The conversation', conversation), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => services.conversations.get(req.params.id, principalOf(req)),
  );

  r.patch(
    '/v1/conversations/:id',
    {
      schema: {
        summary: 'Rename or change a conversation (application)',
        tags,
        params: conversationParams,
        body: updateConversationBody,
        response: { 200: json('The conversation as it now is', conversation), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req) => services.conversations.update(req.params.id, req.body, principalOf(req)),
  );

  r.delete(
    '/v1/conversations/:id',
    {
      schema: {
        summary: 'Delete a conversation: its members leave, then conversation:deleted (application)',
        tags,
        params: conversationParams,
        response: { 204: noContent, ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req, reply) => {
      services.conversations.delete(req.params.id, principalOf(req));
      return reply.code(204).send();
    },
  );
}
