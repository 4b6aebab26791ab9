/**
 * One tick of the conference mix: the mixed speakers summed once, players added, taps fed, and each
 * leg sent what it hears. Listeners outside the mixed set all hear the same thing, encoded once per
 * codec (./sharedEncoders.ts); a mixed speaker hears the others (its own N−1 mix, its own encoder);
 * a leg with its own player, or any leg while some audience is limited (canHear/canSpeak), gets a
 * mix of its own; an earmuffed or held leg gets silence. A leg whose mix is one speaker and nothing
 * else (everyone while one person talks; each of two speakers) is sent that speaker's packet as it
 * came, when their codecs match: what it hears is the same, without a decode or an encode.
 * Decoding happens only when a mix is actually summed, so a speaker nobody needs decoded is not.
 * Legs whose codec runs at a lower rate (SIP G.711, G.722) get their mix summed at that rate, their
 * speakers as they came and only the rest brought down to it (./nativeMix.ts). A leg just out of
 * the mixed set is sent the shared mix by its own encoder until the shared encoder's frames no
 * longer carry its voice (a stateful codec's frames hold some of the frames before them).
 */
import { FRAME_SAMPLES } from '../audio/frame.js';
import { addInto, mixFor } from '../audio/mixer.js';
import type { BridgeLeg } from './bridgeLeg.js';
import { NativeMix } from './nativeMix.js';
import { SharedEncoders } from './sharedEncoders.js';
import { saturate, type Player, type Tap } from './sources.js';
import type { SpeakerSelection } from './speakerSelection.js';

/** What one tick mixes from. */
export interface MixInputs {
  legs: ReadonlyMap<string, BridgeLeg>;
  players: ReadonlyMap<string, Player>;
  taps: ReadonlyMap<string, Tap>;
  selection: SpeakerSelection;
  /** The bridge's tick counter, which keys the shared encoders' once-per-tick frames. */
  round: number;
}

/** The mix buffers of one bridge, reused every tick: the 20 ms loop allocates nothing it can avoid. */
export class ConferenceMix {
  /** Frames encoded by a leg's own encoder (`send`), all legs together. */
  encoded = 0;
  /** Speakers' packets sent on as they came to legs that hear only them. */
  forwarded = 0;
  readonly encoders = new SharedEncoders();
  /** The mixes at the SIP codecs' own rates. */
  private readonly native = new NativeMix();
  /** The mixed speakers and what plays to everyone: what a listener outside the mix hears. */
  private readonly total = new Int32Array(FRAME_SAMPLES);
  /** What plays to everyone this tick. */
  private readonly shared = new Int32Array(FRAME_SAMPLES);
  /** A leg's own mix (own players, limited audience). */
  private readonly scratch = new Int32Array(FRAME_SAMPLES);
  private readonly sharedPcm = new Int16Array(FRAME_SAMPLES);
  private readonly tapFrame = new Int16Array(FRAME_SAMPLES);
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly audible: BridgeLeg[] = [];
  /** This tick's mixed legs that send something into the mix (not muted or held, with input). */
  private readonly voices: BridgeLeg[] = [];
  private totalReady = false;
  /** Something plays to everyone this tick (in `shared`). */
  private sharedPlayers = false;

  /** Mixes and sends one tick. */
  run(inputs: MixInputs): void {
    const { legs, players, taps, selection, round } = inputs;
    const voices = this.voices;
    voices.length = 0;
    for (const id of selection.mixed) {
      const leg = legs.get(id);
      if (leg !== undefined && !leg.silenced && leg.hasInput) voices.push(leg);
    }
    this.totalReady = false;
    let ownPlayers = false;
    let sharedPlayers = false;
    for (const player of players.values()) {
      if (player.legId !== undefined) ownPlayers = true;
      else {
        // Cleared only on ticks that have something to play to everyone.
        if (!sharedPlayers) this.shared.fill(0);
        player.mixInto(this.shared);
        sharedPlayers = true;
      }
    }
    this.sharedPlayers = sharedPlayers;
    this.native.begin(voices, sharedPlayers ? this.shared : undefined, round);
    if (taps.size > 0) this.feedTaps(taps, legs);
    let restricted = false;
    for (const leg of legs.values()) if (leg.restricted) restricted = true;

    let sharedPcm: Int16Array | undefined;
    for (const leg of legs.values()) {
      const audio = leg.audio;
      if (leg.deaf) {
        audio.sendSilence();
        continue;
      }
      if (restricted) {
        // Some legs hear, or are heard by, only some others: this leg's mix is summed for it alone.
        const heard = this.selectiveMix(leg, legs, selection, sharedPlayers) + this.mixOwnPlayers(leg.id, players, this.scratch);
        if (heard === 0) audio.sendSilence();
        else this.send(leg, saturate(this.scratch, leg.out));
        continue;
      }
      const mixed = voices.includes(leg);
      if (ownPlayers && this.hasOwnPlayer(leg.id, players)) {
        this.mixOwnPlayers(leg.id, players, this.sum());
        const own = mixed ? leg.contribution() : undefined;
        this.send(leg, mixFor(this.scratch, own, own !== undefined, leg.out));
        continue;
      }
      const heard = voices.length - (mixed ? 1 : 0) + (sharedPlayers ? 1 : 0);
      if (heard === 0) {
        // Nothing to hear (nobody else speaks): the shared silent packet, no encoding.
        audio.sendSilence();
      } else if (heard === 1 && !sharedPlayers && this.forward(voices[0] === leg ? voices[1] : voices[0], leg)) {
        // One speaker and nothing else: its packet as it came.
      } else if (mixed) {
        const rate = audio.codec?.()?.nativeRate;
        if (NativeMix.supports(rate) && audio.sendNative !== undefined && leg.nativeRate === rate) {
          // Its own voice went in at the rate it is sent at: taken out exactly.
          this.encoded++;
          audio.sendNative(this.native.without(leg, rate));
        } else {
          const own = leg.contribution();
          this.send(leg, mixFor(this.sum(), own, own !== undefined, leg.out));
        }
      } else {
        const codec = audio.codec?.();
        const rate = codec?.nativeRate;
        const shared = codec !== undefined && audio.sendEncoded !== undefined;
        if (shared && !this.encoders.carries(codec, leg.id, round)) {
          const native = NativeMix.supports(rate) ? this.encoders.encodeNative(codec, this.native.shared(rate), round, voices) : undefined;
          audio.sendEncoded?.(native ?? this.encoders.encode(codec, (sharedPcm ??= saturate(this.sum(), this.sharedPcm)), round, voices));
        } else if (shared && NativeMix.supports(rate) && audio.sendNative !== undefined) {
          // Just out of the mix, its voice still in the shared encoder's last frames: the same mix, by its own encoder.
          this.encoded++;
          audio.sendNative(this.native.shared(rate));
        } else {
          this.send(leg, (sharedPcm ??= saturate(this.sum(), this.sharedPcm)));
        }
      }
    }
  }

