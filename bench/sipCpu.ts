/**
 * Gateway CPU per SIP call, signalling only, in a short run for A/B comparisons while working on
 * the SIP path: a gateway as in benchmark 6 (media on, every call routed to one conversation),
 * SIPp's call set-up scenario with hold_ms 0 at SIP_CPU_RATE calls/s (300 by default, benchmark 6's
 * signalling rate), one warm-up run, then SIP_CPU_ROUNDS runs (3) of SIP_CPU_CALLS calls (900) each. Each round prints this
 * process's CPU per call answered, less the idle CPU measured for 1 s just before it (the same
 * figure as benchmark 6's "Signalling CPU", over fewer calls). With SIP_CPU_PROFILE=<file>, the
 * main thread's CPU profile of the last round is written there (.cpuprofile, V8's inspector), and each
 * worker thread's beside it (<file>.worker-<id>.cpuprofile: the media thread, the checkpointer…); with
 * SIP_CPU_HEAP=<file>, the main thread's allocations of the last round, sampled every 4 KiB
 * (.heapprofile, V8's sampling heap profiler). SIP_CPU_THREADS=1 prints each round's CPU by thread.
 * Each round also prints the write syscalls and bytes per call (/proc/self/io: WAL frames,
 * checkpoints, logs); with SIP_CPU_SQL=1, it counts the SQL statements run per call and lists them, most run first.
 * With SIP_CPU_STDIN=1, a round runs for each line read on standard input instead, so that a
 * driver can alternate rounds of two builds under the same machine load. SIP_CPU_WINDOW_MS sets the
 * gateway's LEGWAY_SQLITE_COMMIT_WINDOW_MS (0–2; unset: the default, one event-loop turn), and
 * SIP_CPU_SPACING_MS its LEGWAY_SQLITE_SYNC_SPACING_MS (unset: the default). With
 * SIP_CPU_WAL=1, each round also lists the B-trees its commits wrote, in distinct pages a commit
 * (bench/walFrames.ts: the WAL since its last restart, so mostly that round).
 *
 * The gateway is the build (`built.ts`): run `npm run build` first.
 *
 *   npx tsx bench/sipCpu.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBenchGateway } from './gateway.js';
import { runRate } from './sip.bench.js';
import { commitRow, fixed, startWindow, threadCpuSince, threadTicks, threadWakeups, threadWakeupsSince } from './stats.js';
import { walFrameSummary } from './walFrames.js';
import { startWorkerProfiles, type WorkerProfile } from './workerProfiles.js';

const RATE = Number(process.env['SIP_CPU_RATE'] ?? 300);
const CALLS = Number(process.env['SIP_CPU_CALLS'] ?? 900);
const ROUNDS = Number(process.env['SIP_CPU_ROUNDS'] ?? 3);
const PROFILE = process.env['SIP_CPU_PROFILE'];
const FROM_STDIN = process.env['SIP_CPU_STDIN'] === '1';
/** With SIP_CPU_HEAP_LIVE=1, the heap profile holds what the round left alive after a full GC instead of all it allocated. */
const HEAP_LIVE = process.env['SIP_CPU_HEAP_LIVE'] === '1';

/** Write syscalls and bytes this process has made so far (/proc/self/io: the WAL's frames, the checkpoints, logs; not socket sends). */
function writes(): { calls: number; bytes: number } {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
  return { calls: field('syscw'), bytes: field('wchar') };
}

