/**
 * `npm run soak`: a long run at a steady load, to show that memory, handles and audio timing stay
 * flat. A real gateway in this process (mediasoup, SQLite with group commit, webhooks on) carries:
 * - SIP calls from SIPp with RTP both ways (a PCMU tone pcap in, the conference mix back), each
 *   call CALL_S seconds long and replaced as it ends, SOAK_SIP_CALLS at once in one conversation;
 * - real libwebrtc peers (@roamhq/wrtc, in a child process) in SOAK_WEBRTC_ROOMS conversations of 5,
 *   each sending a tone and hearing the others;
 * - every webhook event POSTed to a receiver in this process.
 * A warm-up round of the same load runs first and is ended; the baseline (heap, RSS, open handles
 * and file descriptors, after a full GC) is taken then, so the first use's caches and compiled code
 * are in it, and so are the working sizes that V8's heaps (the main thread's and each media
 * thread's) and the C allocator settle at under this load: on the 2-core machine the RSS climbed for
 * the first 90-120 s of load and then held within a few MiB, and a page those keep is not returned
 * when the load ends. So the warm-up lasts a fifth of the soak (20-120 s), its own rise is printed
 * beside the figures from a fresh start, and the soak shows whether anything keeps growing after it. Then SOAK_SECONDS of load, sampled every 10 s, the load is ended, and the same figures
 * are taken again. Late frames are the audio bridges' ticks that ran more than a frame late.
 * Last, the admission phase: the gateway runs with LEGWAY_MAX_LEGS at the soak's load plus 4; that
 * many calls fill it, 100 more INVITEs must each get 503 with Retry-After, and the admitted calls
 * must complete with no late frame.
 *
 * SOAK_SECONDS (600), SOAK_SIP_CALLS (20), SOAK_WEBRTC_ROOMS (2) size it; the defaults are about
 * half of what bench 5c and bench 6 measure one core carries on the 2-core machine this was built on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ConversationBridge } from '../src/media/bridge/conversationBridge.js';
import { pcmuTonePcap } from '../test/support/pcap.js';
import { freePort } from '../test/sipp/sipp.js';
import { PeerProcess, TONES, type PeerSpec } from './bridgeReal.bench.js';
import { APPLICATION, startBenchGateway, type BenchGateway } from './gateway.js';
import { describeMachine } from './machine.js';
import { StallMonitor } from './stalls.js';
import { fixed, processCpuMs } from './stats.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 600);
const WARMUP_SECONDS = Math.min(120, Math.max(20, SECONDS / 5));
const SIP_CALLS = Number(process.env['SOAK_SIP_CALLS'] ?? 20);
const WEBRTC_ROOMS = Number(process.env['SOAK_WEBRTC_ROOMS'] ?? 2);
const ROOM_SIZE = 5;
const CALL_S = 30;
const SAMPLE_S = 10;
/** Growth from the baseline, after the load ended, that still counts as flat. */
const FLAT = 0.1;
const SCENARIO = fileURLToPath(new URL('./sipp/uac-soak-call.xml', import.meta.url));
const OVERFLOW_SCENARIO = fileURLToPath(new URL('./sipp/uac-expect-503.xml', import.meta.url));
/** The gateway's leg limit (LEGWAY_MAX_LEGS): the soak's load plus a little room for calls being replaced. */
const ADMIT_LIMIT = SIP_CALLS + WEBRTC_ROOMS * ROOM_SIZE + 4;
const ADMIT_TALK_S = 40;
const OVERFLOW_CALLS = 100;
const OVERFLOW_RATE = 5;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Figures {
  heapMiB: number;
  rssMiB: number;
  /** Where the RSS lies: V8's committed heap, memory outside it, and the kernel's split of the RSS. */
  rssParts: string;
  handles: number;
  fds: number;
  /** Each media thread's heap in use (MiB, after a full collection on that thread) and the media objects it still holds. */
  threads: string;
}

