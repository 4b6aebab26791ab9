/**
 * Body schemas for the catalogued event types. Every body is a strict object, so an unknown key
 * is an error rather than something silently stored and fanned out to sockets and webhooks.
 * `catalogue.ts` maps each event type to one of these; nothing else should need them directly.
 */
import { z } from 'zod';

// ── Shared pieces ────────────────────────────────────────────────────────────

/** A leg id (UUID). */
export const legId = z.uuid();
/** A member id, `MEM-` followed by a UUID. */
export const memberId = z.string().regex(/^MEM-[0-9a-f-]{36}$/, 'must be a member id (MEM-<uuid>)');
/** A conversation id, `CON-` followed by a UUID. */
export const conversationId = z.string().regex(/^CON-[0-9a-f-]{36}$/, 'must be a conversation id (CON-<uuid>)');
/** A user id, `USR-` followed by a UUID. */
export const userId = z.string().regex(/^USR-[0-9a-f-]{36}$/, 'must be a user id (USR-<uuid>)');
/** An event id: a positive safe integer. */
export const eventId = z.int().positive();
/** An ISO 8601 UTC timestamp. */
export const isoTimestamp = z.iso.datetime();

const name = z.string().min(1).max(200);
const shortText = z.string().max(200);
const messageText = z.string().min(1).max(4096);
const loopCount = z.int().min(0).max(1000);
const level = z.number().min(-1).max(1);
const sipCode = z.int().min(100).max(699);
const direction = z.enum(['inbound', 'outbound']);
const recordingFormat = z.enum(['wav', 'ogg']);
/** Only http(s): an image URL ends up in a browser, where `javascript:` or `data:` would be a hazard. */
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048, 'must be at most 2048 characters');

// ── Text and image ───────────────────────────────────────────────────────────

/** `text`. */
export const textBody = z.strictObject({ text: messageText });
/** `text:update`. */
export const textUpdateBody = z.strictObject({ event_id: eventId, text: messageText });
/** Bodies that only point at another event (`text:seen`, `image:delivered`, `event:delete`…). */
export const eventRefBody = z.strictObject({ event_id: eventId });
/** Bodies with nothing in them (`text:typing:on/off`). */
export const emptyBody = z.strictObject({});

const representation = z.strictObject({
  url: httpUrl,
  id: z.string().max(200).optional(),
  type: z.string().max(100).optional(),
  size: z.int().nonnegative().optional(),
});
/** `image`. */
export const imageBody = z.strictObject({
  representations: z.strictObject({
    original: representation,
    medium: representation.optional(),
    thumbnail: representation.optional(),
  }),
});

// ── Conversations and members ────────────────────────────────────────────────

/** `conversation:created` and `conversation:updated`: the conversation as it now is. */
export const conversationBody = z.strictObject({
  id: conversationId,
  name,
  display_name: shortText.optional(),
  state: z.enum(['active', 'deleted']),
  properties: z.strictObject({
    ttl: z.int().positive().max(31_536_000).optional(),
    custom_data: z.record(z.string(), z.unknown()).optional(),
  }),
  timestamp: z.strictObject({
    created: isoTimestamp,
    updated: isoTimestamp.optional(),
    destroyed: isoTimestamp.optional(),
  }),
});
/** `conversation:deleted`. */
export const conversationDeletedBody = z.strictObject({
  id: conversationId,
  name,
  timestamp: z.strictObject({ destroyed: isoTimestamp }),
});

/** The body of a member lifecycle event whose `state` must be `state`. */
function memberStateBody<S extends 'invited' | 'joined' | 'left'>(state: S) {
  return z.strictObject({
    member_id: memberId,
    user: z.strictObject({ id: userId, name, display_name: shortText.optional() }),
    channel: z.strictObject({
      type: z.enum(['app', 'sip', 'phone', 'websocket']),
      from: z.string().max(300).optional(),
      to: z.string().max(300).optional(),
    }),
    state: z.literal(state),
    timestamp: z.strictObject({
      invited: isoTimestamp.optional(),
      joined: isoTimestamp.optional(),
      left: isoTimestamp.optional(),
    }),
    reason: shortText.optional(),
    initiator: shortText.optional(),
  });
}
/** `member:invited`. */
export const memberInvitedBody = memberStateBody('invited');
/** `member:joined`. */
export const memberJoinedBody = memberStateBody('joined');
/** `member:left`. */
export const memberLeftBody = memberStateBody('left');
/** `member:media`. */
export const memberMediaBody = z.strictObject({
  member_id: memberId,
  leg_id: legId.optional(),
  media: z.strictObject({ audio: z.boolean(), video: z.boolean(), muted: z.boolean(), earmuffed: z.boolean() }),
});

