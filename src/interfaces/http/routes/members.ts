import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { decodeCursor, halPage } from '../paging.js';
import { AUTHENTICATED, halPage as halPageSchema, json, member, problems } from '../responses.js';
import { conversationParams, createMemberBody, memberParams, pageQuery, updateMemberBody } from '../schemas.js';

const tags = ['members'];

/** /v1/conversations/:id/members: invite or join, list, get, leave. */
export function memberRoutes(app: FastifyInstance, services: Services): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/conversations/:id/members',
    {
      schema: {
        summary: 'Invite a user, or add it joined (application)',
        tags,
        params: conversationParams,
        body: createMemberBody,
        response: { 201: json('The new member', member), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const created = services.members.create(id, req.body, principalOf(req));
      return reply.code(201).header('location', `/v1/conversations/${id}/members/${created.id}`).send(created);
    },
  );

  r.get(
    '/v1/conversations/:id/members',
    {
      schema: {
        summary: "List a conversation's members (cursor paging)",
        tags,
        params: conversationParams,
        querystring: pageQuery,
        response: { 200: json('A page of members', halPageSchema('members', member)), ...problems(400, ...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => {
      const q = req.query;
      const after = decodeCursor(q.cursor, q.order);
      const page = services.members.list(req.params.id, { size: q.page_size, order: q.order, ...(after !== undefined && { after }) }, principalOf(req));
      return halPage(req, 'members', q.page_size, q.order, page);
    },
  );

  r.get(
    '/v1/conversations/:id/members/:member_id',
    {
      schema: {
        summary: 'Get a member',
        tags,
        params: memberParams,
        response: { 200: json('The member', member), ...problems(...AUTHENTICATED, 403, 404) },
      },
    },
    async (req) => services.members.get(req.params.id, req.params.member_id, principalOf(req)),
  );

  r.patch(
    '/v1/conversations/:id/members/:member_id',
    {
      schema: {
        summary: 'Join an invited member, or make a member leave (a user only its own)',
        tags,
        params: memberParams,
        body: updateMemberBody,
        response: { 200: json('The member as it now is', member), ...problems(400, ...AUTHENTICATED, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req) => services.members.setState(req.params.id, req.params.member_id, req.body.state, principalOf(req)),
  );
}