async function figures(gw: BenchGateway): Promise<Figures> {
  // Let closes finish, then collect twice (weak references and finalizers need a second pass).
  await sleep(3000);
  gc();
  await sleep(200);
  gc();
  const memory = process.memoryUsage();
  const snapshots = (await gw.app.mediaThreads?.snapshots(true)) ?? [];
  const threads = snapshots
    .map(({ memory: m }, i) => {
      if (m === undefined) return `thread ${i}: no figures`;
      const held = Object.entries(m.objects)
        .filter(([, n]) => n > 0)
        .map(([what, n]) => `${n} ${what}`);
      return `thread ${i}: heap ${fixed(m.heapUsed / 2 ** 20, 1)} of ${fixed(m.heapTotal / 2 ** 20, 1)} MiB, external ${fixed(m.external / 2 ** 20, 1)} MiB, holding ${held.length === 0 ? 'nothing' : held.join(', ')}`;
    })
    .join('; ');
  return {
    threads,
    heapMiB: memory.heapUsed / 2 ** 20,
    rssMiB: memory.rss / 2 ** 20,
    rssParts: rssParts(memory),
    handles: process.getActiveResourcesInfo().length,
    fds: readdirSync('/proc/self/fd').length,
  };
}

/** `a → b (+x %)`, one decimal. */
function growthText(a: number, b: number): string {
  return `${fixed(a, 1)} → ${fixed(b, 1)} (${b >= a ? '+' : ''}${fixed(((b - a) / a) * 100, 1)} %)`;
}

/** The kernel's split of this process's RSS (anonymous, file-backed, shared) beside V8's own figures. */
function rssParts(memory: NodeJS.MemoryUsage): string {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const mib = (bytes: number): string => fixed(bytes / 2 ** 20, 1);
  return (
    `anonymous ${mib(kib('RssAnon') * 1024)}, file ${mib(kib('RssFile') * 1024)}, shared ${mib(kib('RssShmem') * 1024)} MiB; ` +
    `main V8 heap committed ${mib(memory.heapTotal)}, external ${mib(memory.external)} (array buffers ${mib(memory.arrayBuffers)}) MiB`
  );
}

/**
 * The highest `late` seen per bridge; bridges come and go with their legs, so they are polled. Each
 * rise is kept with when it was seen (seconds from start(), as the stall monitor counts) and in which
 * conversation, so that late frames can be set beside the main thread's stalls.
 */
class LateFrames {
  private readonly seen = new Map<ConversationBridge, number>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  readonly rises: { at: number; conversationId: string; frames: number }[] = [];

  constructor(
    private readonly gw: BenchGateway,
    private readonly conversationIds: ReadonlySet<string>,
  ) {}

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.poll(), 200);
  }

  poll(): void {
    for (const id of this.conversationIds) {
      const bridge = this.gw.app.legs.liveBridge(id);
      if (!bridge) continue;
      const before = this.seen.get(bridge) ?? 0;
      const late = bridge.stats.late;
      if (late > before) {
        this.seen.set(bridge, late);
        this.rises.push({ at: (performance.now() - this.startedAt) / 1000, conversationId: id, frames: late - before });
      }
    }
  }

  stop(): number {
    clearInterval(this.timer);
    this.poll();
    return [...this.seen.values()].reduce((a, b) => a + b, 0);
  }
}

