import { FRAME_MS } from './frame.js';

/**
 * Thresholds of answering-machine detection, named and defaulted as Asterisk's AMD application
 * (`amd.conf`), all in milliseconds except the word count and the energy threshold.
 */
export interface AmdSettings {
  /** Silence before any speech longer than this: a machine (waiting to record) or a dead line. */
  initialSilence: number;
  /** Speech of one greeting longer than this: a machine reading its message. */
  greeting: number;
  /** Silence after the greeting longer than this: a human waiting for an answer. */
  afterGreetingSilence: number;
  /** No verdict after this long: unknown. */
  totalAnalysisTime: number;
  /** Shortest run of voiced frames that counts as a word. */
  minimumWordLength: number;
  /** Silence that separates two words. */
  betweenWordsSilence: number;
  /** This many words: a machine. */
  maximumNumberOfWords: number;
  /** Mean absolute amplitude (16-bit) above which a frame is voiced. */
  silenceThreshold: number;
}

export const AMD_DEFAULTS: AmdSettings = {
  initialSilence: 2500,
  greeting: 1500,
  afterGreetingSilence: 800,
  totalAnalysisTime: 5000,
  minimumWordLength: 100,
  betweenWordsSilence: 50,
  maximumNumberOfWords: 3,
  silenceThreshold: 256,
};

export interface AmdVerdict {
  type: 'human' | 'machine' | 'unknown';
  confidence: number;
  /** Why, for logs: which rule decided. */
  reason: string;
}

/**
 * Answering-machine detection from the callee's first seconds of audio, in the manner of
 * Asterisk's AMD: frames are voiced or silent by energy; runs of voice make words; a long initial
 * silence, a long greeting or many words mean a machine, a short greeting followed by silence
 * means a human. Feed one frame per 20 ms from the answer on; the first verdict is final.
 */
export class AnsweringMachineDetector {
  private readonly s: AmdSettings;
  private elapsed = 0;
  private voicedRun = 0;
  private silentRun = 0;
  private greetingMs = 0;
  private words = 0;
  private inWord = false;
  private heardSpeech = false;
  private verdict: AmdVerdict | undefined;

  constructor(settings: Partial<AmdSettings> = {}) {
    this.s = { ...AMD_DEFAULTS, ...settings };
  }

  get decided(): AmdVerdict | undefined {
    return this.verdict;
  }

  /** Takes one frame (any sample rate, 20 ms); returns the verdict once there is one. */
  feed(frame: Int16Array | undefined): AmdVerdict | undefined {
    if (this.verdict) return this.verdict;
    this.elapsed += FRAME_MS;
    const voiced = frame !== undefined && meanAbs(frame) > this.s.silenceThreshold;
    if (voiced) this.onVoiced();
    else this.onSilent();
    if (this.decided === undefined && this.elapsed >= this.s.totalAnalysisTime) this.decide('unknown', 0.5, 'no decision within the analysis time');
    return this.verdict;
  }

  private onVoiced(): void {
    this.silentRun = 0;
    this.voicedRun += FRAME_MS;
    if (this.heardSpeech) this.greetingMs += FRAME_MS;
    if (!this.inWord && this.voicedRun >= this.s.minimumWordLength) {
      this.inWord = true;
      this.words++;
      if (!this.heardSpeech) {
        this.heardSpeech = true;
        this.greetingMs = this.voicedRun;
      }
      if (this.words >= this.s.maximumNumberOfWords) this.decide('machine', 0.85, `${String(this.words)} words`);
    }
    if (!this.verdict && this.heardSpeech && this.greetingMs > this.s.greeting) {
      this.decide('machine', Math.min(0.99, 0.7 + (0.2 * this.greetingMs) / this.s.greeting / 2), `greeting longer than ${String(this.s.greeting)} ms`);
    }
  }

  private onSilent(): void {
    this.voicedRun = 0;
    this.silentRun += FRAME_MS;
    if (this.heardSpeech) this.greetingMs += FRAME_MS;
    if (this.inWord && this.silentRun >= this.s.betweenWordsSilence) this.inWord = false;
    if (!this.heardSpeech && this.silentRun > this.s.initialSilence) {
      this.decide('machine', 0.6, `silence longer than ${String(this.s.initialSilence)} ms before any speech`);
    } else if (this.heardSpeech && this.silentRun > this.s.afterGreetingSilence) {
      this.decide('human', 0.8, `a short greeting, then ${String(this.s.afterGreetingSilence)} ms of silence`);
    }
  }

  private decide(type: AmdVerdict['type'], confidence: number, reason: string): void {
    this.verdict = { type, confidence, reason };
  }
}

function meanAbs(frame: Int16Array): number {
  let sum = 0;
  for (const v of frame) sum += Math.abs(v);
  return frame.length === 0 ? 0 : sum / frame.length;
}
