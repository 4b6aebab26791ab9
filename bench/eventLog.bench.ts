import { APPLICATION, seedConversation, startBenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, usBetween, type BenchResult } from './stats.js';

const EVENTS = 5000;
const WARMUP = 500;

export const eventLogMethod = (mode: string): string =>
  `${fixed(EVENTS)} text events appended one after another through app.services.events.post() as the application ` +
  `(validation, access checks, one SQLite transaction per event, synchronous=${mode}), after ${WARMUP} warm-up appends; ` +
  'each append is timed with process.hrtime.bigint(), CPU with process.cpuUsage() around the whole run. No sockets are subscribed.';

/** Benchmark 1: append throughput and latency through the service layer for one SQLite synchronous mode. */
export async function benchEventLog(mode: 'full' | 'normal'): Promise<BenchResult> {
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: mode });
  try {
    const { conversationId, senderId } = seedConversation(gw.app, `bench-append-${mode}`);
    const post = (i: number): number =>
      gw.app.services.events.post(conversationId, { type: 'text', from: senderId, body: { text: `message ${i}` } }, APPLICATION).id;

    for (let i = 0; i < WARMUP; i++) post(i);

    const latencies = new Array<number>(EVENTS);
    const stop = startWindow();
    for (let i = 0; i < EVENTS; i++) {
      const t0 = process.hrtime.bigint();
      post(i);
      latencies[i] = usBetween(t0, process.hrtime.bigint());
    }
    const w = stop();

    const stored = gw.app.services.events.lastId(conversationId);
    const failures = stored >= EVENTS + WARMUP ? [] : [`expected at least ${EVENTS + WARMUP} stored events, last id is ${stored}`];
    return {
      failures,
      lines: table([
        ['Throughput', `${fixed((EVENTS / w.wallMs) * 1000)} events/s (${fixed(EVENTS)} in ${fixed(w.wallMs, 1)} ms)`],
        [
          'Append latency',
          `p50 ${fixed(percentile(latencies, 50), 1)} µs, p99 ${fixed(percentile(latencies, 99), 1)} µs, max ${fixed(Math.max(...latencies), 1)} µs`,
        ],
        ...cpuRows(w, EVENTS, 'event'),
      ]),
    };
  } finally {
    await gw.close();
  }
}
