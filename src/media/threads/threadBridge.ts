import { fail } from '../../domain/errors.js';
import type { BridgeStats } from '../bridge/audioBridge.js';
import type { LegInputStats } from '../bridge/bridgeLeg.js';
import type { ConversationBridge } from '../bridge/conversationBridge.js';
import type { Player, Tap } from '../bridge/sources.js';
import { FRAME_SAMPLES } from '../audio/frame.js';
import type { AudioEndpoint } from '../engine.js';
import type { SipLegAudio } from '../rtp/sipRtp.js';
import { LoopbackProxy } from './loopbackProxy.js';
import type { MediaThread, MediaThreads } from './mediaThreads.js';
import type { LegMediaRef } from './protocol.js';
import { ThreadSipAudio } from './threadRtp.js';

const NO_STATS: BridgeStats = { ticks: 0, late: 0, decoded: 0, native: 0, skipped: 0, encoded: 0, sharedEncoded: 0, forwarded: 0 };

/** A leg in the bridge, and what was set on it (to set again on another thread after a move). */
interface ThreadLeg {
  media: ThreadSipAudio | LoopbackProxy;
  muted?: boolean;
  held?: boolean;
  earmuffed?: boolean;
  audience?: { canHear: string[] | undefined; canSpeak: string[] | undefined };
  /** Moving to another thread: not in any bridge until its socket is bound there. */
  moving?: boolean;
}

const refOf = (media: ThreadSipAudio | LoopbackProxy): LegMediaRef =>
  media instanceof LoopbackProxy ? { kind: 'webrtc', id: media.id } : { kind: 'sip', id: media.rtp.id };

/**
 * A conversation's audio bridge on a media thread, as the services see it: the same calls as an
 * AudioBridge, sent to the thread as control messages; players' PCM goes there once, taps' PCM
 * comes back in batches, speaking changes come back as events, and the counters are the thread's
 * latest snapshot. The thread is the one the conversation's legs' media was opened on.
 */
export class ThreadBridge implements ConversationBridge {
  private thread: MediaThread | undefined;
  private readonly legs = new Map<string, ThreadLeg>();
  private readonly players = new Map<string, Player>();
  private readonly taps = new Map<string, Tap>();
  private stopWatching: () => void = () => undefined;

  constructor(
    readonly conversationId: string,
    private readonly threads: MediaThreads,
    private readonly onSpeaking: (legId: string, on: boolean) => void,
    private readonly maxSpeakers: number | undefined,
  ) {}

  get size(): number {
    return this.legs.size;
  }

  legIds(): string[] {
    return [...this.legs.keys()];
  }

  has(legId: string): boolean {
    return this.legs.has(legId);
  }

  get stats(): BridgeStats {
    return this.thread?.snapshot.bridges[this.conversationId]?.stats ?? NO_STATS;
  }

  /** The counters now, asked of the thread (tests). */
  async freshStats(): Promise<BridgeStats> {
    return (await this.thread?.fresh())?.bridges[this.conversationId]?.stats ?? this.stats;
  }

  legStats(legId: string): Readonly<LegInputStats> | undefined {
    return this.thread?.snapshot.bridges[this.conversationId]?.legs[legId];
  }

  add(legId: string, endpoint: AudioEndpoint): void {
    const media = 'threadMedia' in endpoint ? endpoint.threadMedia : undefined;
    if (!(media instanceof LoopbackProxy)) throw new TypeError('a WebRTC leg without a media thread socket cannot join a media thread bridge');
    this.join(legId, { media });
  }

  addSip(legId: string, audio: SipLegAudio): void {
    if (!(audio instanceof ThreadSipAudio)) throw new TypeError('a SIP leg of the main thread cannot join a media thread bridge');
    this.join(legId, { media: audio });
  }