/** Counts webhook POSTs; answers 200. */
async function startReceiver(): Promise<{ server: Server; url: string; received: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}/events`, received: () => count };
}

interface SippRun {
  scenario: string;
  /** Calls at once (-l). */
  calls: number;
  /** New calls per second (-r). */
  rate: number;
  /** Calls in all (-m). */
  total: number;
  /** How long each call talks (the soak scenario's `talk_ms`). */
  talkMs?: number;
  pcap?: string;
}

/** SIPp running `run` against the gateway's SIP port (service `soak`); exits 0 when every call went as its scenario says. */
async function startSipp(sipPort: number, run: SippRun): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'legway-soak-sipp-'));
  const args = [
    '-sf',
    run.scenario,
    '-s',
    'soak',
    '-t',
    'u1',
    '-i',
    '127.0.0.1',
    '-p',
    String(await freePort()),
    '-cp',
    String(await freePort()),
    '-mi',
    '127.0.0.1',
    '-mp',
    String(await freePort()),
    ...(run.pcap === undefined ? [] : ['-key', 'pcap', run.pcap]),
    ...(run.talkMs === undefined ? [] : ['-set', 'talk_ms', String(run.talkMs)]),
    '-r',
    fixed(run.rate, 3),
    '-m',
    String(run.total),
    '-l',
    String(run.calls),
    '-nostdin',
    `127.0.0.1:${sipPort}`,
  ];
  const child = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return child;
}

/** SIPp keeping `calls` soak calls of CALL_S seconds up for `seconds`, each replaced as it ends. */
function startSoakCalls(sipPort: number, pcap: string, calls: number, seconds: number): Promise<ChildProcess> {
  const rate = calls / CALL_S;
  return startSipp(sipPort, { scenario: SCENARIO, calls, rate, total: Math.max(calls, Math.round(rate * seconds)), talkMs: CALL_S * 1000, pcap });
}

function exited(child: ChildProcess, withinMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return Promise.race([
    new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
    sleep(withinMs).then(() => {
      child.kill('SIGKILL');
      return null;
    }),
  ]);
}

/**
 * Past the admission limit: ADMIT_LIMIT calls fill the gateway's legs (LEGWAY_MAX_LEGS), then
 * OVERFLOW_CALLS more INVITEs arrive while they talk. Each of those must get 503 with Retry-After
 * (the overflow scenario fails a call otherwise), every admitted call must complete, and the
 * admitted calls' bridge must not fall behind.
 */
async function admissionPhase(gw: BenchGateway, pcap: string, log: (line: string) => void): Promise<string[]> {
  const failures: string[] = [];
  const sipPort = gw.app.sip!.port;
  const late = new LateFrames(gw, conversations);
  late.start();
  const admitted = await startSipp(sipPort, {
    scenario: SCENARIO,
    calls: ADMIT_LIMIT,
    rate: 10,
    total: ADMIT_LIMIT,
    talkMs: ADMIT_TALK_S * 1000,
    pcap,
  });
  const admittedExit = exited(admitted, (ADMIT_TALK_S + 60) * 1000);
  const deadline = Date.now() + 30_000;
  while (gw.app.legs.active < ADMIT_LIMIT && Date.now() < deadline) await sleep(100);
  const up = gw.app.legs.active;
  if (up < ADMIT_LIMIT) failures.push(`admission: only ${up} of ${ADMIT_LIMIT} calls came up`);
  const overflow = await startSipp(sipPort, { scenario: OVERFLOW_SCENARIO, calls: 10, rate: OVERFLOW_RATE, total: OVERFLOW_CALLS });
  const overflowExit = await exited(overflow, (OVERFLOW_CALLS / OVERFLOW_RATE + 30) * 1000);
  const upDuring = gw.app.legs.active;
  const admittedCode = await admittedExit;
  const deadlineGone = Date.now() + 30_000;
  while (gw.app.legs.active > 0 && Date.now() < deadlineGone) await sleep(200);
  const lateFrames = late.stop();
  log(`    admitted:      ${up} calls up (the limit), still ${upDuring} up once the refusals were done; SIPp exit ${String(admittedCode)} (0: all completed)`);
  log(
    `    refused:       ${OVERFLOW_CALLS} INVITEs at ${OVERFLOW_RATE}/s past the limit; SIPp exit ${String(overflowExit)} (0: every one got 503 with Retry-After)`,
  );
  log(`    late frames:   ${lateFrames} (the admitted calls' bridge)`);
  if (overflowExit !== 0) failures.push(`admission: not every INVITE past the limit got 503 with Retry-After (SIPp exit ${String(overflowExit)})`);
  if (admittedCode !== 0) failures.push(`admission: admitted calls did not all complete (SIPp exit ${String(admittedCode)})`);
  if (lateFrames > 0) failures.push(`admission: ${lateFrames} late frames in the admitted calls`);
  return failures;
}

/** Conversations with media, for the late-frame count. */
const conversations = new Set<string>();

