import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
    const commits0 = gw.app.store.commitStats.commits;
    const main0 = mainThreadCpuMs();
    const stop = startWindow();
    await run(EVENTS, true);
    const w = stop();
    const mainMs = mainThreadCpuMs() - main0;
    const commits = gw.app.store.commitStats.commits - commits0;
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

/** Issue 15's target for durable appends on this machine (synchronous=full). */
const TARGET_EVENTS_PER_S = 50_000;
/** Offered above the target: at exactly the target, the achieved rate could only approach it from below. */
const OFFERED_EVENTS_PER_S = 60_000;
const OFFERED_SECONDS = 3;

export const eventLogOfferedMethod =
  `Open loop: events are posted at ${fixed(OFFERED_EVENTS_PER_S)}/s (the target is ${fixed(TARGET_EVENTS_PER_S)}/s) for ${OFFERED_SECONDS} s (each millisecond, as many as are due by the wall ` +
  'clock, through app.services.events.post() as the application, as clients arriving independently would), synchronous=full, ' +
  'group commit to the end of each event-loop turn; each burst is timed from its post to its durability (events.durable()). ' +
  'Achieved rate: events over first post → last durable. Limit: raw SQLite on the same disk at the batch size legway reached.';

/** Benchmark 1c: appends offered at the target rate, whatever their acknowledgements do; what is durable, how soon. */
export async function benchEventLogOffered(): Promise<BenchResult> {
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: 'full' });
  try {
    const { conversationId, senderId } = seedConversation(gw.app, 'bench-append-offered');
    const events = gw.app.services.events;
    const total = OFFERED_EVENTS_PER_S * OFFERED_SECONDS;
    const post = (i: number): void => {
      events.post(conversationId, { type: 'text', from: senderId, body: { text: `message ${i}` } }, APPLICATION);
    };
    for (let i = 0; i < 2000; i++) post(i);
    await events.durable();

    const latencies: number[] = [];
    const bursts: Promise<void>[] = [];
    let lastDurable = 0n;
    const commits0 = gw.app.store.commitStats.commits;
    const main0 = mainThreadCpuMs();
    const stop = startWindow();
    const start = process.hrtime.bigint();
    let posted = 0;
    while (posted < total) {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * OFFERED_EVENTS_PER_S));
      if (due > posted) {
        const t0 = process.hrtime.bigint();
        const count = due - posted;
        for (; posted < due; posted++) post(posted);
        bursts.push(
          events.durable().then(() => {
            const at = process.hrtime.bigint();
            if (at > lastDurable) lastDurable = at;
            const us = usBetween(t0, at);
            for (let i = 0; i < count; i++) latencies.push(us);
          }),
        );
      }
      await sleep(1);
    }
    await Promise.all(bursts);
    const w = stop();
    const mainMs = mainThreadCpuMs() - main0;
    const commits = gw.app.store.commitStats.commits - commits0;
    const batch = total / Math.max(1, commits);
    const rate = (total / usBetween(start, lastDurable)) * 1e6;
    const limit = rawSqliteRowsPerSecond('full', Math.max(1, Math.round(batch)));
    const stored = events.lastId(conversationId);
    const failures = stored >= total + 2000 ? [] : [`expected at least ${total + 2000} stored events, last id is ${stored}`];
    return {
      failures,
      summary: [
        {
          path: `Event append, ${fixed(OFFERED_EVENTS_PER_S)}/s offered, durable`,
          unit: 'events/s',
          value: rate,
          limit,
          limitIs: 'raw SQLite, same batch',
          target: TARGET_EVENTS_PER_S,
          better: 'higher',
        },
      ],
      lines: table([
        ['Offered', `${fixed(OFFERED_EVENTS_PER_S)} events/s for ${OFFERED_SECONDS} s (${fixed(total)} events)`],
        ['Achieved', `${fixed(rate)} durable events/s (first post → last durable)`],
        ['Group commits', `${fixed(commits)} (${fixed(batch, 1)} events per commit and fsync)`],
        ['Post → durable', `p50 ${fixed(percentile(latencies, 50) / 1000, 2)} ms, p99 ${fixed(percentile(latencies, 99) / 1000, 2)} ms`],
        ...cpuRows(w, total, 'event'),
        ['Main thread CPU', `${fixed(mainMs, 0)} ms = ${fixed((mainMs * 1000) / total, 1)} µs per event (/proc, 10 ms ticks)`],
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
