import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { SpeakingDetector } from '../audio/speakingDetector.js';
import type { AudioEndpoint } from '../engine.js';
import { FRAME_MS } from '../audio/frame.js';
import { BridgeLeg, type LegInputStats } from './bridgeLeg.js';
import { ConferenceMix } from './conferenceMix.js';
import { Forwarding, forwardingPair } from './forwarding.js';
import { OpusLegAudio, type LegAudio } from './legAudio.js';
import type { Player, Tap } from './sources.js';
import type { ConversationBridge } from './conversationBridge.js';
import type { SipLegAudio } from '../rtp/sipRtp.js';
import { SpeakerSelection, type SelectionOptions } from './speakerSelection.js';

/** Past this many frames behind (a stalled loop), the bridge skips ahead instead of bursting. */
const MAX_CATCH_UP = 5;
/** How often unused shared encoders are looked for, in ticks. */
const SWEEP_TICKS = 50;

export interface BridgeStats {
  ticks: number;
  /** Ticks that ran more than one frame late (the loop could not keep up). */
  late: number;
  /** Legs' frames decoded (to 48 kHz), mixed at their codec's rate as they came, and taken but left unused (silent legs, forwarded ones). */
  decoded: number;
  native: number;
  skipped: number;
  /** Frames encoded for one leg (its own mix), and for all listeners of a codec at once (the shared mix). */
  encoded: number;
  sharedEncoded: number;
  /** Packets sent on as they came: two-party forwarding, and a lone speaker's packets to those who hear only it. */
  forwarded: number;
}

export interface BridgeOptions {
  /** `manual`: the caller drives `tick()` (tests, benchmarks); otherwise a 20 ms timer runs while there are legs. */
  manual?: boolean;
  /** Most legs mixed at once (LEGWAY_BRIDGE_MAX_SPEAKERS; default 3). */
  maxSpeakers?: number | undefined;
  /** Thresholds and timing of the speaker selection (tests). */
  selection?: Omit<SelectionOptions, 'maxSpeakers'>;
}

const isLegAudio = (audio: SipLegAudio): audio is SipLegAudio & LegAudio => 'nextFrame' in audio;

/**
 * A conversation's conference bridge in Node. Every 20 ms it takes one frame's input from each leg
 * (jitter buffer; decoded only when needed: a leg's RFC 6464 level says how loud it is without
 * decoding), picks the loudest few speakers (./speakerSelection.ts), mixes them once, and sends
 * each leg what it hears (./conferenceMix.ts): a speaker the others, encoded by its own encoder;
 * everyone else the same mix, encoded once per codec; whoever hears one speaker alone, that
 * speaker's packets as they came. Two legs alone with nothing else to do are sent each other's
 * packets as they came (./forwarding.ts). A muted leg is never mixed; an earmuffed or held leg
 * gets silence. Players add audio for everyone or for one leg; taps copy the mix or one leg's
 * audio out for recordings.
 */
export class AudioBridge implements ConversationBridge {
  private readonly legs = new Map<string, BridgeLeg>();
  private readonly players = new Map<string, Player>();
  private readonly taps = new Map<string, Tap>();
  private readonly selection: SpeakerSelection;
  private readonly mix = new ConferenceMix();
  private readonly forwarding = new Forwarding();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private ticks = 0;
  private late = 0;
  /** Ticks run, however driven: keys the shared encoders' once-per-tick frames. */
  private round = 0;
  private decoded = 0;
  private native = 0;
  private skipped = 0;

  constructor(
    readonly conversationId: string,
    private readonly onSpeaking: (legId: string, on: boolean) => void,
    private readonly logger: Logger,
    private readonly options: BridgeOptions = {},
  ) {
    this.selection = new SpeakerSelection({ ...options.selection, ...(options.maxSpeakers !== undefined && { maxSpeakers: options.maxSpeakers }) });
  }

  get size(): number {
    return this.legs.size;
  }

  /** The legs in the bridge now. */
  legIds(): string[] {
    return [...this.legs.keys()];
  }

  get stats(): BridgeStats {
    return {
      ticks: this.ticks,
      late: this.late,
      decoded: this.decoded,
      native: this.native,
      skipped: this.skipped,
      encoded: this.mix.encoded,
      sharedEncoded: this.mix.encoders.encoded,
      forwarded: this.forwarding.forwarded + this.mix.forwarded,
    };
  }

