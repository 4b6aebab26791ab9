import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { mixFor, mixFrames } from '../audio/mixer.js';
import { SpeakingDetector } from '../audio/speakingDetector.js';
import type { AudioEndpoint } from '../engine.js';
import { FRAME_MS, FRAME_SAMPLES } from '../audio/frame.js';
import { OpusLegAudio, type LegAudio } from './legAudio.js';
import { saturate, type Player, type Tap } from './sources.js';

/** Past this many frames behind (a stalled loop), the bridge skips ahead instead of bursting. */
const MAX_CATCH_UP = 5;

interface BridgeLeg {
  id: string;
  audio: LegAudio;
  speaking: SpeakingDetector;
  muted: boolean;
  earmuffed: boolean;
  /** On hold (SIP): nothing from it reaches the mix and it is sent silence, whatever mute and earmuff say. */
  held: boolean;
  /** The only legs it hears (NCCO `canHear`); everyone when undefined. */
  hears: ReadonlySet<string> | undefined;
  /** The only legs that hear it (NCCO `canSpeak`); everyone when undefined. */
  heardBy: ReadonlySet<string> | undefined;
  /** This leg's mix buffer, reused every tick. */
  out: Int16Array;
}

export interface BridgeStats {
  ticks: number;
  /** Ticks that ran more than one frame late (the loop could not keep up). */
  late: number;
}

/**
 * A conversation's conference bridge in Node: every 20 ms it takes one decoded frame from each
 * leg (jitter buffer + concealment), mixes them once, and sends each leg everyone but itself,
 * encoded by that leg's own codec (LegAudio: Opus for WebRTC, G.711 for SIP). A muted leg is left out of the mix; an earmuffed leg
 * gets silence. Players add audio for everyone or for one leg; taps copy the mix or one leg's
 * audio out for recordings.
 */
export class AudioBridge {
  private readonly legs = new Map<string, BridgeLeg>();
  private readonly players = new Map<string, Player>();
  private readonly taps = new Map<string, Tap>();
  /** Scratch buffers for a leg's own players and for taps, reused every tick. */
  private readonly scratch = new Int32Array(FRAME_SAMPLES);
  /** What plays to everyone this tick. */
  private readonly shared = new Int32Array(FRAME_SAMPLES);
  private sharedThisTick = false;
  private readonly tapFrame = new Int16Array(FRAME_SAMPLES);
  private readonly frames = new Map<string, Int16Array | undefined>();
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly total = new Int32Array(FRAME_SAMPLES);
  /** Made once, not per tick: the 20 ms loop allocates nothing it can avoid. */
  private readonly contributes = (id: string): boolean => {
    const leg = this.legs.get(id);
    return leg !== undefined && !leg.muted && !leg.held;
  };
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private ticks = 0;
  private late = 0;

  constructor(
    readonly conversationId: string,
    private readonly onSpeaking: (legId: string, on: boolean) => void,
    private readonly logger: Logger,
    /** `manual`: the caller drives `tick()` (tests, benchmarks); otherwise a 20 ms timer runs while there are legs. */
    private readonly options: { manual?: boolean } = {},
  ) {}

  get size(): number {
    return this.legs.size;
  }

  /** The legs in the bridge now. */
  legIds(): string[] {
    return [...this.legs.keys()];
  }

  get stats(): BridgeStats {
    return { ticks: this.ticks, late: this.late };
  }

  /** Adds a WebRTC (Opus) leg: its audio feeds the mix from now on and it receives the mix of the others. */
  add(legId: string, endpoint: AudioEndpoint): void {
    if (this.legs.has(legId)) return;
    this.addLeg(legId, new OpusLegAudio(endpoint));
  }

  /** Adds a leg of any codec (the bridge takes ownership: it closes `audio` when the leg goes). */
  addLeg(legId: string, audio: LegAudio): void {
    if (this.legs.has(legId)) {
      audio.close();
      return;
    }
    this.legs.set(legId, {
      id: legId,
      audio,
      speaking: new SpeakingDetector(),
      muted: false,
      earmuffed: false,
      held: false,
      hears: undefined,
      heardBy: undefined,
      out: new Int16Array(FRAME_SAMPLES),
    });
    if (this.timer === undefined) this.start();
  }

