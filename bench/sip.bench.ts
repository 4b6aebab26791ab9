/**
 * Benchmark 6: inbound SIP call set-up under load. SIPp (a separate process) calls a real gateway
 * in this process over UDP at fixed rates with bench/sipp/uac-call-setup.xml; SIPp's response-time
 * trace gives each call's INVITE→200 time and its statistics file the call counts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, sippMissing } from '../test/sipp/sipp.js';
import { startBenchGateway } from './gateway.js';
import { fixed, percentile, startWindow, table, type BenchResult, type Window } from './stats.js';

const SCENARIO = new URL('./sipp/uac-call-setup.xml', import.meta.url).pathname;
const ROOM = 'bench-room';

/** Offered call rates (calls/s), tried in order until one misses the bar; each offers SECONDS_PER_RATE of calls. */
const RATES = [20, 50, 75, 100, 150, 200] as const;
const SECONDS_PER_RATE = 5;
/** The first rate runs this many calls (10 s at 20/s) and must pass; higher rates search for the limit. */
const BASE_CALLS = 200;
/** How long each call stays up after its ACK, so that calls overlap. */
const HOLD_MS = 1000;
/** A rate passes when no call failed and INVITE→200 p99 stays within this. */
const P99_BOUND_MS = 200;
/** A call whose next response does not come within this fails (SIPp -recv_timeout). */
const RECV_TIMEOUT_MS = 5000;
/** How long the legs may take to end after SIPp is done: an overloaded gateway works through its backlog, and a 200 whose ACK never came ends by its 32 s timer. */
const DRAIN_MS = 40_000;

const callsAt = (rate: number, index: number): number => (index === 0 ? BASE_CALLS : rate * SECONDS_PER_RATE);

export const sipMethod =
  'SIPp (sipp on the PATH, a separate process) calls a gateway started in this process (SIP on UDP 127.0.0.1, media on, ' +
  `LEGWAY_SIP_ROUTES=*=${ROOM}, so every call joins the audio bridge of one conversation) with bench/sipp/uac-call-setup.xml: ` +
  `INVITE offering PCMU → 100/180 (optional) → 200 with a PCMU answer (checked) → ACK → ${HOLD_MS} ms up → BYE → 200; ` +
  'each call has its own From user; SIPp sends no RTP. ' +
  `Runs at fixed offered rates (sipp -r R -rp 1000 -m N): ${RATES[0]} calls/s for ${BASE_CALLS} calls, then ` +
  `${RATES.slice(1).join(', ')} calls/s for ${SECONDS_PER_RATE} s of calls each, stopping after the first rate that misses the bar ` +
  `(any failed call, or INVITE→200 p99 over ${P99_BOUND_MS} ms); calls with no answer within ${RECV_TIMEOUT_MS} ms fail. ` +
  "INVITE→200 is SIPp's response time (start_rtd on the INVITE, rtd on the 200; -trace_rtt -rtt_freq 1; whole ms, " +
  "in steps of SIPp's clock (4 ms seen here), measured by SIPp, so it includes SIPp's own scheduling); calls attempted/succeeded/failed come from SIPp's final " +
  'statistics (-trace_stat). Set-up rate = successful calls / the time from the first INVITE to the last 200. ' +
  "CPU is the gateway's process only (process.cpuUsage over the SIPp run; SIPp and the mediasoup workers are other " +
  'processes), per call set up and torn down; it includes the audio bridge mixing every call while it is up. Checked: the first rate has no failed call, and after every run every SIP leg ' +
  `is gone within ${DRAIN_MS / 1000} s.`;

interface RateRun {
  rate: number;
  calls: number;
  exitCode: number | null;
  attempted: number;
  succeeded: number;
  failed: number;
  /** Non-zero failure counters of SIPp's statistics, e.g. "FailedTimeoutOnRecv=3". */
  failureKinds: string[];
  /** INVITE→200 per call, ms. */
  rtdMs: number[];
  /** First INVITE to last 200, ms (from SIPp's trace). */
  setupSpanMs: number;
  window: Window;
  stderr: string;
  errors: string;
}

