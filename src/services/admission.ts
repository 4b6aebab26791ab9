import { performance } from 'node:perf_hooks';
import { fail } from '../domain/errors.js';

export interface AdmissionOptions {
  /** Legs at once (WebRTC and SIP, running or being set up); undefined for no limit. */
  maxLegs: number | undefined;
  /** Busy share of the main thread (event-loop utilisation, 0–1) above which new legs are refused. */
  maxLoad: number;
  /** How often the load is sampled. */
  sampleMs: number;
}

/** Returns the main thread's busy share (0–1) since its previous call. */
export type LoadSampler = () => number;

/** The event loop's utilisation since the previous sample (perf_hooks), the share of time it was busy. */
export function eventLoopSampler(): LoadSampler {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}

/**
 * The load that decides admission when audio runs on media threads: the busier of the main thread
 * (signalling, store, sockets) and the media threads on average (mixing), each since the previous sample.
 */
export function mediaAwareSampler(threads: { busyShare(): number } | undefined): LoadSampler {
  const main = eventLoopSampler();
  return () => Math.max(main(), threads?.busyShare() ?? 0);
}

/** Weight of the newest sample in the smoothed load: a burst must last a few samples to count. */
const SMOOTHING = 0.5;

/**
 * Admission control: a new leg (an INVITE, an `rtc:new`) is refused with `Unavailable` when the
 * gateway carries its configured number of legs, or when its main thread or its media threads are busier than the
 * configured share, so that the calls already admitted keep their quality. The load is smoothed
 * over a few samples so one slow tick does not turn callers away.
 */
export class Admission {
  private load = 0;
  private timer: NodeJS.Timeout | undefined;
  private drainingSince: number | undefined;

  constructor(
    private readonly options: AdmissionOptions,
    private readonly countLegs: () => number,
    private readonly sample: LoadSampler = eventLoopSampler(),
  ) {}

  /** Starts sampling the load. */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.tick(), this.options.sampleMs);
    this.timer.unref();
  }

  /** Takes one load sample now (the timer does this every `sampleMs`). */
  tick(): void {
    this.load = SMOOTHING * this.sample() + (1 - SMOOTHING) * this.load;
  }

  /** The smoothed main-thread load (0–1). */
  get currentLoad(): number {
    return this.load;
  }

  /** Whether this node is draining: it takes no new legs while those it carries finish. */
  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  /** Refuses every new leg from now on (`legway cluster drain`); the legs already admitted go on. */
  drain(): void {
    this.drainingSince ??= Date.now();
  }

  /** Throws `Unavailable` when a new `what` (e.g. 'SIP call') may not start now. */
  check(what: string): void {
    if (this.draining) throw fail('Unavailable', `this node is draining; no new ${what} here, try another node`);
    const max = this.options.maxLegs;
    if (max !== undefined && this.countLegs() >= max) throw fail('Unavailable', `the gateway carries its limit of ${max} legs; no new ${what} now`);
    if (this.options.maxLoad < 1 && this.load >= this.options.maxLoad) {
      throw fail('Unavailable', `the gateway is at capacity (${Math.round(this.load * 100)} % busy); no new ${what} now, try again shortly`);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
