import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import type { VideoSfu } from '../media/video/videoSfu.js';
import type { Leg } from '../store/legsRepo.js';
import type { SipMediaStats } from './sipMediaStats.js';

/** A media toggle as the leg machines name it. */
export type ToggleKind = 'MUTE' | 'EARMUFF' | 'VIDEO_MUTE';

/** Where a transfer moves a leg: the target conversation, its member there, and that conversation's media. */
export interface TransferTarget {
  conversationId: string;
  memberId: string;
  bridge: ConversationBridge;
  video: VideoSfu;
}

/**
 * A running leg of any kind (WebRTC or SIP) as the leg service drives it: its state, the commands
 * every leg takes, and the promise of its end. Kind-specific requests (ICE, SDP answers) stay on
 * the concrete runners.
 */
export interface RunningLeg {
  readonly id: string;
  readonly state: Leg;
  /** Settles once the leg has reached its final state and freed its media. */
  readonly done: Promise<void>;
  /** Runs a toggle; false when the leg's state does not take it now (not connected). */
  toggle(kind: ToggleKind, on: boolean, initiator: string): boolean;
  /**
   * Ends the leg: `client` when its own user hangs up, `api` when an operator or the application
   * does, `gateway` when the gateway does by itself (member left, conversation deleted, shutdown).
   */
  hangup(by: 'client' | 'api' | 'gateway', reason: string): void;
  /** The bridge's speaking detector changed its mind. */
  speaking(on: boolean): void;
  /** Whether the leg is speaking now, as its last `audio:speaking:on/off` said. */
  readonly isSpeaking: boolean;
  /** Media statistics, for legs that keep them (SIP). */
  mediaStats?(): SipMediaStats;
  /** Moves the connected leg to another conversation (throws InvalidState when it cannot). */
  transfer(to: TransferTarget): void;
}