/** The last row of SIPp's statistics CSV as a column → value map. */
function lastStats(file: string): Map<string, string> {
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const header = rows[0]?.split(';') ?? [];
  const last = rows.at(-1)?.split(';') ?? [];
  return new Map(header.map((name, i) => [name, last[i] ?? '']));
}

/** Runs SIPp once at `rate` calls/s for `calls` calls against 127.0.0.1:`sipPort`. */
async function runRate(sipPort: number, rate: number, calls: number): Promise<RateRun> {
  const dir = mkdtempSync(join(tmpdir(), 'legway-bench-sipp-'));
  try {
    const [port, controlPort, mediaPort] = [await freePort(), await freePort(), await freePort()];
    const args = [
      '-sf',
      SCENARIO,
      '-t',
      'u1',
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-cp',
      String(controlPort),
      '-mi',
      '127.0.0.1',
      '-mp',
      String(mediaPort),
      '-r',
      String(rate),
      '-rp',
      '1000',
      '-m',
      String(calls),
      '-l',
      String(calls),
      '-set',
      'hold_ms',
      String(HOLD_MS),
      '-recv_timeout',
      String(RECV_TIMEOUT_MS),
      '-timeout',
      `${Math.ceil(calls / rate + HOLD_MS / 1000 + RECV_TIMEOUT_MS / 1000 + 20)}s`,
      '-timeout_error',
      '-nostdin',
      '-trace_rtt',
      '-rtt_freq',
      '1',
      '-trace_stat',
      '-stf',
      join(dir, 'stats.csv'),
      '-fd',
      '1',
      '-trace_err',
      '-error_file',
      join(dir, 'errors.log'),
      `127.0.0.1:${sipPort}`,
    ];
    const stop = startWindow();
    const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let exitCode: number | null;
    try {
      exitCode = await new Promise<number | null>((resolve) => {
        child.on('exit', (code) => resolve(code));
        child.on('error', (err) => {
          stderr += String(err);
          resolve(-1);
        });
      });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const window = stop();

    const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
    const rtt =
      rttFile === undefined
        ? []
        : readFileSync(join(dir, rttFile), 'utf8')
            .split('\n')
            .slice(1)
            .filter((l) => l.trim() !== '');
    const points = rtt.map((line) => line.split(';').map(Number)).filter(([at, ms, rtd]) => rtd === 1 && Number.isFinite(at) && Number.isFinite(ms));
    const rtdMs = points.map(([, ms]) => ms!);
    const first = points[0];
    const setupSpanMs = first === undefined ? Number.NaN : points.at(-1)![0]! - (first[0]! - first[1]!);

    let stats = new Map<string, string>();
    try {
      stats = lastStats(join(dir, 'stats.csv'));
    } catch {
      // SIPp never wrote its statistics: counts stay NaN and the run is reported as failed below.
    }
    const count = (name: string): number => Number(stats.get(`${name}(C)`) ?? Number.NaN);
    const failureKinds = [...stats]
      .filter(([name, value]) => /^Failed.*\(C\)$/.test(name) && name !== 'FailedCall(C)' && Number(value) > 0)
      .map(([name, value]) => `${name.slice(0, -3)}=${value}`);
    let errors = '';
    try {
      errors = readFileSync(join(dir, 'errors.log'), 'utf8');
    } catch {
      // no error file: no error
    }
    return {
      rate,
      calls,
      exitCode,
      attempted: count('OutgoingCall'),
      succeeded: count('SuccessfulCall'),
      failed: count('FailedCall'),
      failureKinds,
      rtdMs,
      setupSpanMs,
      window,
      stderr,
      errors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const passes = (run: RateRun): boolean => run.exitCode === 0 && run.failed === 0 && run.succeeded === run.calls && percentile(run.rtdMs, 99) <= P99_BOUND_MS;

/** Benchmark 6: SIP calls set up per second and INVITE→200 latency under load. */
export async function benchSip(): Promise<BenchResult> {
  const missing = sippMissing();
  if (missing !== undefined) return { lines: [`    SKIPPED: ${missing}.`], failures: [] };

  const gw = await startBenchGateway({
    LEGWAY_SIP_ENABLED: 'true',
    LEGWAY_SIP_HOST: '127.0.0.1',
    LEGWAY_SIP_PORT: '0',
    LEGWAY_SIP_ROUTES: `*=${ROOM}`,
    LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
    LEGWAY_MEDIA_WORKERS: '1',
  });
  try {
    const sipPort = gw.app.sip?.port;
    if (sipPort === undefined) return { lines: [], failures: ['the gateway runs no SIP server (app.sip is undefined)'] };
    const failures: string[] = [];
    const lines: string[] = [];
    const runs: RateRun[] = [];

    for (const [index, rate] of RATES.entries()) {
      const run = await runRate(sipPort, rate, callsAt(rate, index));
      runs.push(run);
      const drainStart = Date.now();
      while (gw.app.legs.active > 0 && Date.now() - drainStart < DRAIN_MS) await sleep(50);
      if (gw.app.legs.active > 0) failures.push(`${rate} calls/s: ${gw.app.legs.active} leg(s) still running ${DRAIN_MS / 1000} s after SIPp ended`);
      if (index === 0 && !(run.exitCode === 0 && run.failed === 0 && run.succeeded === run.calls)) {
        failures.push(
          `${rate} calls/s: SIPp exit ${run.exitCode}, ${run.succeeded}/${run.calls} calls succeeded, ${run.failed} failed ` +
            `${run.failureKinds.join(', ')}\n${run.stderr.slice(0, 500)}\n${run.errors.slice(0, 1000)}`,
        );
      }

      const ms = (v: number): string => `${fixed(v, 0)} ms`;
      const title = `${rate} calls/s offered, ${fixed(run.calls)} calls`;
      const cpuMs = run.window.cpuUs / 1000;
      lines.push(
        `    ${title}${passes(run) ? '' : `  — misses the bar (${run.failed > 0 || run.exitCode !== 0 ? 'failed calls' : `p99 over ${P99_BOUND_MS} ms`})`}`,
      );
      lines.push(
        ...table([
          [
            'Calls',
            `${fixed(run.attempted)} attempted, ${fixed(run.succeeded)} succeeded, ${fixed(run.failed)} failed${run.failureKinds.length > 0 ? ` (${run.failureKinds.join(', ')})` : ''}; SIPp exit ${run.exitCode}`,
          ],
          [
            'Set-up rate',
            `${fixed((run.rtdMs.length / run.setupSpanMs) * 1000, 1)} calls/s (${fixed(run.rtdMs.length)} answered in ${fixed(run.setupSpanMs / 1000, 2)} s)`,
          ],
          [
            'INVITE→200',
            `p50 ${ms(percentile(run.rtdMs, 50))}, p99 ${ms(percentile(run.rtdMs, 99))}, max ${ms(Math.max(...run.rtdMs))} (${fixed(run.rtdMs.length)} calls)`,
          ],
          [
            'Gateway CPU',
            `${fixed(cpuMs, 1)} ms (user ${fixed(run.window.userUs / 1000, 1)} + system ${fixed(run.window.systemUs / 1000, 1)}) over ${fixed(run.window.wallMs / 1000, 2)} s wall = ${fixed(cpuMs / run.window.wallMs, 2)} cores busy; ${fixed(run.window.cpuUs / 1000 / Math.max(1, run.succeeded), 2)} ms per call`,
          ],
        ]).map((line) => `  ${line}`),
      );
      if (!passes(run)) break;
    }

    const best = runs.filter(passes).at(-1);
    const top = runs.length === RATES.length && runs.every(passes) ? ' (the highest rate tried)' : '';
    lines.push(
      ...table([
        [
          'Highest passing rate',
          best === undefined
            ? `none (even ${RATES[0]} calls/s missed the bar)`
            : `${best.rate} calls/s offered${top}: no failed call, INVITE→200 p99 ${fixed(percentile(best.rtdMs, 99))} ms ≤ ${P99_BOUND_MS} ms`,
        ],
      ]),
    );
    return { lines, failures };
  } finally {
    await gw.close();
  }
}
