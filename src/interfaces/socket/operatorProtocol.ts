import { z } from 'zod';
import type { ConversationEvent } from '../../domain/model.js';
import type { AnyEventType } from '../../events/catalogue.js';
import { ID_PATTERNS } from '../../lib/ids.js';
import type { Ack } from './protocol.js';

/** Operator → server requests of the `/operator` namespace (payloads arrive as unknown and are validated). */
export interface OperatorToServerEvents {
  'conversation:list': (payload: unknown, ack: Ack) => void;
  'leg:list': (payload: unknown, ack: Ack) => void;
  watch: (payload: unknown, ack: Ack) => void;
  unwatch: (payload: unknown, ack: Ack) => void;
  'leg:action': (payload: unknown, ack: Ack) => void;
}

export type OperatorRequest = keyof OperatorToServerEvents;

/** Server → operator pushes: every event of the watched conversations under its own type name. */
export type ServerToOperatorEvents = { [K in AnyEventType]: (event: ConversationEvent) => void };

/** Conversations per `conversation:list` page: default and largest. */
export const CONVERSATION_PAGE = { default: 20, max: 100 } as const;
/** Members shown per conversation in `conversation:list` (`member_count` gives the full number). */
export const MEMBERS_SHOWN = 100;
/** Conversations one `watch` may name. */
export const MAX_WATCHED = 500;

const conversationRef = z.string().min(1).max(200);
const legId = z.string().regex(ID_PATTERNS.leg, 'not a leg id (a UUID)');

// A request whose parameters are all optional may come without a payload, or with `null` (what
// socket.io sends for `undefined`), or with `{}`.


export const conversationListRequest = z
  .strictObject({
    page_size: z.number().int().min(1).max(CONVERSATION_PAGE.max).optional(),
    cursor: z.string().min(1).max(100).optional(),
  })
  .nullish();

export const legListRequest = z.strictObject({ conversation_id: conversationRef.optional() }).nullish();

export const watchRequest = z
  .strictObject({ conversation_ids: z.array(conversationRef).min(1).max(MAX_WATCHED).optional() })
  .nullish();

export const unwatchRequest = z.strictObject({}).nullish();

// Parameters of the actions that a later change implements, with Vonage's ranges: `loop` 0 = forever,
// `level` -1..1 (0 = as recorded).
const loop = z.number().int().min(0).max(1000).optional();
const level = z.number().min(-1).max(1).optional();
/** A local file of the media folder (no absolute path, no `..`) or an http(s) URL. */
const streamSource = z
  .string()
  .min(1)
  .max(2048)
  .refine(
    (s) => /^https?:\/\/[^\s]+$/i.test(s) || (!s.startsWith('/') && !s.split(/[\\/]/).includes('..') && !s.includes('\0') && !/^[a-z][a-z0-9+.-]*:/i.test(s)),
    'must be an http(s) URL or a file in the media folder',
  );

const legAction = <A extends string, P extends z.ZodRawShape>(action: A, params: P) =>
  z.strictObject({ leg_id: legId, action: z.literal(action), ...params });

export const legActionRequest = z.discriminatedUnion('action', [
  legAction('mute', {}),
  legAction('unmute', {}),
  legAction('earmuff', {}),
  legAction('unearmuff', {}),
  legAction('video-mute', {}),
  legAction('video-unmute', {}),
  legAction('hangup', {}),
  legAction('transfer', { conversation_id: conversationRef }),
  // Vonage's stream_url is an array of one URL; a plain string is taken too.
  legAction('play', { stream_url: z.union([streamSource, z.tuple([streamSource])]), loop, level }),
  legAction('play:stop', {}),
  legAction('say', {
    text: z.string().min(1).max(1500),
    language: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en-US').optional(),
    loop,
    level,
  }),
  legAction('say:stop', {}),
  legAction('record', {}),
  legAction('record:stop', {}),
  legAction('dtmf', { digits: z.string().regex(/^[0-9A-Da-d*#p]{1,64}$/, 'must be 1 to 64 of 0-9 A-D * # p (p = pause)') }),
]);

export type LegActionRequest = z.infer<typeof legActionRequest>;
