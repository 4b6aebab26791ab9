import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../domain/errors.js';
import { conversationBody, isoTimestamp } from '../../events/bodies.js';
import { ID_PATTERNS } from '../../lib/ids.js';

/**
 * Response schemas of the REST API: what each route really sends, for /openapi.json. They describe
 * and never reshape (see schemaCompilers.ts); an `id` in `.meta()` makes a named component.
 */

const uuid = z.string().regex(ID_PATTERNS.leg);
const memberRef = z.string().regex(ID_PATTERNS.member);
const conversationRef = z.string().regex(ID_PATTERNS.conversation);

/** RFC 9457 problem body (problem.ts), with the stable `code` clients switch on. */
export const problem = z
  .object({
    type: z.string().describe('`urn:legway:error:<code>`'),
    title: z.string(),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    detail: z.string(),
    invalid_parameters: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('the fields that failed validation (at most 20)'),
  })
  .meta({ id: 'Problem', description: 'An error: its status, stable code and a message for people.' });

export const conversation = conversationBody.meta({ id: 'Conversation' });

export const member = z
  .strictObject({
    id: memberRef,
    conversation_id: conversationRef,
    user: z.strictObject({ id: z.string().regex(ID_PATTERNS.user), name: z.string(), display_name: z.string().optional() }),
    state: z.enum(['invited', 'joined', 'left']),
    channel: z.strictObject({
      type: z.enum(['app', 'sip', 'phone', 'websocket']),
      from: z.string().optional(),
      to: z.string().optional(),
    }),
    media: z.strictObject({ audio: z.boolean(), video: z.boolean(), muted: z.boolean(), earmuffed: z.boolean() }),
    timestamp: z.strictObject({ invited: isoTimestamp.optional(), joined: isoTimestamp.optional(), left: isoTimestamp.optional() }),
    initiator: z.string().optional(),
  })
  .meta({ id: 'Member' });

export const event = z
  .strictObject({
    id: z.int().min(1).describe('grows by one inside its conversation'),
    type: z.string().describe('a catalogued type (see the socket reference) or `custom:NAME`'),
    from: z.string().describe('the member that caused it, or `system`'),
    to: memberRef.optional(),
    timestamp: isoTimestamp,
    body: z.record(z.string(), z.unknown()).describe("the type's body; `{}` once deleted"),
    conversation_id: conversationRef,
    deleted_at: isoTimestamp.optional(),
  })
  .meta({ id: 'Event' });

const sipMediaStats = z
  .strictObject({
    codec: z.string().nullable(),
    ptime_out_ms: z.number().nullable(),
    ptime_in_ms: z.number().nullable(),
    packets_in: z.number(),
    packets_out: z.number(),
    bytes_in: z.number(),
    bytes_out: z.number(),
    lost: z.number(),
    jitter_ms: z.number(),
    late: z.number(),
    duplicate: z.number(),
    concealed_ms: z.number(),
    source: z.strictObject({ address: z.string(), port: z.int(), learned_by: z.enum(['expected', 'probation']) }).nullable(),
    dropped_wrong_source: z.number(),
    dropped_probation: z.number(),
    malformed: z.number(),
    unknown_payload_type: z.number(),
    rtcp_in: z.number(),
    rtcp_out: z.number(),
    remote: z.strictObject({ fraction_lost: z.number(), cumulative_lost: z.number(), jitter_ms: z.number(), rtt_ms: z.number().nullable() }).nullable(),
  })
  .meta({ id: 'SipMediaStats', description: "A running SIP leg's RTP, playout and RTCP figures." });

export const leg = z
  .strictObject({
    id: uuid,
    conversation_id: conversationRef,
    member_id: memberRef,
    type: z.enum(['webrtc', 'sip']),
    direction: z.enum(['inbound', 'outbound']),
    status: z.enum(['answering', 'ringing', 'connecting', 'connected', 'ending', 'ended']),
    media: z.strictObject({ muted: z.boolean(), earmuffed: z.boolean(), video_muted: z.boolean() }),
    timestamp: z.strictObject({ created: isoTimestamp, updated: isoTimestamp.optional(), ended: isoTimestamp.optional() }),
    end_reason: z.string().optional(),
    stats: sipMediaStats.optional().describe('while a SIP leg runs (GET /v1/legs/:id only)'),
  })
  .meta({ id: 'Leg' });

