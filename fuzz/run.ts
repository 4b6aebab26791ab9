/**
 * `npm run fuzz`: a property-based fuzzing campaign (fast-check) against a real gateway started in
 * this process — SIP (in-process parser and live UDP/TCP), RTP/RTCP/RFC 4733 parsers, socket.io
 * requests and REST requests — checking on every input that nothing crashes, that a rejected input
 * changes no state and that an accepted one writes only catalogued events; and over the run that
 * the gateway stays live and its memory flat. Prints its figures; exits 1 when an invariant fails.
 *
 *   npm run fuzz                     the full campaign (1,000,000 SIP, 100,000 socket, 100,000 REST inputs)
 *   npm run fuzz -- --seconds 60     a time-boxed slice (CI), the same targets in proportion
 *   npm run fuzz -- --seed 42        replays a campaign (the seed is printed)
 *
 * FUZZ_SECONDS and FUZZ_SEED do the same as the flags.
 */
import { parseArgs } from 'node:util';
import { startFuzzWorld } from './gateway.js';
import { CrashWatch, LivenessProbe, RssSampler } from './invariants.js';
import type { Budget, TargetResult } from './property.js';
import { failuresOf, printReport } from './report.js';
import { fuzzRestRequests } from './restTarget.js';
import { fuzzRtpParsers } from './rtpTarget.js';
import { fuzzSipInProcess, fuzzSipWire } from './sipTarget.js';
import { fuzzSocketRequests } from './socketTarget.js';
import { StateWatch } from './stateWatch.js';

/** Inputs per target in the full campaign, and each target's share of a time-boxed one. */
const FULL = {
  sipInProcess: { runs: 980_000, share: 0.3 },
  rtp: { runs: 200_000, share: 0.04 },
  sipWire: { runs: 20_000, share: 0.1 },
  socket: { runs: 100_000, share: 0.28 },
  rest: { runs: 100_000, share: 0.28 },
} as const;
type TargetName = keyof typeof FULL;
/** Warm-up inputs per target before the memory baseline (caches, JIT, lazily built parts). */
const WARM_UP_SHARE = 0.02;
const RSS_LIMIT_PERCENT = 10;

function readOptions(): { seconds: number | undefined; seed: number } {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, seed: { type: 'string' } }, allowPositionals: false });
  const seconds = values.seconds ?? process.env.FUZZ_SECONDS;
  const seed = values.seed ?? process.env.FUZZ_SEED;
  const parsedSeconds = seconds === undefined ? undefined : Number(seconds);
  if (parsedSeconds !== undefined && !(Number.isFinite(parsedSeconds) && parsedSeconds >= 10))
    throw new Error('--seconds must be a number of seconds, at least 10');
  const parsedSeed = seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(seed);
  if (!Number.isSafeInteger(parsedSeed)) throw new Error('--seed must be an integer');
  return { seconds: parsedSeconds, seed: parsedSeed };
}

const began = Date.now();

/** A progress line on stderr (the figures go to stdout at the end). */
function progress(what: string): void {
  console.error(`[fuzz ${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s] ${what}`);
}

async function main(): Promise<number> {
  const { seconds, seed } = readOptions();
  progress(`seed ${seed}; starting the gateway`);
  const crashes = new CrashWatch();
  const world = await startFuzzWorld();
  const db = world.gateway.app.store.sqlite;
  // The watch sees writes through SQLite's TEMP triggers on the gateway's own connection.
  if (!db) throw new Error('the fuzz run needs the embedded SQLite store: unset LEGWAY_DATABASE_URL');
  const watch = new StateWatch(db);
  const liveness = await LivenessProbe.open(world.gateway.url, world.sipPort);
  const rss = new RssSampler();
  // A time-boxed run spends 90 % of its time on the targets (the rest starts, warms up and stops).
  const budget = (name: TargetName, warmUp = false): Budget => {
    const full = FULL[name];
    if (warmUp)
      return { runs: Math.max(50, Math.round(full.runs * WARM_UP_SHARE * (seconds === undefined ? 1 : 0.1))), timeLimitMs: undefined, seed: seed + 1 };
    return { runs: full.runs, timeLimitMs: seconds === undefined ? undefined : seconds * 900 * full.share, seed };
  };
  const targets: TargetResult[] = [];
  try {
    const live = async (warmUp: boolean): Promise<TargetResult[]> => {
      const label = warmUp ? ' (warm-up)' : '';
      const probe = async (where: string): Promise<void> => {
        progress(`${where}${label}`);
        await liveness.check(`${where}${label}`);
        if (!warmUp) rss.sample(where);
      };
      progress(`RTP parsers${label}`);
      const results = [fuzzRtpParsers(budget('rtp', warmUp))];
      progress(`SIP over UDP and TCP${label}`);
      results.push(await fuzzSipWire(budget('sipWire', warmUp), world, watch));
      await probe('after SIP');
      results.push(await fuzzSocketRequests(budget('socket', warmUp), world, watch, (n) => probe(`socket ${n}`)));
      await probe('after socket');
      results.push(await fuzzRestRequests(budget('rest', warmUp), world, watch, (n) => probe(`REST ${n}`)));
      await probe('after REST');
      return results;
    };
    fuzzSipInProcess(budget('sipInProcess', true));
    await live(true);
    const start = rss.sample('start');
    watch.reset();
    progress('SIP parser (in-process)');
    targets.push(fuzzSipInProcess(budget('sipInProcess')));
    await liveness.check('after the SIP parser');
    targets.push(...(await live(false)));
    const end = rss.sample('end');
    const report = {
      mode: seconds === undefined ? 'full campaign' : `${seconds}-second slice`,
      seed,
      targets,
      crashes: crashes.crashes,
      liveness: { probes: liveness.probes, failures: liveness.failures },
      rss: { start, end, limitPercent: RSS_LIMIT_PERCENT, samples: rss.samples },
      durationMs: Date.now() - began,
    };
    printReport(report);
    return failuresOf(report).length === 0 ? 0 : 1;
  } finally {
    await liveness.close();
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
