import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';
import { AUTHENTICATED, json, leg, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';

const callBody = refusedAs(
  z.strictObject({
    to: z.strictObject({ type: z.literal('sip'), uri: z.string().min(5).max(512).describe('the SIP URI to dial') }),
    conversation_id: z.string().min(1).max(200).describe('the conversation (id or name) the call joins'),
    from: z
      .string()
      .regex(/^[A-Za-z0-9+._-]{1,64}$/, 'must be a SIP user name (letters, digits, + . _ -)')
      .optional()
      .describe('user part of our From header'),
    ringing_timer: z.number().int().min(3).max(300).default(60).describe('seconds it may ring before it is cancelled'),
    machine_detection: z
      .enum(['continue', 'hangup'])
      .optional()
      .describe('answering-machine detection: `continue` reports it (`sip:machine`), `hangup` also hangs up on a machine'),
  }),
  'ValidationFailed',
  'call',
);

/** Outbound calls: `POST /v1/calls` dials a SIP URI into a conversation. */
export function callRoutes(app: FastifyInstance, services: Services): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/calls',
    {
      schema: {
        summary: 'Dial a SIP URI into a conversation (application)',
        tags: ['calls'],
        body: callBody,
        response: { 201: json('The new outbound SIP leg, ringing', leg), ...problems(400, ...AUTHENTICATED, 403, 404, 413, 415, 422, 503) },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const p = principalOf(req);
      const conversation = services.conversations.resolve(body.conversation_id);
      const created = await services.sipLegs.call(
        {
          conversationId: conversation?.id ?? body.conversation_id,
          uri: body.to.uri,
          from: body.from,
          ringingTimeoutS: body.ringing_timer,
          machineDetection: body.machine_detection,
        },
        p,
      );
      return reply.code(201).send(created);
    },
  );
}
