import { describeMachine } from '../bench/machine.js';
import { cpuRows, fixed, table } from '../bench/stats.js';
import type { TargetResult } from './property.js';

/** Everything the run found, for `printReport`. */
export interface FuzzReport {
  readonly mode: string;
  readonly seed: number;
  readonly targets: readonly TargetResult[];
  readonly crashes: readonly string[];
  readonly liveness: { probes: number; failures: readonly string[] };
  readonly rss: { start: number; end: number; limitPercent: number; samples: readonly { at: string; rss: number; heap: number; external: number }[] };
  readonly durationMs: number;
}

const mib = (bytes: number): string => `${fixed(bytes / 1024 ** 2, 1)} MiB`;

/** RSS growth from start to end, in percent. */
export function rssGrowth(report: Pick<FuzzReport, 'rss'>): number {
  return ((report.rss.end - report.rss.start) / report.rss.start) * 100;
}

/** Every invariant failure of the run, one message each; empty when the run passed. */
export function failuresOf(report: FuzzReport): string[] {
  const failures: string[] = [];
  for (const t of report.targets) for (const f of t.failures) failures.push(`${t.name}: ${f}`);
  for (const c of report.crashes) failures.push(`crash: ${c}`);
  for (const l of report.liveness.failures) failures.push(`liveness: ${l}`);
  const growth = rssGrowth(report);
  if (growth >= report.rss.limitPercent) failures.push(`memory: RSS grew ${fixed(growth, 1)} % (limit ${report.rss.limitPercent} %)`);
  return failures;
}

/** Prints the figures as the benchmarks do: machine, method, per-target counts, memory, verdict. */
export function printReport(report: FuzzReport): void {
  const lines: string[] = ['', `== legway fuzz (${report.mode}, seed ${report.seed})`, '', '  Machine', ...describeMachine(), ''];
  for (const t of report.targets) {
    const crashes = t.failures.length;
    lines.push(`  ${t.name}`);
    lines.push(...t.method.map((m) => `    method: ${m}`));
    lines.push(
      ...table([
        ['inputs', fixed(t.inputs)],
        ['accepted / rejected', `${fixed(t.accepted)} / ${fixed(t.rejected)}`],
        ['failures', String(crashes)],
        ['state checks', t.stateChecked === 0 ? 'n/a' : `${fixed(t.stateChecked)} checked, ${fixed(t.stateViolations)} changed state`],
        ['rate', `${fixed(t.inputs / (t.window.wallMs / 1000))} inputs/s`],
        ...cpuRows(t.window, Math.max(1, t.inputs), 'input'),
      ]),
      '',
    );
  }
  const growth = rssGrowth(report);
  const stateChecked = report.targets.reduce((n, t) => n + t.stateChecked, 0);
  const stateViolations = report.targets.reduce((n, t) => n + t.stateViolations, 0);
  lines.push(
    '  Invariants',
    ...table([
      ['crashes', `${report.crashes.length} (uncaught exceptions and unhandled rejections in the gateway's process)`],
      ['liveness probes', `${report.liveness.probes} (GET /healthz and SIP OPTIONS), ${report.liveness.failures.length} failed`],
      ['state check', `${fixed(stateChecked)} rejected inputs checked, ${stateViolations} changed the store: ${stateViolations === 0 ? 'PASS' : 'FAIL'}`],
      ['RSS at start', `${mib(report.rss.start)} (after warm-up and a full GC)`],
      ['RSS at end', `${mib(report.rss.end)} (after a full GC)`],
      ['RSS growth', `${fixed(growth, 1)} % (limit ${report.rss.limitPercent} %)`],
      ['RSS samples', report.rss.samples.map((s) => `${s.at} ${mib(s.rss)} (heap ${mib(s.heap)}, external ${mib(s.external)})`).join(', ')],
      ['duration', `${fixed(report.durationMs / 1000, 1)} s`],
    ]),
    '',
  );
  const failures = failuresOf(report);
  if (failures.length === 0) lines.push('  PASS: every invariant held');
  else lines.push(`  FAIL: ${failures.length} invariant failure(s)`, ...failures.map((f) => `  FAIL ${f.replaceAll('\n', '\n    ')}`));
  console.log(lines.join('\n'));
}
