/**
 * `npm run bench`: starts real gateways and measures the event log, REST, socket fan-out and webhook
 * delivery, then the audio bridge on fake endpoints, then SIP call set-up driven by SIPp (a separate
 * process; skipped when `sipp` is not installed), then the operator console in Chromium (skipped
 * without /usr/bin/chromium), SIP leg media and WebRTC joins. Each benchmark runs in a fresh Node
 * process of its own (this file, forked with BENCH_CHILD set), so that what one leaves behind (a
 * grown heap, compiled code, open handles) cannot slow or speed up the next; it prints its own
 * section and sends its closing-table rows back. Unless a benchmark's method says otherwise, its
 * load generator runs in that process, so it shares its cores with the gateway; CPU figures are for
 * the whole process and are reported per unit of work. The gateways are the build in dist/ (see
 * `built.ts`; the npm script builds first).
 *
 * BENCH_ONLY=<ids> runs only some benchmarks: a comma-separated list of numbers as in the titles,
 * where `5` selects 5a, 5b and 5c and `5b` only 5b (e.g. `BENCH_ONLY=3,5a npm run bench`).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { benchConsole, consoleMethod } from './console.bench.js';
import { benchBridgeMix, benchBridgeRealtime, bridgeMixMethod, bridgeRealtimeMethod } from './bridge.bench.js';
import { benchBridgeReal, bridgeRealMethod } from './bridgeReal.bench.js';
import { benchEventLog, benchEventLogOffered, eventLogMethod, eventLogOfferedMethod } from './eventLog.bench.js';
import { benchFanout, fanoutMethod } from './fanout.bench.js';
import { describeMachine } from './machine.js';
import { benchRest, restMethod } from './rest.bench.js';
import { benchSip, sipMethod } from './sip.bench.js';
import { benchSipMedia, sipMediaMethod } from './sipMedia.bench.js';
import type { BenchResult } from './stats.js';
import { summaryLines, type SummaryRow } from './summary.js';
import { benchWebhook, WEBHOOK_MANY, WEBHOOK_ONE, WEBHOOK_RATE, WEBHOOK_REMOTE, WEBHOOK_SUSTAINED, webhookMethod } from './webhook.bench.js';
import { benchWebrtcJoin, webrtcJoinMethod } from './webrtcJoin.bench.js';

interface Bench {
  title: string;
  method: string;
  run: () => Promise<BenchResult>;
}

const BENCHES: Bench[] = [
  { title: '1a. Event append via service, synchronous=full', method: eventLogMethod('full'), run: () => benchEventLog('full') },
  { title: '1b. Event append via service, synchronous=normal', method: eventLogMethod('normal'), run: () => benchEventLog('normal') },
  { title: '1c. Event append at 60,000 events/s offered, synchronous=full', method: eventLogOfferedMethod, run: benchEventLogOffered },
  { title: '2. REST POST /v1/conversations/:id/events', method: restMethod, run: benchRest },
  { title: '3. Socket fan-out', method: fanoutMethod, run: benchFanout },
  { title: '4a. Event webhook delivery, 16 conversations', method: webhookMethod(WEBHOOK_MANY), run: () => benchWebhook(WEBHOOK_MANY) },
  { title: '4b. Event webhook delivery, one conversation', method: webhookMethod(WEBHOOK_ONE), run: () => benchWebhook(WEBHOOK_ONE) },
  {
    title: '4c. Event webhook delivery, 10,250 events/s offered over 64 conversations',
    method: webhookMethod(WEBHOOK_RATE),
    run: () => benchWebhook(WEBHOOK_RATE),
  },
  {
    title: '4d. Event webhook delivery, 3,000 events/s offered over 64 conversations (a load delivery keeps pace with)',
    method: webhookMethod(WEBHOOK_SUSTAINED),
    run: () => benchWebhook(WEBHOOK_SUSTAINED),
  },
  {
    title: '4e. Event webhook delivery, 2,000 events/s offered over 256 conversations to a receiver that answers in 20 ms',
    method: webhookMethod(WEBHOOK_REMOTE),
    run: () => benchWebhook(WEBHOOK_REMOTE),
  },
  { title: '5a. Audio bridge: CPU per mixed leg', method: bridgeMixMethod, run: benchBridgeMix },
  { title: '5b. Audio bridge: legs kept in real time on one core', method: bridgeRealtimeMethod, run: benchBridgeRealtime },
  { title: '5c. Audio bridge on the real path (mediasoup transports)', method: bridgeRealMethod, run: benchBridgeReal },
  { title: '6. SIP call setup (SIPp)', method: sipMethod, run: benchSip },
  { title: '7. Operator console in Chromium: events taken in', method: consoleMethod, run: benchConsole },
  { title: '8. SIP leg media: CPU per leg per second of audio, by codec', method: sipMediaMethod, run: benchSipMedia },
  { title: '9. WebRTC join: rtc:new → answer', method: webrtcJoinMethod, run: benchWebrtcJoin },
];

/** Whether BENCH_ONLY (see the top of this file) selects the benchmark titled `title`; unset selects all. */
function selected(title: string, only = process.env['BENCH_ONLY']): boolean {
  if (only === undefined || only.trim() === '') return true;
  const id = title.slice(0, title.indexOf('.'));
  return only.split(',').some((raw) => {
    const want = raw.trim();
    return want !== '' && (id === want || (id.startsWith(want) && /^[a-z]$/.test(id.slice(want.length))));
  });
}