  remove(legId: string): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    this.legs.delete(legId);
    if (!leg.moving) this.thread?.send({ t: 'remove', conv: this.conversationId, legId });
    if (this.legs.size === 0) this.leave();
  }

  moveLeg(legId: string, to: ConversationBridge): boolean {
    const leg = this.legs.get(legId);
    const from = this.thread;
    if (!leg || !from || !(to instanceof ThreadBridge) || to === this || to.legs.has(legId) || leg.moving) return false;
    const target = to.thread ?? this.threads.threadOf(to.conversationId);
    // A SIP leg's RTP state (source learned, RTCP, stream) stays on its thread: it moves only within it.
    if (target !== undefined && target !== from && !(leg.media instanceof LoopbackProxy)) {
      throw fail('InvalidState', 'a SIP leg cannot move to a conversation whose audio runs on another media thread');
    }
    this.legs.delete(legId);
    to.legs.set(legId, leg);
    if (target === undefined || target === from) {
      from.send({ t: 'move', from: this.conversationId, to: to.conversationId, legId, maxSpeakers: to.maxSpeakers });
      if (leg.media instanceof LoopbackProxy) void leg.media.moveTo(to.conversationId);
      else leg.media.rtp.moved(to.conversationId);
      to.settle(from);
      for (const [id, player] of this.players) if (player.legId === legId) this.hand(this.players, to.players, id, player);
      for (const [id, tap] of this.taps) if (tap.legId === legId) this.hand(this.taps, to.taps, id, tap);
    } else {
      // Its socket is rebound on the target's thread; what played to it or tapped it ends here.
      from.send({ t: 'remove', conv: this.conversationId, legId });
      leg.moving = true;
      const moving = leg.media instanceof LoopbackProxy ? leg.media.moveTo(to.conversationId) : Promise.reject(new Error('not movable'));
      moving.then(
        () => to.arrived(legId, leg),
        () => to.legs.delete(legId),
      );
    }
    if (this.legs.size === 0) this.leave();
    return true;
  }

  play(player: Player): void {
    const thread = this.thread;
    if (!thread || (player.legId !== undefined && !this.legs.has(player.legId))) {
      player.end('closed');
      return;
    }
    this.players.set(player.id, player);
    const key = `player:${player.id}`;
    thread.listen(key, (m) => {
      if (m.t === 'playerEnded') player.end(m.reason);
    });
    player.whenEnded(() => {
      this.players.delete(player.id);
      thread.unlisten(key);
      thread.send({ t: 'stopPlayer', conv: this.conversationId, id: player.id });
    });
    const samples = player.samples.slice();
    thread.send(
      { t: 'play', conv: this.conversationId, id: player.id, samples, loop: player.loop, level: player.level, legId: player.legId },
      [samples.buffer],
    );
  }

  stopPlayer(id: string): boolean {
    const player = this.players.get(id);
    if (!player) return false;
    player.end('stopped');
    return true;
  }

  tap(tap: Tap): void {
    const thread = this.thread;
    if (!thread || (tap.legId !== undefined && !this.legs.has(tap.legId))) {
      tap.end('closed');
      return;
    }
    this.taps.set(tap.id, tap);
    const key = `tap:${tap.id}`;
    thread.listen(key, (m) => {
      if (m.t === 'tapFrames') for (let at = 0; at + FRAME_SAMPLES <= m.pcm.length; at += FRAME_SAMPLES) tap.take(m.pcm.subarray(at, at + FRAME_SAMPLES));
      else if (m.t === 'tapEnded') tap.end(m.reason);
    });
    tap.whenEnded(() => {
      this.taps.delete(tap.id);
      // Frames still on their way are dropped: the tap is over.
      thread.unlisten(key);
      thread.send({ t: 'stopTap', conv: this.conversationId, id: tap.id });
    });
    thread.send({ t: 'tap', conv: this.conversationId, id: tap.id, legId: tap.legId });
  }

  stopTap(id: string): boolean {
    const tap = this.taps.get(id);
    if (!tap) return false;
    tap.end('stopped');
    return true;
  }

  setMuted(legId: string, on: boolean): void {
    this.setFlag(legId, 'muted', on);
  }

  setHeld(legId: string, on: boolean): void {
    this.setFlag(legId, 'held', on);
  }

  setEarmuffed(legId: string, on: boolean): void {
    this.setFlag(legId, 'earmuffed', on);
  }

  setAudience(legId: string, audience: { canHear?: readonly string[] | undefined; canSpeak?: readonly string[] | undefined }): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg.audience = { canHear: audience.canHear && [...audience.canHear], canSpeak: audience.canSpeak && [...audience.canSpeak] };
    if (!leg.moving) this.thread?.send({ t: 'audience', conv: this.conversationId, legId, ...leg.audience });
  }

  close(): void {
    for (const player of [...this.players.values()]) player.end('closed');
    for (const tap of [...this.taps.values()]) tap.end('closed');
    this.thread?.send({ t: 'closeBridge', conv: this.conversationId });
    this.leave();
  }

  private setFlag(legId: string, what: 'muted' | 'held' | 'earmuffed', on: boolean): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg[what] = on;
    if (!leg.moving) this.thread?.send({ t: 'set', conv: this.conversationId, legId, what, on });
  }

  private join(legId: string, leg: ThreadLeg): void {
    if (this.legs.has(legId)) return;
    this.legs.set(legId, leg);
    this.settle(leg.media instanceof LoopbackProxy ? leg.media.thread : leg.media.rtp.thread);
    this.thread?.send({ t: 'addLeg', conv: this.conversationId, legId, media: refOf(leg.media), maxSpeakers: this.maxSpeakers });
  }

  /** A leg moved from another thread: its socket is bound here now; it joins with what was set on it. */
  private arrived(legId: string, leg: ThreadLeg): void {
    leg.moving = false;
    if (this.legs.get(legId) !== leg || !(leg.media instanceof LoopbackProxy)) return;
    this.settle(leg.media.thread);
    const thread = this.thread;
    if (!thread) return;
    thread.send({ t: 'addLeg', conv: this.conversationId, legId, media: refOf(leg.media), maxSpeakers: this.maxSpeakers });
    for (const what of ['muted', 'held', 'earmuffed'] as const) if (leg[what]) thread.send({ t: 'set', conv: this.conversationId, legId, what, on: true });
    if (leg.audience) thread.send({ t: 'audience', conv: this.conversationId, legId, ...leg.audience });
  }

  /** Runs on `thread` from now on (its first leg's media is there): speaking changes come from it. */
  private settle(thread: MediaThread): void {
    if (this.thread === thread) return;
    this.leave();
    this.thread = thread;
    thread.listen(`bridge:${this.conversationId}`, (m) => {
      if (m.t === 'speaking') this.onSpeaking(m.legId, m.on);
    });
    this.stopWatching = this.threads.onDeath(thread, () => {
      for (const player of [...this.players.values()]) player.end('closed');
      for (const tap of [...this.taps.values()]) tap.end('closed');
      this.legs.clear();
      this.leave();
    });
  }

  private leave(): void {
    this.stopWatching();
    this.thread?.unlisten(`bridge:${this.conversationId}`);
    this.thread = undefined;
  }

  private hand<T>(from: Map<string, T>, to: Map<string, T>, id: string, item: T): void {
    from.delete(id);
    to.set(id, item);
  }
}
