/** The WebRTC leg machine's input, context, events and emitted catalogue events. */

/**
 * One leg's own effects: its media endpoint, the conversation's bridge and video, and its client.
 * The implementations src/ provides are built once for every leg and reach the leg's effects
 * through its input; the machine only hands them on.
 */
export interface WebRtcLegEffects {
  /** Makes the leg's endpoint from the offer; `signal` aborts when the leg ends meanwhile. */
  createEndpoint(signal: AbortSignal): Promise<{ answerSdp: string; hasVideo: boolean }>;
  /** Takes the leg out of the conversation's media and closes its endpoint. */
  closeEndpoint(): Promise<void>;
  setMuted(on: boolean): void;
  setEarmuffed(on: boolean): void;
  setVideoMuted(on: boolean): void;
  /** The peer's video joins the conversation's video forwarding. */
  joinVideo(): void;
  /** Makes the gateway's offer and delivers it to the client. */
  sendOffer(): void;
  applyAnswer(sdp: string): void;
}

/** What a WebRTC leg starts from: ids, the client's SDP offer, how long ICE may take to connect and may stay lost. */
export interface WebRtcLegInput {
  legId: string;
  memberId: string;
  offerSdp: string;
  connectTimeoutMs: number;
  /** How long a connected leg's ICE may stay disconnected before the leg is ended. */
  disconnectGraceMs: number;
  /** The leg's effects, for the provided implementations (pure tests of the machine go without). */
  effects?: WebRtcLegEffects;
}

/** The leg's context: its input, the answer once made, the media toggles and how it ended. */
export interface WebRtcLegContext extends WebRtcLegInput {
  answerSdp?: string;
  /** Whether the peer sends video (known once the endpoint is made). */
  hasVideo: boolean;
  /** A renegotiation was asked for while an offer was out; another offer follows the answer. */
  renegotiate: boolean;
  muted: boolean;
  earmuffed: boolean;
  videoMuted: boolean;
  speaking: boolean;
  endReason?: string;
  endedBy?: 'client' | 'gateway';
  /** What made the endpoint fail, as thrown (its code kept for the edge that answers the offer). */
  endError?: unknown;
}

/** Commands and reports a WebRTC leg accepts; the service checks `snapshot.can(event)` before sending a command. */
export type WebRtcLegEvent =
  | { type: 'ENDPOINT_STATUS'; kind: 'ice' | 'dtls'; state: string }
  | { type: 'MUTE'; on: boolean; initiator?: string }
  | { type: 'EARMUFF'; on: boolean; initiator?: string }
  | { type: 'VIDEO_MUTE'; on: boolean; initiator?: string }
  | { type: 'SPEAKING'; on: boolean }
  /** The session changed (video to forward or to stop): the gateway offers it to the peer. */
  | { type: 'RENEGOTIATE' }
  /** The peer's answer to the gateway's offer, already checked by the endpoint. */
  | { type: 'ANSWER'; sdp: string }
  /** The leg has been moved to another conversation, where `memberId` is its member now. */
  | { type: 'TRANSFER'; memberId: string; fromConversationId: string; toConversationId: string }
  | { type: 'HANGUP' }
  | { type: 'TERMINATE'; reason: string };

type LegBody = { leg_id: string };
export type ToggleType = 'audio:mute:on' | 'audio:mute:off' | 'audio:earmuff:on' | 'audio:earmuff:off' | 'video:mute:on' | 'video:mute:off';

/** Catalogue events the leg emits; bodies follow src/events/bodies.ts (no SDP: it goes back through the API, not the log). */
export type WebRtcLegEmitted =
  | { type: 'rtc:offer' | 'rtc:answer' | 'rtc:hangup' | 'audio:speaking:on' | 'audio:speaking:off'; body: LegBody }
  | { type: 'rtc:status'; body: { leg_id: string; status: string; kind: 'ice' | 'dtls' } }
  | { type: 'rtc:terminate'; body: { leg_id: string; reason: string } }
  | { type: 'rtc:transfer'; body: { leg_id: string; from_conversation_id: string; to_conversation_id: string } }
  | { type: ToggleType; body: { leg_id: string; initiator?: string } }
  | {
      type: 'member:media';
      body: { member_id: string; leg_id: string; media: { audio: boolean; video: boolean; muted: boolean; earmuffed: boolean } };
    };
