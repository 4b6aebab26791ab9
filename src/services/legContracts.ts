import type { MediaThreads } from '../media/threads/createBridge.js';
import type { SipMediaStats } from '../legs/sipMediaStats.js';
import type { Leg } from '../store/legsRepo.js';
import type { Admission } from './admission.js';
import type { LegLimits } from './legLimits.js';

/* The leg service's contracts with the layers around it: what it needs from a client connection and from a cluster, and what it offers. */

/** Where a WebRTC leg's renegotiation offers go: the connection of the client that owns the leg. */
export interface OfferSink {
  send(legId: string, sdp: string): void;
  /** The client connection's socket.io id, by which another node of a cluster reaches it. */
  readonly socketId?: string;
  /** False once that connection is gone (a reconnected client then takes the leg's offers over). */
  readonly open: boolean;
}

/**
 * The cluster seen from the leg service: which node owns a conversation's media (legs are made
 * there), which node runs a leg, and requests to other nodes. Absent for a gateway on its own.
 */
export interface LegCluster {
  readonly nodeId: string;
  /** The conversation's owner, after taking it for this node when no live node has it. */
  ownerOf(conversationId: string): string;
  /** This node gives the conversation up (its last leg here ended). */
  release(conversationId: string): void;
  /** The node that runs the leg, when that is another live node. */
  remoteNodeOf(legId: string): string | undefined;
  request(nodeId: string, method: string, params: unknown): Promise<unknown>;
}

/** A live leg as `leg:list` shows it: the stored leg, whether its member is speaking now, and its media statistics (SIP). */
export type LiveLeg = Leg & { speaking: boolean; stats?: SipMediaStats };

/** Leg actions of the public API (REST `PUT /v1/legs/:id`, socket `leg:*`, operator `leg:action`). */
export type LegAction = 'mute' | 'unmute' | 'earmuff' | 'unearmuff' | 'video-mute' | 'video-unmute' | 'hangup';

export interface LegServiceOptions {
  /** How long a new leg may take to connect (ICE + DTLS) before it is ended. */
  connectTimeoutMs: number;
  /** How long a connected leg's ICE may stay disconnected (the peer gone silent) before the leg is ended. */
  disconnectGraceMs: number;
  /** Refuses new legs past the gateway's capacity. */
  admission?: Admission | undefined;
  /** Most speakers each conversation's audio bridge mixes at once (its default when unset). */
  bridgeMaxSpeakers?: number | undefined;
  /** WebRTC legs one member, and one conversation, may hold at once. */
  limits?: LegLimits | undefined;
  /** The media threads the bridges run on; in this process when undefined (a fake media engine). */
  threads?: MediaThreads | undefined;
}

/** What member and conversation changes need from legs: ending them, synchronously, in order. */
export interface LegTermination {
  terminateConversation(conversationId: string, reason: string): void;
  terminateMember(memberId: string, reason: string): void;
}
