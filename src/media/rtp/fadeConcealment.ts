/**
 * Loss concealment for one decoded PCM stream: the last stretch of real audio is repeated, fading
 * linearly to silence, as `G711Input` does frame by frame. Then silence, and the audio is forgotten,
 * so that a later loss cannot resurrect it.
 */

/** Remembers the audio played and fills gaps with a fading repeat of it. */
export class FadeConcealer {
  /** The last `period` samples of real audio, a ring whose oldest sample is at `pos`. */
  private readonly recent: Int16Array;
  private pos = 0;
  /** Samples concealed since the last real audio; `fade` or more: nothing left to repeat. */
  private concealed: number;

  /** Repeats the last `period` samples, fading to silence over `fade` samples. */
  constructor(period: number, private readonly fade: number) {
    this.recent = new Int16Array(period);
    this.concealed = fade;
  }

  /** Samples of fade left before concealment is silence. */
  get remaining(): number {
    return Math.max(0, this.fade - this.concealed);
  }

  /** Copies `count` samples of real audio from `src` at `from` into `out` at `at`, remembering them. */
  play(src: Int16Array, from: number, out: Int16Array, at: number, count: number): void {
    const recent = this.recent;
    // After a pause or a spent fade the ring holds stale audio, which must not come back.
    if (this.concealed >= this.fade) recent.fill(0);
    let r = this.pos;
    for (let i = 0; i < count; i++) {
      const sample = src[from + i] ?? 0;
      out[at + i] = sample;
      recent[r] = sample;
      if (++r === recent.length) r = 0;
    }
    this.pos = r;
    this.concealed = 0;
  }

  /** Writes `count` concealment samples into `out` at `at`; false if they are all silence. */
  conceal(out: Int16Array, at: number, count: number): boolean {
    const { recent, fade } = this;
    let k = this.concealed;
    if (k >= fade) {
      out.fill(0, at, at + count);
      return false;
    }
    let r = (this.pos + k) % recent.length;
    for (let i = at; i < at + count; i++) {
      // Int16Array truncates the product: no rounding needed.
      out[i] = k < fade ? ((recent[r] ?? 0) * (fade - k)) / fade : 0;
      k++;
      if (++r === recent.length) r = 0;
    }
    this.concealed = k;
    return true;
  }

  /** Forgets the audio (a pause, a new stream): concealment is silence until audio plays again. */
  forget(): void {
    this.concealed = this.fade;
  }
}
