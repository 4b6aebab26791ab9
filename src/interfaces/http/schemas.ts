import { z } from 'zod';
import { ID_PATTERNS } from '../../lib/ids.js';
import { refusedAs } from './schemaCompilers.js';

/**
 * Request schemas of the REST API: the routes declare them, fastify validates with them
 * (schemaCompilers.ts) and /openapi.json is generated from them; services trust their inputs' shapes.
 */

export const conversationId = z.string().regex(ID_PATTERNS.conversation, 'not a conversation id (CON-<uuid>)');
export const memberId = z.string().regex(ID_PATTERNS.member, 'not a member id (MEM-<uuid>)');

// eslint-disable-next-line no-control-regex -- the point is to refuse control characters in names
const NO_CONTROL = /^[^\u0000-\u001f\u007f]+$/;
const name = z.string().trim().min(1).max(200).regex(NO_CONTROL, 'must not contain control characters');
const displayName = z.string().trim().max(200);

const customData = z
  .record(z.string().max(100), z.unknown())
  .refine((v) => Buffer.byteLength(JSON.stringify(v)) <= 8192, 'custom_data must serialise to at most 8192 bytes');

export const properties = z.strictObject({
  ttl: z.number().int().min(1).max(31_536_000).optional(),
  custom_data: customData.optional(),
});

export const createConversationBody = refusedAs(
  z.strictObject({
    name: name.optional().describe('unique; defaults to the id'),
    display_name: displayName.optional(),
    properties: properties.optional(),
  }),
  'ValidationFailed',
  'conversation',
);

export const updateConversationBody = refusedAs(
  z
    .strictObject({
      name: name.optional(),
      display_name: displayName.optional(),
      properties: properties.optional(),
    })
    .refine((b) => Object.keys(b).length > 0, 'nothing to update'),
  'ValidationFailed',
  'conversation',
);

export const createMemberBody = refusedAs(
  z.strictObject({
    user: z
      .strictObject({
        name: name.optional(),
        id: z.string().regex(ID_PATTERNS.user, 'not a user id (USR-<uuid>)').optional(),
        display_name: displayName.optional(),
      })
      .refine((u) => u.name !== undefined || u.id !== undefined, 'user.name or user.id is required'),
    state: z.enum(['invited', 'joined']).default('invited'),
    channel: z.strictObject({ type: z.literal('app') }).optional(),
  }),
  'ValidationFailed',
  'member',
);

export const updateMemberBody = refusedAs(z.strictObject({ state: z.enum(['joined', 'left']) }), 'ValidationFailed', 'member');

export const postEventBody = refusedAs(
  z.strictObject({
    type: z.string().min(1).max(120).describe('a type clients may send (text, image…) or `custom:NAME`'),
    body: z.unknown().describe("the type's body"),
    from: memberId.optional().describe('the sending member (a user token sends as its own member)'),
    to: memberId.optional().describe('only this member (and the application) sees it'),
  }),
  'ValidationFailed',
  'event',
);

const pageSize = z.coerce.number().int().min(1).max(100).default(10);
const order = z.enum(['asc', 'desc']).default('asc');
const cursor = z.string().max(200).optional();

export const pageQuery = z.strictObject({ page_size: pageSize, order, cursor });

const eventId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const eventsQuery = z.strictObject({
  page_size: pageSize,
  order,
  cursor,
  event_type: z
    .string()
    .max(1000)
    .transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .max(120)
            .regex(/^[a-z0-9_.:-]+\*?$/i, 'not an event type (or prefix*)'),
        )
        .max(20),
    )
    .optional(),
  start_id: eventId.optional(),
  end_id: eventId.optional(),
});

// Path ids are looked up as given (prepared statements, never spliced into SQL): a malformed id is
// simply an id that does not exist, so it gets the same 404 as an unknown one.
const pathId = z.string().min(1).max(200);
export const conversationParams = refusedAs(z.strictObject({ id: pathId.describe('conversation id (CON-…)') }), 'ConversationNotFound', 'path');
export const memberParams = refusedAs(z.strictObject({ id: pathId, member_id: pathId }), 'MemberNotFound', 'path');
export const eventParams = refusedAs(
  z.strictObject({
    id: pathId,
    event_id: z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number),
  }),
  'EventNotFound',
  'path',
);