/** WebRTC peers in `rooms` conversations of ROOM_SIZE, in a child process. */
async function startPeers(gw: BenchGateway, round: string): Promise<PeerProcess> {
  const peers: PeerSpec[] = [];
  for (let room = 0; room < WEBRTC_ROOMS; room++) {
    const conversation = gw.app.services.conversations.create({ name: `soak-${round}-${room}` }, APPLICATION);
    conversations.add(conversation.id);
    for (let i = 0; i < ROOM_SIZE; i++) {
      const name = `soak-${round}-${room}-${i}`;
      gw.app.services.members.create(conversation.id, { user: { name }, state: 'joined' }, APPLICATION);
      const tone = TONES[i % TONES.length]!;
      peers.push({ name, token: await gw.token(name), conversationId: conversation.id, tone, others: TONES.filter((t) => t !== tone) });
    }
  }
  const generator = new PeerProcess();
  await generator.ask({ kind: 'start', url: gw.url, peers }, 60_000 + peers.length * 2000);
  return generator;
}

/** Runs the load for `seconds`, sampling every SAMPLE_S; ends it and waits until every leg is gone. */
async function load(gw: BenchGateway, pcap: string, seconds: number, round: string, log: (line: string) => void): Promise<{ sipExit: number | null }> {
  const sipp = await startSoakCalls(gw.app.sip!.port, pcap, SIP_CALLS, seconds);
  const sipDone = new Promise<number | null>((resolve) => sipp.once('exit', (code) => resolve(code)));
  const peers = WEBRTC_ROOMS > 0 ? await startPeers(gw, round) : undefined;
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    await sleep(SAMPLE_S * 1000);
    const m = process.memoryUsage();
    log(
      `    ${fixed((Date.now() - started) / 1000).padStart(5)} s: legs ${String(gw.app.legs.active).padStart(3)}, heap ${fixed(m.heapUsed / 2 ** 20, 1)} MiB, ` +
        `RSS ${fixed(m.rss / 2 ** 20, 1)} MiB (${rssParts(m)}), handles ${process.getActiveResourcesInfo().length}`,
    );
  }
  await peers?.stop();
  // SIPp has sent its last INVITE by now; its calls end within CALL_S.
  const sipExit = await Promise.race([sipDone, sleep((CALL_S + 30) * 1000).then(() => null)]);
  if (sipp.exitCode === null) sipp.kill('SIGKILL');
  const deadline = Date.now() + 30_000;
  while (gw.app.legs.active > 0 && Date.now() < deadline) await sleep(200);
  return { sipExit };
}

