import { z } from 'zod';
import type { Principal } from '../../auth/principal.js';
import type { ErrorCode } from '../../domain/errors.js';
import type { ConversationEvent } from '../../domain/model.js';
import type { AnyEventType } from '../../events/catalogue.js';
import type { KnockingAnswer } from '../../services/knockingService.js';
import { dtmfDigits } from '../mediaSchemas.js';

/** The acknowledgement every request gets (README, Socket API). */
export type AckPayload = ({ ok: true } & Record<string, unknown>) | { ok: false; error: { code: ErrorCode; message: string } };
export type Ack = (payload: AckPayload) => void;

/** Client → server requests of the client namespace (payloads arrive as unknown and are validated). */
export interface ClientToServerEvents {
  'conversation:join': (payload: unknown, ack: Ack) => void;
  'conversation:leave': (payload: unknown, ack: Ack) => void;
  'event:send': (payload: unknown, ack: Ack) => void;
  'rtc:new': (payload: unknown, ack: Ack) => void;
  'rtc:ice': (payload: unknown, ack: Ack) => void;
  'rtc:answer': (payload: unknown, ack: Ack) => void;
  'conversation:knock': (payload: unknown, ack: Ack) => void;
  'conversation:knock:cancel': (payload: unknown, ack: Ack) => void;
  'rtc:hangup': (payload: unknown, ack: Ack) => void;
  'leg:mute': (payload: unknown, ack: Ack) => void;
  'leg:earmuff': (payload: unknown, ack: Ack) => void;
  'leg:video-mute': (payload: unknown, ack: Ack) => void;
  'leg:dtmf': (payload: unknown, ack: Ack) => void;
}

/** The gateway's own SDP offer for a leg (renegotiation), sent to the client that owns the leg only. */
export interface RtcOfferPush {
  leg_id: string;
  offer: { type: 'offer'; sdp: string };
}

/**
 * Server → client pushes: every conversation event under its own type name. `rtc:offer` also
 * carries the renegotiation offer to the leg's own client; that payload has `offer` and no `type`.
 */
export type ServerToClientEvents = { [K in Exclude<AnyEventType, 'rtc:offer'>]: (event: ConversationEvent) => void } & {
  'rtc:offer': (payload: ConversationEvent | RtcOfferPush) => void;
  /** The answer to this client's `conversation:knock`. */
  'knocking:answer': (answer: KnockingAnswer) => void;
};

/** Messages between the nodes of a cluster, through socket.io's Redis adapter. */
export interface InterServerEvents {
  /** An event another node committed (validated on arrival: committedEvents.ts). */
  'legway:committed': (event: ConversationEvent) => void;
}

export interface SocketData {
  principal: Principal;
}

const conversationRef = z.string().min(1).max(200);

export const joinRequest = z.strictObject({
  conversation_id: conversationRef,
  since: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

const legId = z.uuid();

export const rtcNewRequest = z.strictObject({
  conversation_id: conversationRef,
  offer: z.strictObject({ type: z.literal('offer'), sdp: z.string().min(1).max(65_536) }),
});

export const rtcIceRequest = z.strictObject({
  leg_id: legId,
  candidate: z
    .strictObject({
      candidate: z.string().max(1024),
      sdpMid: z.string().max(64).nullable().optional(),
      sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
      usernameFragment: z.string().max(256).nullable().optional(),
    })
    .nullable(),
});

export const rtcAnswerRequest = z.strictObject({
  leg_id: legId,
  answer: z.strictObject({ type: z.literal('answer'), sdp: z.string().min(1).max(65_536) }),
});

export const legRequest = z.strictObject({ leg_id: legId });

export const knockRequest = z.strictObject({ conversation_id: conversationRef });
export const knockCancelRequest = z.strictObject({ knocking_id: z.uuid() });

export const legToggleRequest = z.strictObject({ leg_id: legId, on: z.boolean() });

export const legDtmfRequest = z.strictObject({ leg_id: legId, digits: dtmfDigits });

export const leaveRequest = z.strictObject({ conversation_id: conversationRef });

export const sendRequest = z.strictObject({
  conversation_id: conversationRef,
  type: z.string().min(1).max(120),
  body: z.unknown(),
  to: z.string().max(200).optional(),
});
