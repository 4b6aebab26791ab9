import { readFileSync } from 'node:fs';
import type { SqliteDb } from '../src/store/sqlite.js';

/** WAL frame header: page number, database size after a commit (0 on other frames), two salts, two checksums. */
const FRAME_HEADER = 24;
const WAL_HEADER = 32;

/** Which B-trees the commits still in a WAL wrote, page by page. */
export interface WalFrames {
  commits: number;
  frames: number;
  /** B-tree (table or index) name → distinct pages written per commit, on average; most first. */
  pagesPerCommit: [string, number][];
}

/**
 * Reads the frames of the WAL's current generation (those whose salts match its header: what was
 * written since the last restart of the log) and names the B-tree of each page with SQLite's
 * `dbstat` table, on `db`'s own connection. For finding what a workload's commits write, e.g. after
 * a benchmark's run; before the next checkpoint restarts the log, or the figures cover less.
 */
export function walFrames(db: SqliteDb): WalFrames {
  const wal = readFileSync(`${db.name}-wal`);
  if (wal.length < WAL_HEADER) return { commits: 0, frames: 0, pagesPerCommit: [] };
  const pageSize = wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  const owner = new Map<number, string>();
  for (const row of db.prepare<[], { name: string; pageno: number }>('SELECT name, pageno FROM dbstat').all()) owner.set(row.pageno, row.name);
  const pages = new Map<string, number>();
  let commits = 0;
  let frames = 0;
  let written = new Set<number>();
  for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    frames++;
    written.add(wal.readUInt32BE(at));
    if (wal.readUInt32BE(at + 4) === 0) continue;
    commits++;
    for (const page of written) {
      const tree = owner.get(page) ?? '(pages freed since)';
      pages.set(tree, (pages.get(tree) ?? 0) + 1);
    }
    written = new Set();
  }
  const pagesPerCommit = [...pages].map(([tree, n]): [string, number] => [tree, n / Math.max(1, commits)]).sort((a, b) => b[1] - a[1]);
  return { commits, frames, pagesPerCommit };
}

/** `walFrames` in one line, for a benchmark's output. */
export function walFrameSummary(db: SqliteDb): string {
  const { commits, frames, pagesPerCommit } = walFrames(db);
  const trees = pagesPerCommit.filter(([, n]) => n >= 0.005).map(([tree, n]) => `${tree} ${n.toFixed(2)}`);
  return `${commits} commits since the WAL's last restart, ${(frames / Math.max(1, commits)).toFixed(1)} frames a commit; distinct pages a commit by B-tree: ${trees.join(', ')}`;
}
