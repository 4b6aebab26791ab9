import { Agent, request } from 'node:http';
import { seedConversation, startBenchGateway } from './gateway.js';
import { cpuRows, fixed, percentile, startWindow, table, usBetween, type BenchResult } from './stats.js';

const REQUESTS = 4000;
const WARMUP = 400;
const CONCURRENCY = 16;

export const restMethod =
  `${fixed(REQUESTS)} POST /v1/conversations/:id/events (text) over real HTTP to 127.0.0.1 from node:http with a keep-alive Agent, ` +
  `${CONCURRENCY} requests in flight at all times, after ${WARMUP} warm-up requests (synchronous=full, the default; rate limit raised out of the way); ` +
  'latency is request start to full response body at the client, CPU is the whole process (client and gateway).';

interface Response {
  status: number;
  body: string;
}

function post(agent: Agent, port: number, path: string, token: string, payload: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Benchmark 2: REST event posting over keep-alive HTTP with a fixed number of requests in flight. */
export async function benchRest(): Promise<BenchResult> {
  const gw = await startBenchGateway({ LEGWAY_SQLITE_SYNCHRONOUS: 'full', LEGWAY_REST_RATE_LIMIT: '1000000000' });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const { conversationId, senderId } = seedConversation(gw.app, 'bench-rest');
    const token = await gw.token('bench-backend', 'application');
    const path = `/v1/conversations/${conversationId}/events`;
    const failures: string[] = [];

    /** Runs `total` requests with CONCURRENCY workers; returns per-request latencies in µs. */
    async function run(total: number): Promise<number[]> {
      const latencies: number[] = [];
      let next = 0;
      async function worker(): Promise<void> {
        while (next < total) {
          const i = next++;
          const payload = JSON.stringify({ type: 'text', from: senderId, body: { text: `message ${i}` } });
          const t0 = process.hrtime.bigint();
          const res = await post(agent, gw.port, path, token, payload);
          latencies.push(usBetween(t0, process.hrtime.bigint()));
          if (res.status !== 201 && failures.length < 5) failures.push(`request ${i}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return latencies;
    }

    await run(WARMUP);
    const stop = startWindow();
    const latencies = await run(REQUESTS);
    const w = stop();

    const ms = (us: number): string => `${fixed(us / 1000, 2)} ms`;
    return {
      failures,
      lines: table([
        ['Throughput', `${fixed((REQUESTS / w.wallMs) * 1000)} requests/s (${fixed(REQUESTS)} in ${fixed(w.wallMs, 1)} ms)`],
        [
          'Latency',
          `p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))}`,
        ],
        ...cpuRows(w, REQUESTS, 'request'),
      ]),
    };
  } finally {
    agent.destroy();
    await gw.close();
  }
}