async function main(): Promise<number> {
  const log = (line: string): void => console.log(line);
  log('legway soak');
  for (const line of describeMachine()) log(line);
  log(
    `Load: ${SIP_CALLS} SIPp calls at once (PCMU, RTP both ways, ${CALL_S} s each, replaced as they end), ${WEBRTC_ROOMS * ROOM_SIZE} libwebrtc peers ` +
      `in ${WEBRTC_ROOMS} conversations of ${ROOM_SIZE}, webhooks on; warm-up ${WARMUP_SECONDS} s, soak ${SECONDS} s.`,
  );
  const receiver = await startReceiver();
  const sipPort = await freePort();
  const pcapDir = mkdtempSync(join(tmpdir(), 'legway-soak-pcap-'));
  const pcap = join(pcapDir, 'tone.pcap');
  writeFileSync(pcap, pcmuTonePcap({ frequency: 1000, seconds: 12 }));
  const gw = await startBenchGateway({
    LEGWAY_SIP_ENABLED: 'true',
    LEGWAY_SIP_HOST: '127.0.0.1',
    LEGWAY_SIP_PORT: String(sipPort),
    LEGWAY_SIP_ROUTES: 'soak=soak-sip',
    LEGWAY_SIP_TRUNKS: '127.0.0.0/8',
    LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
    LEGWAY_MEDIA_WORKERS: '1',
    LEGWAY_EVENT_URL: receiver.url,
    LEGWAY_WEBHOOK_ALL_EVENTS: 'true',
    LEGWAY_MAX_LEGS: String(ADMIT_LIMIT),
  });
  const failures: string[] = [];
  try {
    const sipConversation = gw.app.services.conversations.create({ name: 'soak-sip' }, APPLICATION).id;
    conversations.add(sipConversation);
    const fresh = await figures(gw);
    log('Warm-up');
    await load(gw, pcap, WARMUP_SECONDS, 'warm', log);
    const before = await figures(gw);
    log(
      `Warm-up's own rise (after a full GC, no calls up): heap ${growthText(fresh.heapMiB, before.heapMiB)} MiB, RSS ${growthText(fresh.rssMiB, before.rssMiB)} MiB ` +
        `(${fresh.rssParts} → ${before.rssParts})`,
    );
    const late = new LateFrames(gw, conversations);
    late.start();
    const monitor = new StallMonitor();
    monitor.start();
    log('Soak');
    // Main thread (its task id is the process id) and whole process: the bridges' work shows in the difference.
    const cpuBefore = { main: processCpuMs(process.pid, process.pid), all: processCpuMs(process.pid) };
    const { sipExit } = await load(gw, pcap, SECONDS, 'soak', log);
    const cpu = { main: processCpuMs(process.pid, process.pid) - cpuBefore.main, all: processCpuMs(process.pid) - cpuBefore.all };
    const lateFrames = late.stop();
    const { stalls, gcMs } = monitor.stop();
    const after = await figures(gw);
    const growth = growthText;
    log('Result (after a full GC, no calls up)');
    log(`    heap used:     ${growth(before.heapMiB, after.heapMiB)} MiB`);
    log(`    RSS:           ${growth(before.rssMiB, after.rssMiB)} MiB`);
    log(`    RSS parts:     before ${before.rssParts}`);
    log(`                   after  ${after.rssParts}`);
    log(`    media threads: before ${before.threads}`);
    log(`                   after  ${after.threads}`);
    log(`    handles:       ${before.handles} → ${after.handles}`);
    log(`    open fds:      ${before.fds} → ${after.fds}`);
    log(`    late frames:   ${lateFrames}`);
    for (const r of late.rises)
      log(`        seen at ${fixed(r.at, 1)} s: ${r.frames} in ${r.conversationId === sipConversation ? "the SIP calls' bridge" : "a WebRTC room's bridge"}`);
    log(
      `    CPU (soak):    main thread ${fixed(cpu.main / SECONDS, 1)} ms/s, whole process ${fixed(cpu.all / SECONDS, 1)} ms/s (SIPp and the peers' process not counted)`,
    );
    log(`    GC:            ${fixed(gcMs, 0)} ms in all; pauses and stalls of 10 ms or more: ${stalls.length} (the 20 longest below)`);
    const longest = [...stalls].sort((a, b) => b.ms - a.ms).slice(0, 20);
    for (const stall of longest.sort((a, b) => a.at - b.at)) log(`        at ${fixed(stall.at, 1)} s: ${stall.what}, ${fixed(stall.ms, 1)} ms`);
    log(`    SIPp exit:     ${String(sipExit)} (0: every call completed)`);
    log(`    webhooks:      ${receiver.received()} POSTs received`);
    if (after.heapMiB > before.heapMiB * (1 + FLAT)) failures.push('heap grew');
    if (after.rssMiB > before.rssMiB * (1 + FLAT)) failures.push('RSS grew');
    if (after.handles > before.handles) failures.push('handles grew');
    if (after.fds > before.fds) failures.push('file descriptors grew');
    if (lateFrames > 0) failures.push(`${lateFrames} late frames`);
    if (sipExit !== 0) failures.push(`SIPp exited with ${String(sipExit)}`);
    log(`Admission: ${ADMIT_LIMIT} legs allowed (LEGWAY_MAX_LEGS), ${ADMIT_LIMIT} calls of ${ADMIT_TALK_S} s, then ${OVERFLOW_CALLS} more INVITEs`);
    failures.push(...(await admissionPhase(gw, pcap, log)));
  } finally {
    await gw.close();
    receiver.server.close();
    rmSync(pcapDir, { recursive: true, force: true });
  }
  for (const failure of failures) log(`FAIL: ${failure}`);
  if (failures.length === 0) log('OK: flat after the load, no late frames, and past the limit new calls refused while the admitted ones kept time');
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
