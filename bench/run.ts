/**
 * `npm run bench`: starts real gateways in this process and measures the event log, REST, socket
 * fan-out and webhook delivery. The load generators run in the same process, so they share its
 * cores with the gateway; CPU figures are for the whole process and are reported per unit of work.
 */
import { benchEventLog, eventLogMethod } from './eventLog.bench.js';
import { benchFanout, fanoutMethod } from './fanout.bench.js';
import { describeMachine } from './machine.js';
import { benchRest, restMethod } from './rest.bench.js';
import type { BenchResult } from './stats.js';
import { benchWebhook, WEBHOOK_MANY, WEBHOOK_ONE, webhookMethod } from './webhook.bench.js';

interface Bench {
  title: string;
  method: string;
  run: () => Promise<BenchResult>;
}

const BENCHES: Bench[] = [
  { title: '1a. Event append via service, synchronous=full', method: eventLogMethod('full'), run: () => benchEventLog('full') },
  { title: '1b. Event append via service, synchronous=normal', method: eventLogMethod('normal'), run: () => benchEventLog('normal') },
  { title: '2. REST POST /v1/conversations/:id/events', method: restMethod, run: benchRest },
  { title: '3. Socket fan-out', method: fanoutMethod, run: benchFanout },
  { title: '4a. Event webhook delivery, 16 conversations', method: webhookMethod(WEBHOOK_MANY), run: () => benchWebhook(WEBHOOK_MANY) },
  { title: '4b. Event webhook delivery, one conversation', method: webhookMethod(WEBHOOK_ONE), run: () => benchWebhook(WEBHOOK_ONE) },
];

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
  const note = "Load generators (HTTP client, socket.io clients, service calls, webhook receiver) run in the gateway's own process: they share its cores, and CPU time (process.cpuUsage, user + system, all threads) covers both sides.";
  for (const line of wrap(note, 100, '')) console.log(line);
  console.log('');

  let failed = 0;
  for (const bench of BENCHES) {
    console.log(bench.title);
    for (const line of wrap(`Method: ${bench.method}`)) console.log(line);
    try {
      const result = await bench.run();
      for (const line of result.lines) console.log(line);
      for (const failure of result.failures) {
        failed++;
        console.log(`    *** FAIL: ${failure}`);
      }
    } catch (err) {
      failed++;
      console.log(`    *** FAIL: benchmark aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    console.log('');
  }

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(failed === 0 ? `All benchmarks ran and checked out in ${seconds.toFixed(1)} s.` : `*** ${failed} FAILURE(S) — see above (${seconds.toFixed(1)} s).`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
