/** The SIP leg machine's input, context, events, status and emitted catalogue events. */

/**
 * One leg's own effects: its SIP session and its media. The implementations src/ provides are built
 * once for every leg and reach the leg's effects through its input; the machine only hands them on.
 */
export interface SipLegEffects {
  /** Inbound: 180 Ringing. */
  ringing(): void;
  /** Inbound: 200 OK with our SDP. */
  answer(): void;
  /** Outbound: CANCEL the INVITE. */
  cancel(): void;
  /** Inbound, before our 200: refuse the INVITE. */
  reject(): void;
  /** BYE, then forget the dialog. */
  bye(): void;
  /** Outbound: ringback into the conversation while the callee rings. */
  startRingback(): void;
  stopRingback(): void;
  setMuted(on: boolean): void;
  setEarmuffed(on: boolean): void;
  setHeld(on: boolean): void;
  /** Takes the leg's audio out of the conversation and frees its RTP. */
  closeMedia(): Promise<void>;
}

/** What a SIP leg starts from. Inbound legs start once routed (the conversation is known); outbound ones when dialled. */
export interface SipLegInput {
  legId: string;
  memberId: string;
  direction: 'inbound' | 'outbound';
  /** How long an outbound call may ring before it is cancelled (no answer), and how long an inbound 200 waits for its ACK. */
  answerTimeoutMs: number;
  /** Inbound: how long to ring before answering (0: answer at once); the caller may cancel meanwhile. */
  answerDelayMs?: number;
  /** The route asked for the caller to join muted (NCCO `mute`): applied as the media comes up. */
  initialMute?: boolean;
  /** Session timer (RFC 4028): the call ends unless refreshed within this many ms. */
  sessionExpiryMs?: number;
  /** The leg's effects, for the provided implementations (pure tests of the machine go without). */
  effects?: SipLegEffects;
}

export interface SipLegContext extends SipLegInput {
  muted: boolean;
  earmuffed: boolean;
  speaking: boolean;
  /** The far end put the call on hold (re-INVITE with sendonly or inactive). */
  held: boolean;
  endCause?: string;
  endedBy?: 'local' | 'remote' | 'system';
  endCode?: number;
  endReason?: string;
}

/**
 * Reports from the SIP side and commands from the service. SIP messages themselves are sent by
 * the provided effects; the machine only decides what happens next and what is announced.
 */
export type SipLegEvent =
  /** A provisional response we received (outbound) or sent (inbound): 180 or 183. */
  | { type: 'RINGING'; code: 180 | 183 }
  /** Outbound: the callee answered (200 OK, ACK sent by the effect). Inbound: the caller's ACK to our 200. */
  | { type: 'ANSWERED' }
  /** Outbound: a final non-2xx response (busy, declined, failed…). */
  | { type: 'REJECTED'; code: number; reason: string }
  /** The far end hung up (BYE), or cancelled before the answer (CANCEL). */
  | { type: 'REMOTE_HANGUP'; cancelled?: boolean }
  /** The far end put us on hold or took us off it (re-INVITE). */
  | { type: 'REMOTE_HOLD'; on: boolean }
  /** No RTP for too long. */
  | { type: 'MEDIA_TIMEOUT' }
  | { type: 'MUTE'; on: boolean; initiator?: string }
  | { type: 'EARMUFF'; on: boolean; initiator?: string }
  | { type: 'SPEAKING'; on: boolean }
  /** Answering-machine detection's verdict on an answered outbound call. */
  | { type: 'MACHINE'; verdict: 'human' | 'machine' | 'unknown'; confidence: number }
  /** The leg has been moved to another conversation, where `memberId` is its member now. */
  | { type: 'TRANSFER'; memberId: string; fromConversationId: string; toConversationId: string }
  /** The gateway ends the call (operator or application hang-up, member left, conversation deleted, shutdown). */
  | { type: 'HANGUP'; reason: string; by: 'local' | 'system' }
  /** A session refresh (a re-INVITE asking for session timers): the timer starts again with this length. */
  | { type: 'SESSION_REFRESH'; expiryMs: number }
  /** The machine's own session timer ran out (a delayed event it raises to itself; nothing else sends it). */
  | { type: 'SESSION_EXPIRED' }
  /** What `closeMedia` started is over (done or failed): the leg has ended. */
  | { type: 'MEDIA_CLOSED' };

/** The leg's status, as a tag on each state (what the leg row and the API show). */
export type SipLegStatus = 'answering' | 'ringing' | 'connecting' | 'connected' | 'ending' | 'ended';

export type LegBody = { leg_id: string };
export type ToggleType = 'audio:mute:on' | 'audio:mute:off' | 'audio:earmuff:on' | 'audio:earmuff:off';

/** Catalogue events the leg emits (bodies as src/events/bodies.ts). */
export type SipLegEmitted =
  | { type: 'sip:ringing'; body: { leg_id: string; code: 180 | 183 } }
  | { type: 'sip:answered'; body: { leg_id: string; direction: 'inbound' | 'outbound' } }
  | { type: 'sip:status'; body: { leg_id: string; code: number; reason: string; direction: 'inbound' | 'outbound' } }
  | { type: 'sip:hangup'; body: { leg_id: string; cause: string; by: 'local' | 'remote' | 'system'; code?: number; reason?: string } }
  | { type: 'sip:machine'; body: { leg_id: string; type: 'human' | 'machine' | 'unknown'; confidence: number } }
  | { type: 'rtc:transfer'; body: { leg_id: string; from_conversation_id: string; to_conversation_id: string } }
  | { type: 'audio:ringing:start' | 'audio:speaking:on' | 'audio:speaking:off'; body: LegBody }
  | { type: ToggleType; body: { leg_id: string; initiator?: string } }
  | {
      type: 'member:media';
      body: { member_id: string; leg_id: string; media: { audio: boolean; video: boolean; muted: boolean; earmuffed: boolean } };
    };