const gw = await startBenchGateway({
  LEGWAY_SIP_ENABLED: 'true',
  LEGWAY_SIP_HOST: '127.0.0.1',
  LEGWAY_SIP_PORT: '0',
  LEGWAY_SIP_ROUTES: '*=bench-room',
  LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
  LEGWAY_MEDIA_WORKERS: '1',
  ...(process.env['SIP_CPU_WINDOW_MS'] ? { LEGWAY_SQLITE_COMMIT_WINDOW_MS: process.env['SIP_CPU_WINDOW_MS'] } : {}),
  ...(process.env['SIP_CPU_SPACING_MS'] ? { LEGWAY_SQLITE_SYNC_SPACING_MS: process.env['SIP_CPU_SPACING_MS'] } : {}),
});
// With SIP_CPU_SQL=1, the SQL statements run per call (better-sqlite3's Statement run/get/all/iterate and Database exec), a count
// that load does not blur. Off by default: the wrappers cost the gateway ~0.1 ms of CPU a call, which benchmark 6 does not pay.
const statementProto = Object.getPrototypeOf(gw.app.store.db.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
let statements = 0;
/** With SIP_CPU_SQL=1: how often each statement ran, by its SQL text (the last round's, printed per call). */
const bySql = new Map<string, number>();
const countSql = process.env['SIP_CPU_SQL'] === '1';
for (const method of countSql ? ['run', 'get', 'all', 'iterate'] : []) {
  const original = statementProto[method]!;
  statementProto[method] = function (this: { source?: string }, ...args: unknown[]) {
    statements++;
    bySql.set(this.source ?? '?', (bySql.get(this.source ?? '?') ?? 0) + 1);
    return original.apply(this, args);
  };
}
const dbProto = Object.getPrototypeOf(gw.app.store.db) as Record<string, (...args: unknown[]) => unknown>;
const originalExec = dbProto['exec']!;
if (countSql)
  dbProto['exec'] = function (this: unknown, ...args: unknown[]) {
    statements++;
    bySql.set(String(args[0]), (bySql.get(String(args[0])) ?? 0) + 1);
    return originalExec.apply(this, args);
  };
const drain = async (): Promise<void> => {
  const start = Date.now();
  while (gw.app.legs.active > 0 && Date.now() - start < 40_000) await sleep(50);
};
try {
  const port = gw.app.sip!.port;
  await runRate(port, RATE, CALLS, 0);
  await drain();
  const results: number[] = [];
  const lines = FROM_STDIN ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
  if (lines) console.log('READY');
  for (let round = 0; FROM_STDIN || round < ROUNDS; round++) {
    if (lines && (await lines.next()).done === true) break;
    const stopIdle = startWindow();
    await sleep(1000);
    const idle = stopIdle();
    const session = PROFILE !== undefined && !FROM_STDIN && round === ROUNDS - 1 ? new Session() : undefined;
    const heapSession = process.env['SIP_CPU_HEAP'] !== undefined && round === ROUNDS - 1 ? new Session() : undefined;
    if (heapSession) {
      heapSession.connect();
      await heapSession.post('HeapProfiler.enable');
      await heapSession.post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: !HEAP_LIVE,
        includeObjectsCollectedByMinorGC: !HEAP_LIVE,
      });
    }
    let stopWorkers: (() => Promise<WorkerProfile[]>) | undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
      if (process.env['SIP_CPU_PROFILE_WORKERS'] !== '0') stopWorkers = await startWorkerProfiles(session, 200);
    }
    const before = threadTicks();
    const wakeupsBefore = threadWakeups();
    const writesBefore = writes();
    const statementsBefore = statements;
    bySql.clear();
    const commitStatsBefore = gw.app.store.commitStats;
    const run = await runRate(port, RATE, CALLS, 0);
    await drain();
    const threads = threadCpuSince(before);
    const wakeups = threadWakeupsSince(wakeupsBefore);
    const writesAfter = writes();
    const eachCall = (total: number): number => total / Math.max(1, run.succeeded);
    const perCallStatements = eachCall(statements - statementsBefore);
    const perCallCommits = eachCall(gw.app.store.commitStats.commits - commitStatsBefore.commits);
    if (heapSession) {
      if (HEAP_LIVE) await heapSession.post('HeapProfiler.collectGarbage');
      const { profile } = await heapSession.post('HeapProfiler.stopSampling');
      writeFileSync(process.env['SIP_CPU_HEAP']!, JSON.stringify(profile));
      heapSession.disconnect();
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(PROFILE!, JSON.stringify(profile));
      for (const worker of (await stopWorkers?.()) ?? []) {
        const file = PROFILE!.replace(/(\.cpuprofile)?$/, `.worker-${worker.workerId}.cpuprofile`);
        writeFileSync(file, JSON.stringify(worker.profile));
        console.log(`  worker thread ${worker.workerId} (${worker.url.replace(/^.*\/(src|node_modules)\//, '$1/')}): ${file}`);
      }
      session.disconnect();
    }
    const perCall = (run.window.cpuUs / 1000 - (idle.cpuUs / 1000 / idle.wallMs) * run.window.wallMs) / Math.max(1, run.succeeded);
    results.push(perCall);
    const mainMs = eachCall(threads.find((row) => row.thread === 'main')?.ms ?? Number.NaN);
    console.log(
      `round ${round}: ${run.succeeded}/${run.calls} calls, ${run.failed} failed, ${perCall.toFixed(3)} ms CPU per call, main thread ${mainMs.toFixed(2)} ms per call (with idle), ` +
        `${countSql ? `${perCallStatements.toFixed(2)} SQL statements and ` : ''}${perCallCommits.toFixed(2)} group commits per call, ` +
        `${fixed(eachCall(writesAfter.calls - writesBefore.calls), 1)} write syscalls (${fixed(eachCall(writesAfter.bytes - writesBefore.bytes) / 1024, 1)} KiB) per call`,
    );
    const idleShare = (idle.cpuUs / idle.wallMs) * run.window.wallMs;
    const userShare = run.window.cpuUs > 0 ? run.window.userUs / run.window.cpuUs : 0;
    console.log(
      `  user ${fixed(eachCall((run.window.userUs - idleShare * userShare) / 1000), 2)} + system ${fixed(eachCall((run.window.systemUs - idleShare * (1 - userShare)) / 1000), 2)} ms per call ` +
        `(idle taken out in proportion); thread wake-ups per call (voluntary context switches, with idle): ` +
        `${fixed(eachCall(wakeups.reduce((sum, row) => sum + row.wakeups, 0)), 1)} in all, ` +
        wakeups
          .slice(0, 6)
          .map((row) => `${row.thread} ${fixed(eachCall(row.wakeups), 1)}`)
          .join(', '),
    );
    const [, commitText] = commitRow(commitStatsBefore, gw.app.store.commitStats, run.window.wallMs, run.succeeded, 'calls');
    console.log(`  store commits: ${commitText}`);
    const sqlite = gw.app.store.sqlite;
    if (process.env['SIP_CPU_WAL'] === '1' && sqlite) console.log(`  WAL: ${walFrameSummary(sqlite)}`);
    if (process.env['SIP_CPU_THREADS'] === '1')
      console.log(`  by thread (ms per call, with idle): ${threads.map((row) => `${row.thread} ${eachCall(row.ms).toFixed(2)}`).join(', ')}`);
    if (countSql) {
      console.log('  SQL statements per call, most run first:');
      for (const [sql, n] of [...bySql].sort((a, b) => b[1] - a[1]))
        console.log(`    ${(n / Math.max(1, run.succeeded)).toFixed(2).padStart(6)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`);
    }
  }
  if (results.length > 0)
    console.log(
      `SIPCPU ${results.map((r) => r.toFixed(3)).join(' ')} median ${[...results].sort((a, b) => a - b)[Math.floor(results.length / 2)]!.toFixed(3)}`,
    );
} finally {
  await gw.close();
}
