import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../../domain/validation.js';
import type { Services } from '../../../services/services.js';
import { principalOf } from '../auth.js';

const callBody = z.strictObject({
  to: z.strictObject({ type: z.literal('sip'), uri: z.string().min(5).max(512) }),
  conversation_id: z.string().min(1).max(200),
  /** User part of our From header. */
  from: z
    .string()
    .regex(/^[A-Za-z0-9+._-]{1,64}$/, 'must be a SIP user name (letters, digits, + . _ -)')
    .optional(),
  /** Seconds it may ring before it is cancelled (Vonage's name). */
  ringing_timer: z.number().int().min(3).max(300).default(60),
  /** Answering-machine detection: `continue` reports it (`sip:machine`), `hangup` also hangs up on a machine. */
  machine_detection: z.enum(['continue', 'hangup']).optional(),
});

/** Outbound calls: `POST /v1/calls` dials a SIP URI into a conversation. */
export function callRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/calls', async (req, reply) => {
    const body = parseOrThrow(callBody, req.body ?? {}, 'call');
    const p = principalOf(req);
    const conversation = services.conversations.resolve(body.conversation_id);
    const leg = await services.sipLegs.call(
      {
        conversationId: conversation?.id ?? body.conversation_id,
        uri: body.to.uri,
        from: body.from,
        ringingTimeoutS: body.ringing_timer,
        machineDetection: body.machine_detection,
      },
      p,
    );
    return reply.code(201).send(leg);
  });
}
