/**
 * One leg inside the bridge: its audio, what the operator set on it (mute, earmuff, hold,
 * audience), and this tick's input, decoded only when something asks for it.
 */
import { FRAME_SAMPLES } from '../audio/frame.js';
import { frameDbfs, SpeakingDetector } from '../audio/speakingDetector.js';
import type { LegAudio, ReceivedFrame } from './legAudio.js';

/** Per-leg counters of the bridge's input work. */
export interface LegInputStats {
  /** Ticks whose frame was decoded to 48 kHz. */
  decoded: number;
  /** Ticks whose frame was mixed at its codec's rate as it came (SIP G.711, G.722), not decoded to 48 kHz. */
  native: number;
  /** Ticks whose packet was taken from the jitter buffer and left undecoded (silent, or forwarded). */
  skipped: number;
}

export class BridgeLeg {
  speaking = new SpeakingDetector();
  muted = false;
  earmuffed = false;
  /** On hold (SIP): nothing from it reaches the mix and it is sent silence, whatever mute and earmuff say. */
  held = false;
  /** The only legs it hears (NCCO `canHear`); everyone when undefined. */
  hears: ReadonlySet<string> | undefined;
  /** The only legs that hear it (NCCO `canSpeak`); everyone when undefined. */
  heardBy: ReadonlySet<string> | undefined;
  /** This leg's mix buffer, reused every tick. */
  readonly out = new Int16Array(FRAME_SAMPLES);
  readonly stats: LegInputStats = { decoded: 0, native: 0, skipped: 0 };
  /** This tick's level in dBFS: from the sender's RFC 6464 extension, or measured on the decoded frame. */
  level = -Infinity;
  /** This tick's packet as received (legs that split receiving from decoding), for forwarding. */
  received: ReceivedFrame | undefined;
  private frameOfTick: Int16Array | undefined;
  private decodedThisTick = false;
  /** This tick's input was used at its codec's rate (`nativeFrame()`), which costs no decoding here. */
  private nativeThisTick = false;

  constructor(
    readonly id: string,
    readonly audio: LegAudio,
  ) {}

  /** Nothing from it reaches any mix. */
  get silenced(): boolean {
    return this.muted || this.held;
  }

  /** It hears nothing (gets silence). */
  get deaf(): boolean {
    return this.earmuffed || this.held;
  }

  /** Some of its audience is limited. */
  get restricted(): boolean {
    return this.hears !== undefined || this.heardBy !== undefined;
  }

  /**
   * Takes this tick's input: the packet alone when the leg can say how loud it is without decoding
   * (RFC 6464), else the decoded frame, measured. Returns the level, also kept in `level`.
   */
  take(): number {
    const audio = this.audio;
    this.decodedThisTick = false;
    this.nativeThisTick = false;
    this.frameOfTick = undefined;
    if (audio.receive === undefined || audio.decode === undefined) {
      this.received = undefined;
      this.level = frameDbfs(this.frame());
      return this.level;
    }
    const received = audio.receive();
    this.received = received;
    if (received.kind === 'empty') this.level = -Infinity;
    else if (received.levelDbfs !== undefined) this.level = received.levelDbfs;
    else this.level = frameDbfs(this.frame());
    return this.level;
  }

  /** Whether this tick's input holds audio (a packet, or a gap still being concealed). */
  get hasInput(): boolean {
    return this.received === undefined ? this.frameOfTick !== undefined : this.received.kind !== 'empty';
  }

  /** This tick's decoded frame (decoding it on first call), or undefined for silence. Valid until the next `take()`. */
  frame(): Int16Array | undefined {
    if (this.decodedThisTick) return this.frameOfTick;
    this.decodedThisTick = true;
    const audio = this.audio;
    if (audio.receive === undefined || audio.decode === undefined) {
      this.frameOfTick = audio.nextFrame();
      if (this.frameOfTick !== undefined) this.stats.decoded++;
    } else if (this.received?.kind === 'empty') {
      this.frameOfTick = undefined;
    } else {
      this.frameOfTick = audio.decode();
      this.stats.decoded++;
    }
    return this.frameOfTick;
  }

  /** The rate its input can be had at this tick without resampling (`nativeFrame()`), when below 48 kHz; undefined otherwise. */
  get nativeRate(): number | undefined {
    if (this.received === undefined || this.received.kind === 'empty') return undefined;
    return this.audio.nativeRate?.();
  }

  /** This tick's input at `nativeRate`, as its codec carried it, or undefined. Valid until the next `take()`. */
  nativeFrame(): Int16Array | undefined {
    if (this.received === undefined || this.received.kind === 'empty') return undefined;
    const frame = this.audio.decodeNative?.();
    if (frame !== undefined) this.nativeThisTick = true;
    return frame;
  }

  /** What it sends into the mix this tick: its frame, unless muted or held. */
  contribution(): Int16Array | undefined {
    return this.silenced ? undefined : this.frame();
  }

  /** Ends the tick: says whether its input was decoded, used at its codec's rate, or taken and left unused (skipped), or there was none. */
  endTick(): 'decoded' | 'native' | 'skipped' | 'idle' {
    if (this.received === undefined) return this.frameOfTick === undefined ? 'idle' : 'decoded';
    if (this.received.kind === 'empty') return 'idle';
    if (this.decodedThisTick) return 'decoded';
    if (this.nativeThisTick) {
      this.stats.native++;
      return 'native';
    }
    this.stats.skipped++;
    return 'skipped';
  }

  /** Whether `other` is in what this leg may hear (canHear / canSpeak). */
  mayHear(other: BridgeLeg): boolean {
    if (this.hears && !this.hears.has(other.id)) return false;
    return !(other.heardBy && !other.heardBy.has(this.id));
  }
}