  /** One leg's input counters (how often it was decoded), or undefined when it is not here. */
  legStats(legId: string): Readonly<LegInputStats> | undefined {
    return this.legs.get(legId)?.stats;
  }

  /** The legs mixed now (the loudest few speakers), in the order they got in. */
  speakers(): readonly string[] {
    return this.selection.mixed;
  }

  /** Adds a WebRTC (Opus) leg: its audio feeds the mix from now on and it receives the mix of the others. */
  add(legId: string, endpoint: AudioEndpoint): void {
    if (this.legs.has(legId)) return;
    this.addLeg(legId, new OpusLegAudio(endpoint));
  }

  /** Adds a SIP leg's audio (in this process, an RtpLegAudio). */
  addSip(legId: string, audio: SipLegAudio): void {
    if (!isLegAudio(audio)) throw new TypeError('a SIP leg of a media thread cannot join a bridge of the main thread');
    this.addLeg(legId, audio);
  }

  /** Adds a leg of any codec (the bridge takes ownership: it closes `audio` when the leg goes). */
  addLeg(legId: string, audio: LegAudio): void {
    if (this.legs.has(legId)) {
      audio.close();
      return;
    }
    this.legs.set(legId, new BridgeLeg(legId, audio));
    if (this.timer === undefined) this.start();
  }

  /** Removes a leg and frees its codec state, ending what played to it or tapped it; the loop stops with the last leg. */
  remove(legId: string): void {
    const leg = this.legs.get(legId);
    if (!leg) return;
    leg.audio.close();
    this.legs.delete(legId);
    this.selection.remove(legId);
    for (const player of this.players.values()) if (player.legId === legId) this.endPlayer(player, 'closed');
    for (const tap of this.taps.values()) if (tap.legId === legId) this.endTap(tap, 'closed');
    if (this.legs.size === 0) this.close();
  }

  /**
   * Moves a leg to another conversation's bridge with its decoder, encoder and state, so its
   * audio carries on without a gap; what played to it or tapped it goes with it.
   */
  moveLeg(legId: string, to: ConversationBridge): boolean {
    const leg = this.legs.get(legId);
    if (!leg || !(to instanceof AudioBridge) || to === this || to.legs.has(legId)) return false;
    this.legs.delete(legId);
    this.selection.remove(legId);
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
    this.round++;
    for (const leg of this.legs.values()) {
      const level = leg.take();
      const change = leg.speaking.updateLevel(level);
      if (change !== undefined) this.onSpeaking(leg.id, change === 'on');
      this.selection.update(leg.id, level, !leg.silenced && leg.hasInput);
    }
    // Two legs are a call, not a conference: neither is gated out (see SpeakerSelection).
    this.selection.settle(this.legs.size <= 2);
    const pair = forwardingPair(this.legs.values(), this.legs.size, this.players.size > 0, this.taps.size > 0);
    if (pair) {
      this.forwarding.run(pair[0], pair[1]);
    } else {
      this.forwarding.reset();
      this.mix.run({ legs: this.legs, players: this.players, taps: this.taps, selection: this.selection, round: this.round });
    }
    for (const leg of this.legs.values()) {
      const done = leg.endTick();
      if (done === 'decoded') this.decoded++;
      else if (done === 'native') this.native++;
      else if (done === 'skipped') this.skipped++;
    }
    if (this.round % SWEEP_TICKS === 0) this.mix.encoders.sweep(this.round);
    // Players and taps may be ended from outside (stopped by id): drop them here.
    for (const player of this.players.values()) if (!player.active) this.players.delete(player.id);
    for (const tap of this.taps.values()) if (!tap.active) this.taps.delete(tap.id);
  }

  private endPlayer(player: Player, reason: 'stopped' | 'closed'): void {
    this.players.delete(player.id);
    player.end(reason);
  }

  private endTap(tap: Tap, reason: 'stopped' | 'closed'): void {
    this.taps.delete(tap.id);
    tap.end(reason);
  }

  /** Stops the loop (legs stay; `close()` ends players and taps too). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.mix.close();
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