  /** Removes a leg and frees its codec state, ending what played to it or tapped it; the loop stops with the last leg. */
  remove(legId: string): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg.audio.close();
    this.legs.delete(legId);
    this.frames.delete(legId);
    for (const player of this.players.values()) if (player.legId === legId) this.endPlayer(player, 'closed');
    for (const tap of this.taps.values()) if (tap.legId === legId) this.endTap(tap, 'closed');
    if (this.legs.size === 0) this.close();
  }

  /**
   * Moves a leg to another conversation's bridge with its decoder, encoder and state, so its
   * audio carries on without a gap; what played to it or tapped it goes with it.
   */
  moveLeg(legId: string, to: AudioBridge): boolean {
    const leg = this.legs.get(legId);
    if (!leg || to === this || to.legs.has(legId)) return false;
    this.legs.delete(legId);
    this.frames.delete(legId);
    to.legs.set(legId, leg);
    for (const [id, player] of this.players) {
      if (player.legId !== legId) continue;
      this.players.delete(id);
      to.players.set(id, player);
    }
    for (const [id, tap] of this.taps) {
      if (tap.legId !== legId) continue;
      this.taps.delete(id);
      to.taps.set(id, tap);
    }
    // The speaking detector starts over: the new conversation has not heard this leg speak.
    leg.speaking = new SpeakingDetector();
    if (to.timer === undefined) to.start();
    if (this.legs.size === 0) this.close();
    return true;
  }

  has(legId: string): boolean {
    return this.legs.has(legId);
  }

  /** Plays to everyone, or to the player's one leg (which must be in this bridge). */
  play(player: Player): void {
    if (player.legId !== undefined && !this.legs.has(player.legId)) {
      player.end('closed');
      return;
    }
    this.players.set(player.id, player);
  }

  /** Stops a player; false when it is not playing here. */
  stopPlayer(id: string): boolean {
    const player = this.players.get(id);
    if (!player) return false;
    this.endPlayer(player, 'stopped');
    return true;
  }

  /** Starts tapping the mix, or one leg of this bridge. */
  tap(tap: Tap): void {
    if (tap.legId !== undefined && !this.legs.has(tap.legId)) {
      tap.end('closed');
      return;
    }
    this.taps.set(tap.id, tap);
  }

  /** Stops a tap; false when it is not tapping here. */
  stopTap(id: string): boolean {
    const tap = this.taps.get(id);
    if (!tap) return false;
    this.endTap(tap, 'stopped');
    return true;
  }

  /** Ends everything playing and tapping and stops the loop (the conversation has no legs left). */
  close(): void {
    for (const player of [...this.players.values()]) this.endPlayer(player, 'closed');
    for (const tap of [...this.taps.values()]) this.endTap(tap, 'closed');
    this.stop();
  }

  setMuted(legId: string, on: boolean): void {
    const leg = this.legs.get(legId);
    if (leg) leg.muted = on;
  }

  setHeld(legId: string, on: boolean): void {
    const leg = this.legs.get(legId);
    if (leg) leg.held = on;
  }

  /**
   * Limits whom a leg hears (`canHear`) and who hears it (`canSpeak`), by leg id, as an NCCO's
   * conversation action does; `undefined` lifts a limit. What is played to everyone is still heard.
   */
  setAudience(legId: string, audience: { canHear?: readonly string[] | undefined; canSpeak?: readonly string[] | undefined }): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg.hears = audience.canHear && new Set(audience.canHear);
    leg.heardBy = audience.canSpeak && new Set(audience.canSpeak);
  }

  setEarmuffed(legId: string, on: boolean): void {
    const leg = this.legs.get(legId);
    if (leg) leg.earmuffed = on;
  }

  /** One 20 ms step of the bridge (public so that benchmarks can drive it without a timer). */
  tick(): void {
    for (const leg of this.legs.values()) {
      const frame = leg.audio.nextFrame();
      this.frames.set(leg.id, frame);
      const change = leg.speaking.update(frame);
      if (change !== undefined) this.onSpeaking(leg.id, change === 'on');
    }
    const { total, contributors } = mixFrames(this.frames, this.contributes, this.total);
    let ownPlayers = false;
    let sharedPlayers = false;
    let restricted = false;
    for (const player of this.players.values()) {
      if (player.legId !== undefined) ownPlayers = true;
      else {
        // Cleared only on ticks that have something to play to everyone.
        if (!sharedPlayers) this.shared.fill(0);
        player.mixInto(this.shared);
        sharedPlayers = true;
      }
    }
    this.sharedThisTick = sharedPlayers;
    if (sharedPlayers) for (let i = 0; i < total.length; i++) total[i] = (total[i] ?? 0) + (this.shared[i] ?? 0);
    for (const leg of this.legs.values()) if (leg.hears ?? leg.heardBy) restricted = true;
    if (this.taps.size > 0) this.feedTaps(total);
    for (const leg of this.legs.values()) {
      const own = this.frames.get(leg.id);
      const ownContributes = !leg.muted && !leg.held && own !== undefined;
      const deaf = leg.earmuffed || leg.held;
      if (restricted && !deaf) {
        // Some legs hear, or are heard by, only some others: this leg's mix is summed for it alone.
        this.selectiveMix(leg);
        this.mixOwnPlayers(leg.id, this.scratch);
        leg.audio.send(mixFor(this.scratch, undefined, false, leg.out));
      } else if (ownPlayers && !deaf && this.mixOwnPlayers(leg.id, total)) {
        leg.audio.send(mixFor(this.scratch, own, ownContributes, leg.out));
      } else if (deaf || (!sharedPlayers && contributors === (ownContributes ? 1 : 0))) {
        // Nothing to hear (earmuffed, or nobody else speaks): the shared silent packet, no encoding.
        leg.audio.sendSilence();
      } else {
        leg.audio.send(mixFor(total, own, ownContributes, leg.out));
      }
    }
    // Players and taps may be ended from outside (stopped by id): drop them here.
    for (const player of this.players.values()) if (!player.active) this.players.delete(player.id);
    for (const tap of this.taps.values()) if (!tap.active) this.taps.delete(tap.id);
  }

  /** Puts into the scratch buffer what `leg` may hear: what plays to everyone, and each leg it may hear that may be heard by it. */
  private selectiveMix(leg: BridgeLeg): void {
    if (this.sharedThisTick) this.scratch.set(this.shared);
    else this.scratch.fill(0);
    for (const other of this.legs.values()) {
      if (other === leg || other.muted || other.held) continue;
      if (leg.hears && !leg.hears.has(other.id)) continue;
      if (other.heardBy && !other.heardBy.has(leg.id)) continue;
      const frame = this.frames.get(other.id);
      if (!frame) continue;
      for (let i = 0; i < frame.length; i++) this.scratch[i] = (this.scratch[i] ?? 0) + (frame[i] ?? 0);
    }
  }

  /** Puts `total` plus what plays to this one leg into the scratch buffer; false when nothing does. */
  private mixOwnPlayers(legId: string, total: Int32Array): boolean {
    let any = false;
    for (const player of this.players.values()) {
      if (player.legId !== legId || !player.active) continue;
      if (!any) this.scratch.set(total);
      any = true;
      player.mixInto(this.scratch);
    }
    return any;
  }

  private feedTaps(total: Int32Array): void {
    let mix: Int16Array | undefined;
    for (const tap of this.taps.values()) {
      if (tap.legId === undefined) {
        mix ??= saturate(total, this.tapFrame);
        tap.take(mix);
      } else {
        const leg = this.legs.get(tap.legId);
        const own = leg && !leg.muted && !leg.held ? this.frames.get(leg.id) : undefined;
        tap.take(own ?? this.silence);
      }
    }
  }

  private endPlayer(player: Player, reason: 'stopped' | 'closed'): void {
    this.players.delete(player.id);
    player.end(reason);
  }

  private endTap(tap: Tap, reason: 'stopped' | 'closed'): void {
    this.taps.delete(tap.id);
    tap.end(reason);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    if (this.options.manual) return;
    this.startedAt = performance.now();
    this.ticks = 0;
    this.schedule();
  }

  /** A drift-free loop: each run catches up to wall time, so timer jitter does not slow the audio. */
  private schedule(): void {
    const due = this.startedAt + (this.ticks + 1) * FRAME_MS;
    this.timer = setTimeout(() => {
      let due = Math.floor((performance.now() - this.startedAt) / FRAME_MS) - this.ticks;
      if (due > MAX_CATCH_UP) {
        // Stalled for longer than a jitter buffer can absorb: drop the missed frames, play on.
        this.late += due - 1;
        this.ticks += due - 1;
        due = 1;
        this.logger.warn({ conversation_id: this.conversationId }, 'audio bridge fell behind; skipping ahead');
      } else if (due > 1) {
        this.late += due - 1;
      }
      try {
        for (let i = 0; i < due; i++) {
          this.tick();
          this.ticks++;
        }
      } catch (err) {
        this.logger.error({ err, conversation_id: this.conversationId }, 'audio bridge tick failed');
      }
      if (this.legs.size > 0) this.schedule();
    }, Math.max(0, due - performance.now()));
  }
}