  /** The mixed speakers and what plays to everyone, summed on first use in a tick (decoding the speakers then). */
  private sum(): Int32Array {
    const total = this.total;
    if (this.totalReady) return total;
    this.totalReady = true;
    if (this.sharedPlayers) total.set(this.shared);
    else total.fill(0);
    for (const leg of this.voices) {
      const frame = leg.contribution();
      if (frame !== undefined) addInto(total, frame);
    }
    return total;
  }

  /** Sends `to` the packet `from` took this tick, as it came, when their codecs allow it; false when they do not. */
  private forward(from: BridgeLeg | undefined, to: BridgeLeg): boolean {
    const received = from?.received;
    const out = to.audio;
    if (from === undefined || received?.kind !== 'frame' || received.payload === undefined || out.sendEncoded === undefined) return false;
    const codec = from.audio.codec?.();
    if (codec === undefined || codec.key !== out.codec?.()?.key || !codec.forwardable(received.payload)) return false;
    out.sendEncoded(received.payload);
    this.forwarded++;
    return true;
  }

  close(): void {
    this.encoders.close();
  }

  private send(leg: BridgeLeg, mix: Int16Array): void {
    this.encoded++;
    leg.audio.send(mix);
  }

  /**
   * Puts into the scratch buffer what `leg` may hear: what plays to everyone, and the speaking legs
   * it may hear that may be heard by it, the mixed ones first, then the loudest, up to the mix's
   * size. Returns how many sources went in.
   */
  private selectiveMix(leg: BridgeLeg, legs: ReadonlyMap<string, BridgeLeg>, selection: SpeakerSelection, sharedPlayers: boolean): number {
    if (sharedPlayers) this.scratch.set(this.shared);
    else this.scratch.fill(0);
    const audible = this.audible;
    audible.length = 0;
    for (const other of legs.values()) {
      if (other !== leg && !other.silenced && selection.isActive(other.id) && leg.mayHear(other)) audible.push(other);
    }
    if (audible.length > selection.maxSpeakers) {
      audible.sort((x, y) => Number(selection.isMixed(y.id)) - Number(selection.isMixed(x.id)) || selection.loudness(y.id) - selection.loudness(x.id));
      audible.length = selection.maxSpeakers;
    }
    let heard = sharedPlayers ? 1 : 0;
    for (const other of audible) {
      const frame = other.contribution();
      if (frame === undefined) continue;
      addInto(this.scratch, frame);
      heard++;
    }
    audible.length = 0;
    return heard;
  }

  private hasOwnPlayer(legId: string, players: ReadonlyMap<string, Player>): boolean {
    for (const player of players.values()) if (player.legId === legId && player.active) return true;
    return false;
  }

  /** Puts `from` plus what plays to this one leg into the scratch buffer; returns how many players went in (0: scratch untouched). */
  private mixOwnPlayers(legId: string, players: ReadonlyMap<string, Player>, from: Int32Array): number {
    let count = 0;
    for (const player of players.values()) {
      if (player.legId !== legId || !player.active) continue;
      if (count === 0 && from !== this.scratch) this.scratch.set(from);
      count++;
      player.mixInto(this.scratch);
    }
    return count;
  }

  /** The mix tap gets what a listener outside the mix hears; a leg's tap its own audio (silence while muted or held). */
  private feedTaps(taps: ReadonlyMap<string, Tap>, legs: ReadonlyMap<string, BridgeLeg>): void {
    let mix: Int16Array | undefined;
    for (const tap of taps.values()) {
      if (tap.legId === undefined) {
        mix ??= saturate(this.sum(), this.tapFrame);
        tap.take(mix);
      } else {
        tap.take(legs.get(tap.legId)?.contribution() ?? this.silence);
      }
    }
  }
}
