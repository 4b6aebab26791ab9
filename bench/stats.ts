import { readdirSync, readFileSync } from 'node:fs';
import type { CommitStats } from '../src/store/groupCommit.js';
import type { SummaryRow } from './summary.js';
/** Measurement helpers shared by the benchmarks: wall and CPU windows, percentiles, formatting. */

export interface Window {
  /** Wall-clock duration in milliseconds. */
  wallMs: number;
  /** Process CPU time (user + system, every thread) in microseconds. */
  cpuUs: number;
  userUs: number;
  systemUs: number;
}

/** Starts a measurement window; call the returned function to close it. */
export function startWindow(): () => Window {
  const wall0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;
    return { wallMs, cpuUs: cpu.user + cpu.system, userUs: cpu.user, systemUs: cpu.system };
  };
}

/** CPU ticks (user + system, 1/100 s) of each thread of this process, by "tid comm", from /proc. */
export function threadTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      ticks.set(`${tid} ${stat.slice(stat.indexOf('(') + 1, close)}`, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return ticks;
}

/**
 * Wake-ups of each thread of this process so far, by "tid comm", from /proc: its voluntary context
 * switches (each time it blocked, in epoll_wait, a futex or a read, and was woken again later).
 */
export function threadWakeups(): Map<string, number> {
  const wakeups = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
      wakeups.set(`${tid} ${name}`, Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? 0));
    } catch {
      // the thread ended meanwhile
    }
  }
  return wakeups;
}

/** Wake-ups of each thread since `before` (a `threadWakeups()` reading), most first; the main thread is named `main`. */
export function threadWakeupsSince(before: Map<string, number>): { thread: string; wakeups: number }[] {
  return [...threadWakeups()]
    .map(([name, n]) => ({ thread: name.startsWith(`${process.pid} `) ? 'main' : name, wakeups: n - (before.get(name) ?? 0) }))
    .filter((row) => row.wakeups > 0)
    .sort((a, b) => b.wakeups - a.wakeups);
}

/**
 * CPU milliseconds each thread spent since `before` (a `threadTicks()` reading), busiest first,
 * threads that spent none left out; the main thread is named `main`, the others by tid.
 */
export function threadCpuSince(before: Map<string, number>): { thread: string; ms: number }[] {
  return [...threadTicks()]
    .map(([name, t]) => ({ thread: name.startsWith(`${process.pid} `) ? 'main' : name, ms: (t - (before.get(name) ?? 0)) * 10 }))
    .filter((row) => row.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}

/** Nearest-rank percentile (p in 0..100) of samples; sorts a copy. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Nanoseconds between two hrtime readings, as microseconds. */
export function usBetween(start: bigint, end: bigint): number {
  return Number(end - start) / 1000;
}

export function fixed(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** One "label: value" line per entry, labels padded so the values line up. */
export function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `    ${`${label}:`.padEnd(width + 2)}${value}`);
}

/** The CPU lines every benchmark prints: total, split, and per unit of work. */
export function cpuRows(w: Window, units: number, unit: string): [string, string][] {
  return [
    [
      'CPU time',
      `${fixed(w.cpuUs / 1000, 1)} ms (user ${fixed(w.userUs / 1000, 1)} + system ${fixed(w.systemUs / 1000, 1)}) over ${fixed(w.wallMs, 1)} ms wall = ${fixed(w.cpuUs / 1000 / w.wallMs, 2)} cores busy`,
    ],
    [`CPU per ${unit}`, `${fixed(w.cpuUs / units, 1)} µs`],
  ];
}

/** What a benchmark hands back to the runner. */
export interface BenchResult {
  lines: string[];
  /** Rows for the closing table of target figures (bench/summary.ts). */
  summary?: SummaryRow[];
  /** Problems found while checking results; the runner prints them as FAIL. */
  failures: string[];
}

/** utime + stime of process `pid` in ms (/proc/<pid>/stat, clock ticks of 10 ms); 0 once it is gone. */
export function processCpuMs(pid: number, thread?: number): number {
  try {
    const text = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * The store's group commits between two readings of `store.commitStats`, over `wallMs` of wall time
 * in which `units` were written: how many groups, how long their COMMITs held the event loop (the
 * groups' pages written to the WAL) and how long the WAL syncs took off it.
 */
export function commitRow(before: Readonly<CommitStats>, after: Readonly<CommitStats>, wallMs: number, units: number, unit: string): [string, string] {
  // `unit` names what `units` counts, plural (e.g. 'events posted').
  const commits = after.commits - before.commits;
  const syncs = after.syncs - before.syncs;
  const spaced = after.spaced - before.spaced;
  if (commits === 0) return ['Store commits', 'none in the window'];
  const commitMs = (after.commitSeconds - before.commitSeconds) * 1000;
  const syncMs = (after.syncSeconds - before.syncSeconds) * 1000;
  return [
    'Store commits',
    `${fixed(commits)} groups (${fixed(units / commits, 2)} ${unit} per group); COMMIT ${fixed((commitMs * 1000) / commits)} µs each on the event loop ` +
      `(${fixed((100 * commitMs) / wallMs, 1)}% of the wall time); ${syncs > 0 ? `${fixed(syncs)} WAL syncs (${fixed(spaced)} held back by the spacing), ${fixed(syncMs / syncs, 2)} ms each, off it` : 'no WAL sync (synchronous=normal)'}`,
  ];
}
