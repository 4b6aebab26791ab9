import type { AudioEndpoint } from '../engine.js';
import type { SipLegAudio } from '../rtp/sipRtp.js';
import type { BridgeStats } from './audioBridge.js';
import type { LegInputStats } from './bridgeLeg.js';
import type { Player, Tap } from './sources.js';

/**
 * A conversation's audio bridge as the services use it: the AudioBridge itself (in this process),
 * or its proxy when it runs on a media thread (src/media/threads/threadBridge.ts).
 */
export interface ConversationBridge {
  readonly conversationId: string;
  readonly size: number;
  legIds(): string[];
  has(legId: string): boolean;
  /** The bridge's counters, as last reported (a media thread reports them a few times a second). */
  readonly stats: BridgeStats;
  /** One leg's input counters (as last reported), or undefined when it is not here. */
  legStats(legId: string): Readonly<LegInputStats> | undefined;
  /** Adds a WebRTC leg's audio. */
  add(legId: string, endpoint: AudioEndpoint): void;
  /** Adds a SIP leg's audio (the bridge takes ownership). */
  addSip(legId: string, audio: SipLegAudio): void;
  remove(legId: string): void;
  /** Moves a leg to another conversation's bridge, its audio carrying on; false when it is not here. */
  moveLeg(legId: string, to: ConversationBridge): boolean;
  play(player: Player): void;
  stopPlayer(id: string): boolean;
  tap(tap: Tap): void;
  stopTap(id: string): boolean;
  setMuted(legId: string, on: boolean): void;
  setHeld(legId: string, on: boolean): void;
  setEarmuffed(legId: string, on: boolean): void;
  setAudience(legId: string, audience: { canHear?: readonly string[] | undefined; canSpeak?: readonly string[] | undefined }): void;
  close(): void;
}