function wrap(text: string, width = 100, indent = '    '): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  if (line.length > 0) lines.push(indent + line);
  return lines;
}

async function main(): Promise<number> {
  const started = process.hrtime.bigint();
  console.log('legway benchmarks');
  console.log('');
  console.log('Machine');
  for (const line of describeMachine()) console.log(line);
  console.log('');
  const note =
    "Unless a benchmark's method says otherwise, its load generator (HTTP client, socket.io clients, service calls) runs in the gateway's own process: they share its cores, and CPU time (process.cpuUsage, user + system, all threads) covers both sides. " +
    'SIPp (6, 8), the webhook receiver (4) and the WebRTC join clients (9) are processes of their own, and their CPU is reported apart where it is reported.';
  for (const line of wrap(note, 100, '')) console.log(line);
  console.log('');

  const benches = BENCHES.filter((bench) => selected(bench.title));
  if (benches.length === 0) {
    console.log(`BENCH_ONLY=${process.env['BENCH_ONLY'] ?? ''} selects no benchmark.`);
    return 1;
  }
  let failed = 0;
  const summary: SummaryRow[] = [];
  for (const bench of benches) {
    const outcome = await runInChild(BENCHES.indexOf(bench));
    failed += outcome.failed;
    summary.push(...outcome.summary);
  }

  if (summary.length > 0) {
    console.log('Targets: each figure beside the limit measured in this run');
    for (const line of summaryLines(summary)) console.log(line);
    console.log('');
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    failed === 0 ? `All benchmarks ran and checked out in ${seconds.toFixed(1)} s.` : `*** ${failed} FAILURE(S) — see above (${seconds.toFixed(1)} s).`,
  );
  return failed === 0 ? 0 : 1;
}

/** A figure, or NaN where a run produced none (a missed bar): the table says n/a. */
const figure = z.union([z.number(), z.nan()]);
/** A row of the closing table as it crosses from a benchmark's process (the schema of SummaryRow). */
const summaryRow: z.ZodType<SummaryRow> = z.object({
  path: z.string(),
  unit: z.string(),
  value: figure,
  limit: figure.optional(),
  limitIs: z.string().optional(),
  target: z.number(),
  better: z.enum(['higher', 'lower']),
});
/** What a benchmark's process sends back: its rows of the closing table and how many checks failed. */
const childOutcome = z.object({ failed: z.number().int().nonnegative(), summary: z.array(summaryRow) });
type ChildOutcome = z.infer<typeof childOutcome>;

/** Longest a benchmark's process may run; past it, it is killed and counted as failed. */
const CHILD_TIMEOUT_MS = 15 * 60_000;

/** Runs benchmark `index` in a fresh process (its output goes straight to ours); resolves with what it sent back. */
function runInChild(index: number): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, BENCH_CHILD: String(index) },
      execArgv: ['--import', import.meta.resolve('tsx')],
      // Structured clone, so a NaN figure arrives as NaN rather than null.
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let outcome: ChildOutcome | undefined;
    let problem: string | undefined;
    child.on('message', (raw) => {
      const parsed = childOutcome.safeParse(raw);
      if (parsed.success) outcome = parsed.data;
      else problem = `unreadable result: ${parsed.error.message}`;
    });
    const timer = setTimeout(() => {
      problem = `still running after ${CHILD_TIMEOUT_MS / 60_000} minutes; killed`;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.once('error', (err) => (problem ??= err.message));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (outcome && problem === undefined) return resolve(outcome);
      console.log(`    *** FAIL: the benchmark's process ended (${signal ?? `code ${String(code)}`}) ${problem ?? 'without a result'}`);
      console.log('');
      resolve({ failed: (outcome?.failed ?? 0) + 1, summary: outcome?.summary ?? [] });
    });
  });
}

/** In a benchmark's own process: runs it, prints its section, and sends its rows and failure count back. */
async function child(bench: Bench): Promise<number> {
  console.log(bench.title);
  for (const line of wrap(`Method: ${bench.method}`)) console.log(line);
  let failed = 0;
  let summary: SummaryRow[] = [];
  try {
    const result = await bench.run();
    for (const line of result.lines) console.log(line);
    summary = result.summary ?? [];
    for (const failure of result.failures) {
      failed++;
      console.log(`    *** FAIL: ${failure}`);
    }
  } catch (err) {
    failed++;
    console.log(`    *** FAIL: benchmark aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  console.log('');
  await new Promise<void>((resolve, reject) =>
    process.send?.({ failed, summary } satisfies ChildOutcome, undefined, {}, (err) => (err ? reject(err) : resolve())),
  );
  return failed === 0 ? 0 : 1;
}

const childIndex = process.env['BENCH_CHILD'];
if (childIndex === undefined) {
  process.exitCode = await main();
} else {
  const bench = BENCHES[Number(childIndex)];
  if (!bench || !process.send) throw new Error(`BENCH_CHILD=${childIndex} names no benchmark, or this process has no channel to its parent`);
  process.exitCode = await child(bench);
  // A benchmark may leave a handle behind (a timer, a socket): its process ends here all the same.
  process.disconnect();
  setTimeout(() => process.exit(), 5000).unref();
}