export const recording = z
  .strictObject({
    id: uuid,
    conversation_id: conversationRef,
    leg_id: uuid.optional().describe('the recorded leg; absent for the conversation mix'),
    format: z.literal('wav'),
    status: z.enum(['recording', 'done', 'failed']),
    url: z.string().describe('where to download it'),
    duration: z.number().optional().describe('seconds, once done'),
    size: z.int().optional().describe('bytes, once done'),
    created_by: z.string(),
    timestamp: z.strictObject({ started: isoTimestamp, ended: isoTimestamp.optional() }),
  })
  .meta({ id: 'Recording' });

export const knocking = z
  .strictObject({
    id: uuid,
    conversation_id: conversationRef,
    user: z.strictObject({ id: z.string().regex(ID_PATTERNS.user), name: z.string() }),
    created: isoTimestamp,
  })
  .meta({ id: 'Knocking' });

export const knockingAnswer = z
  .strictObject({
    knocking_id: uuid,
    conversation_id: conversationRef,
    admitted: z.boolean(),
    member_id: memberRef.optional().describe('the joined member, when admitted'),
  })
  .meta({ id: 'KnockingAnswer' });

export const failedDelivery = z
  .strictObject({
    id: z.int(),
    conversation_id: conversationRef,
    event_id: z.int(),
    attempts: z.int(),
    last_status: z.int().nullable(),
    last_error: z.string().nullable(),
    failed_at: isoTimestamp.nullable(),
    event: z.unknown().describe('the event as it would be posted'),
  })
  .meta({ id: 'FailedDelivery' });

const link = z.strictObject({ href: z.string() });

/** A HAL page of `items` under `_embedded.<name>` (paging.ts). */
export function halPage<N extends string, T extends z.ZodType>(name: N, items: T) {
  return z.strictObject({
    page_size: z.int(),
    _embedded: z.strictObject({ [name]: z.array(items) } as { [K in N]: z.ZodArray<T> }),
    _links: z.strictObject({ self: link, next: link.optional().describe('absent on the last page') }),
  });
}

/** `{ _embedded: { <name>: [...] } }`: a whole, unpaged list. */
export function embedded<N extends string, T extends z.ZodType>(name: N, items: T) {
  return z.strictObject({ _embedded: z.strictObject({ [name]: z.array(items) } as { [K in N]: z.ZodArray<T> }) });
}

/** A JSON success response with its description (fastify's would be "Default Response"). */
export function json<S extends z.ZodType>(description: string, schema: S): { description: string; content: { 'application/json': { schema: S } } } {
  return { description, content: { 'application/json': { schema } } };
}

/** 204 and other bodiless answers. */
export const noContent = z.undefined().describe('No content');

/** Answers of the play, talk, record and DTMF routes (Vonage's call API shapes). */
export const mediaStarted = <S extends z.ZodRawShape>(shape: S) => z.strictObject({ message: z.string(), uuid: z.string(), ...shape });
export const mediaStopped = z.strictObject({ message: z.string(), uuid: z.string(), stopped: z.array(uuid).describe('ids of what was stopped') });

const PROBLEM_TEXT: Partial<Record<number, string>> = {
  400: 'Bad request: a malformed URL, query or JSON body',
  401: 'No valid token',
  403: 'The token may not do this',
  404: 'No such resource (a malformed id is one that does not exist)',
  409: 'Conflicts with the current state',
  413: 'Request body too large',
  415: 'Not JSON',
  416: 'Range not satisfiable',
  422: 'The body failed validation (`invalid_parameters` says where)',
  429: 'Rate limited',
  503: 'Unavailable (shutting down, or this gateway lacks what it needs)',
};

type ProblemResponse = { description: string; content: { 'application/problem+json': { schema: typeof problem } } };

/** One problem response, `application/problem+json`, described as `description`. */
export function problemResponse(description: string): ProblemResponse {
  return { description, content: { 'application/problem+json': { schema: problem } } };
}

/** Problem responses for `statuses`, with their usual descriptions. */
export function problems(...statuses: number[]): Record<number, ProblemResponse> {
  const out: Record<number, ProblemResponse> = {};
  for (const status of statuses) out[status] = problemResponse(PROBLEM_TEXT[status] ?? 'Error');
  return out;
}

/** Every authenticated /v1 route can answer these besides its own. */
export const AUTHENTICATED = [401, 429] as const;
