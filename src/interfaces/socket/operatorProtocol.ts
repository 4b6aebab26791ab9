import { z } from 'zod';
import type { ConversationEvent } from '../../domain/model.js';
import type { AnyEventType } from '../../events/catalogue.js';
import { ID_PATTERNS } from '../../lib/ids.js';
import { dtmfDigits, playParams, recordParams, sayParams } from '../mediaSchemas.js';
import type { Ack } from './protocol.js';

/** Operator → server requests of the `/operator` namespace (payloads arrive as unknown and are validated). */
export interface OperatorToServerEvents {
  'conversation:list': (payload: unknown, ack: Ack) => void;
  'leg:list': (payload: unknown, ack: Ack) => void;
  watch: (payload: unknown, ack: Ack) => void;
  unwatch: (payload: unknown, ack: Ack) => void;
  'leg:action': (payload: unknown, ack: Ack) => void;
  'knocking:list': (payload: unknown, ack: Ack) => void;
  'knocking:answer': (payload: unknown, ack: Ack) => void;
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

export const watchRequest = z.strictObject({ conversation_ids: z.array(conversationRef).min(1).max(MAX_WATCHED).optional() }).nullish();

export const unwatchRequest = z.strictObject({}).nullish();
export const knockingListRequest = z.strictObject({ conversation_id: conversationRef.optional() }).nullish();
export const knockingAnswerRequest = z.strictObject({ knocking_id: z.uuid(), admit: z.boolean() });

const legAction = <A extends string, P extends z.ZodRawShape>(action: A, params: P) => z.strictObject({ leg_id: legId, action: z.literal(action), ...params });

export const legActionRequest = z.discriminatedUnion('action', [
  legAction('mute', {}),
  legAction('unmute', {}),
  legAction('earmuff', {}),
  legAction('unearmuff', {}),
  legAction('video-mute', {}),
  legAction('video-unmute', {}),
  legAction('hangup', {}),
  legAction('transfer', { conversation_id: conversationRef }),
  legAction('play', playParams),
  legAction('play:stop', {}),
  legAction('say', sayParams),
  legAction('say:stop', {}),
  legAction('record', recordParams),
  legAction('record:stop', {}),
  legAction('dtmf', { digits: dtmfDigits }),
]);

export type LegActionRequest = z.infer<typeof legActionRequest>;
