/**
 * What held the main thread up during a run, for the soak: garbage collection pauses (from the
 * `gc` performance entries, with their kind) and event-loop stalls (a 5 ms timer that fired late),
 * each kept with its offset into the run, so a late audio frame can be matched with its cause.
 */
import { constants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';

/** A pause or stall of at least this many milliseconds is kept. */
const KEEP_MS = 10;
const PROBE_MS = 5;

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

export interface Stall {
  /** Seconds into the run. */
  at: number;
  ms: number;
  what: string;
}

export class StallMonitor {
  private readonly stalls: Stall[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.gc(entry);
  });
  private probe: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private gcMs = 0;

  start(): void {
    this.startedAt = performance.now();
    this.observer.observe({ entryTypes: ['gc'] });
    let expected = performance.now() + PROBE_MS;
    this.probe = setInterval(() => {
      const now = performance.now();
      const late = now - expected;
      if (late >= KEEP_MS) this.stalls.push({ at: this.offset(now - late), ms: late, what: 'event loop' });
      expected = now + PROBE_MS;
    }, PROBE_MS);
  }

  /** Stops watching; returns what was kept, in order, and the total time spent in GC. */
  stop(): { stalls: Stall[]; gcMs: number } {
    clearInterval(this.probe);
    this.observer.disconnect();
    return { stalls: [...this.stalls].sort((a, b) => a.at - b.at), gcMs: this.gcMs };
  }

  private gc(entry: PerformanceEntry): void {
    this.gcMs += entry.duration;
    if (entry.duration < KEEP_MS) return;
    const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
    const kind = detail?.kind === undefined ? 'gc' : (GC_KINDS[detail.kind] ?? 'gc');
    this.stalls.push({ at: this.offset(entry.startTime), ms: entry.duration, what: `${kind} GC` });
  }

  private offset(time: number): number {
    return (time - this.startedAt) / 1000;
  }
}