/** `app:knocking`. */
export const knockingBody = z.strictObject({
  knocking_id: z.uuid(),
  user: z.strictObject({ id: userId, name }),
  conversation_name: name.optional(),
});
/** `app:knocking:cancel`. */
export const knockingCancelBody = z.strictObject({ knocking_id: z.uuid() });

// ── Audio and video on a leg ─────────────────────────────────────────────────

/** `audio:dtmf`. */
export const dtmfBody = z.strictObject({
  leg_id: legId,
  digit: z.string().regex(/^[0-9*#A-D]$/, 'must be one DTMF digit (0-9, *, #, A-D)'),
  duration: z.int().min(0).max(60_000),
  method: z.enum(['rfc4733', 'sip-info', 'inband', 'api']),
});
/** Leg state toggles (mute, earmuff, speaking, ringing). */
export const legToggleBody = z.strictObject({ leg_id: legId, initiator: shortText.optional() });

/** `audio:play`. */
export const playBody = z.strictObject({
  play_id: z.uuid(),
  leg_id: legId.optional(),
  stream_url: z.array(z.string().min(1).max(2048)).min(1).max(10),
  loop: loopCount,
  level,
});
/** `audio:play:stop` and `audio:play:done`. */
export const playRefBody = z.strictObject({ play_id: z.uuid(), leg_id: legId.optional() });

/** `audio:say`. */
export const sayBody = z.strictObject({
  say_id: z.uuid(),
  leg_id: legId.optional(),
  text: messageText,
  language: z.string().max(35),
  loop: loopCount,
  level,
});
/** `audio:say:stop` and `audio:say:done`. */
export const sayRefBody = z.strictObject({ say_id: z.uuid(), leg_id: legId.optional() });

/** `audio:record`. */
export const recordBody = z.strictObject({ recording_id: z.uuid(), leg_id: legId.optional(), format: recordingFormat });
/** `audio:record:stop`. */
export const recordStopBody = z.strictObject({ recording_id: z.uuid(), leg_id: legId.optional() });
/** `audio:record:done`. */
export const recordDoneBody = z.strictObject({
  recording_id: z.uuid(),
  leg_id: legId.optional(),
  url: z.string().min(1).max(2048),
  format: recordingFormat,
  duration: z.number().nonnegative(),
  size: z.int().nonnegative(),
  start_time: isoTimestamp.optional(),
  end_time: isoTimestamp.optional(),
});

// ── WebRTC signalling ────────────────────────────────────────────────────────

/** `rtc:offer` and `rtc:answer`. */
export const rtcSdpBody = z.strictObject({ leg_id: legId, sdp: z.string().max(65_536).optional() });
/** `rtc:status`. */
export const rtcStatusBody = z.strictObject({
  leg_id: legId,
  status: z.string().min(1).max(50),
  kind: z.enum(['ice', 'dtls', 'connection', 'signaling']).optional(),
});
/** `rtc:hangup`. */
export const rtcHangupBody = z.strictObject({ leg_id: legId, reason: shortText.optional() });
/** `rtc:terminate`. */
export const rtcTerminateBody = z.strictObject({ leg_id: legId, reason: name });
/** `rtc:transfer`. */
export const rtcTransferBody = z.strictObject({
  leg_id: legId,
  from_conversation_id: conversationId,
  to_conversation_id: conversationId,
});

// ── SIP ──────────────────────────────────────────────────────────────────────

/** `sip:ringing`. */
export const sipRingingBody = z.strictObject({ leg_id: legId, code: z.literal([180, 183]) });
/** `sip:answered`. */
export const sipAnsweredBody = z.strictObject({ leg_id: legId, direction: direction.optional() });
/** `sip:status`. */
export const sipStatusBody = z.strictObject({
  leg_id: legId,
  code: sipCode,
  reason: shortText,
  direction: direction.optional(),
});
/** `sip:hangup`. */
export const sipHangupBody = z.strictObject({
  leg_id: legId,
  cause: z.string().min(1).max(100),
  by: z.enum(['local', 'remote', 'system']),
  code: sipCode.optional(),
  reason: shortText.optional(),
});
/** `sip:machine`. */
export const sipMachineBody = z.strictObject({
  leg_id: legId,
  type: z.enum(['human', 'machine', 'unknown']),
  confidence: z.number().min(0).max(1),
});
