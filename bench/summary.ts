/**
 * The closing table of `npm run bench`: one row per figure the performance targets name, each with
 * the limit measured in the same run (what the machine or library itself does), legway's share of
 * it, the target, and a verdict. A target above the limit measured here is reported as such: the
 * row then shows how close legway comes to what the machine can do at all.
 */
import { fixed } from './stats.js';

export interface SummaryRow {
  /** The path measured, as the performance table names it. */
  path: string;
  /** What is measured, with its unit (e.g. "deliveries/s", "p99 ms", "legs per core"). */
  unit: string;
  value: number;
  /** The physical or library limit of the same work on this machine, in the same unit; omitted where none applies. */
  limit?: number | undefined;
  /** What the limit is (e.g. "raw undici POSTs"). */
  limitIs?: string | undefined;
  target: number;
  /** Whether a higher value is better (rates, capacities) or a lower one (latencies, CPU per unit). */
  better: 'higher' | 'lower';
}

type Verdict = 'met' | 'NOT met' | 'limit below target';

export function verdict(row: SummaryRow): Verdict {
  const meets = (n: number): boolean => (row.better === 'higher' ? n >= row.target : n <= row.target);
  if (meets(row.value)) return 'met';
  if (row.limit !== undefined && !meets(row.limit)) return 'limit below target';
  return 'NOT met';
}

/** legway's figure as a share of the limit (1 = as good as the limit). */
function share(row: SummaryRow): number | undefined {
  if (row.limit === undefined || row.limit === 0 || row.value === 0) return undefined;
  return row.better === 'higher' ? row.value / row.limit : row.limit / row.value;
}

function figure(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? fixed(n) : fixed(n, Math.abs(n) >= 10 ? 1 : 2);
}

/** The table as text lines, columns padded to line up. */
export function summaryLines(rows: readonly SummaryRow[]): string[] {
  const header = ['path', 'measured', 'limit here', 'of limit', 'target', 'verdict'];
  const cells = rows.map((row) => {
    const s = share(row);
    return [
      row.path,
      `${figure(row.value)} ${row.unit}`,
      row.limit === undefined ? '–' : `${figure(row.limit)} (${row.limitIs ?? 'limit'})`,
      s === undefined ? '–' : `${fixed(s * 100)}%`,
      `${row.better === 'higher' ? '≥' : '≤'} ${figure(row.target)}`,
      verdict(row),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `  ${c.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}
