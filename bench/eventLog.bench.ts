import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APPLICATION, seedConversation, startBenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, usBetween, type BenchResult } from './stats.js';

const EVENTS = 40_000;
const WARMUP = 2_000;
/** Concurrent writers, as many clients posting at once would be. */
const WRITERS = 128;

export const eventLogMethod = (mode: string): string =>
  `${WRITERS} concurrent writers in this process, each appending a text event through app.services.events.post() as the application ` +
  `(validation, access checks, the event row; no event_url is set, so no webhook outbox row) and waiting until it is durable ` +
  `(app.services.events.durable(), which resolves after the group commit) before appending its next; ${fixed(EVENTS)} events after ` +
  `${fixed(WARMUP)} warm-up, synchronous=${mode}, group commit to the end of each event-loop turn. Latency is post → durable. ` +
  'Main thread CPU is the event loop alone (/proc/self/task/<pid>/stat), without the WAL sync and checkpoint threads. ' +
  'Limit: the same SQLite settings on a bare table of the same row shape, raw INSERTs (prepared) in transactions of the batch ' +
  'size legway reached, each transaction committed and synced, as many rows as fit in the same time budget.';

/** Benchmark 1: durable append throughput and latency through the service layer for one SQLite synchronous mode. */
export async function benchEventLog(mode: 'full' | 'normal'): Promise<BenchResult> {
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: mode });
  try {
    const { conversationId, senderId } = seedConversation(gw.app, `bench-append-${mode}`);
    const events = gw.app.services.events;
    const post = (i: number): void => {
      events.post(conversationId, { type: 'text', from: senderId, body: { text: `message ${i}` } }, APPLICATION);
    };
    const latencies: number[] = [];
    const run = async (count: number, timed: boolean): Promise<void> => {
      let next = 0;
      const writer = async (): Promise<void> => {
        while (next < count) {
          const i = next++;
          const t0 = process.hrtime.bigint();
          post(i);
          await events.durable();
          if (timed) latencies.push(usBetween(t0, process.hrtime.bigint()));
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, writer));
    };

    await run(WARMUP, false);
    const commits0 = gw.app.store.groupCommits;
    const main0 = mainThreadCpuMs();
    const stop = startWindow();
    await run(EVENTS, true);
    const w = stop();
    const mainMs = mainThreadCpuMs() - main0;
    const commits = gw.app.store.groupCommits - commits0;
    const batch = EVENTS / Math.max(1, commits);
    const rate = (EVENTS / w.wallMs) * 1000;
    const limit = rawSqliteRowsPerSecond(mode, Math.max(1, Math.round(batch)));

    const stored = events.lastId(conversationId);
    const failures = stored >= EVENTS + WARMUP ? [] : [`expected at least ${EVENTS + WARMUP} stored events, last id is ${stored}`];
    return {
      failures,
      lines: table([
        ['Throughput', `${fixed(rate)} durable events/s (${fixed(EVENTS)} in ${fixed(w.wallMs, 1)} ms)`],
        ['Group commits', `${fixed(commits)} (${fixed(batch, 1)} events per commit and fsync)`],
        ['Append → durable', `p50 ${fixed(percentile(latencies, 50), 1)} µs, p99 ${fixed(percentile(latencies, 99), 1)} µs`],
        ...cpuRows(w, EVENTS, 'event'),
        ['Main thread CPU', `${fixed(mainMs, 0)} ms = ${fixed((mainMs * 1000) / EVENTS, 1)} µs per event (/proc, 10 ms ticks)`],
        ['Limit (raw SQLite)', `${fixed(limit)} rows/s in synced transactions of ${fixed(Math.round(batch))} rows`],
        ['legway / limit', `${fixed((rate / limit) * 100, 1)} %`],
      ]),
    };
  } finally {
    await gw.close();
  }
}

/** CPU time (user + system) of this process's main thread so far, in ms: what the event loop spent, without the WAL sync and checkpoint threads. */
function mainThreadCpuMs(): number {
  const text = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Rows per second SQLite itself takes on this disk: prepared INSERTs, `batch` per synced transaction, for about a second. */
function rawSqliteRowsPerSecond(mode: 'full' | 'normal', batch: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'legway-bench-raw-'));
  const db = new Database(join(dir, 'raw.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${mode === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`CREATE TABLE events (conversation_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, from_id TEXT NOT NULL,
      to_id TEXT, timestamp TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conversation_id, id)) WITHOUT ROWID`);
    const insert = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, NULL, ?, ?)');
    const commitBatch = db.transaction((from: number) => {
      for (let i = from; i < from + batch; i++) insert.run('CON-bench', i, 'text', 'MEM-bench', new Date().toISOString(), `{"text":"message ${i}"}`);
    });
    let rows = 0;
    const t0 = process.hrtime.bigint();
    let elapsedMs = 0;
    while (elapsedMs < 1000) {
      commitBatch(rows + 1);
      rows += batch;
      elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    return (rows / elapsedMs) * 1000;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
