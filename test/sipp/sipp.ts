/**
 * Running SIPp from tests: one scenario from this folder, one call, bound to 127.0.0.1 on a free
 * port, with errors traced into a temporary folder that is printed on failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerMissing } from '../support/requiredPeers.js';

const SCENARIOS = new URL('.', import.meta.url).pathname;

/** Why SIPp tests cannot run here, or undefined when `sipp` is on the PATH. */
export function sippMissing(): string | undefined {
  const probe = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  return peerMissing(probe.error ? `sipp not found (${probe.error.message}); install the Debian package sip-tester` : undefined);
}

/**
 * A port free for both UDP and TCP on 127.0.0.1 right now (SIPp needs a fixed one: `-p 0` means
 * 5060), other than the ones in `besides` (which the kernel may hand out again once closed).
 */
export async function freePort(...besides: readonly number[]): Promise<number> {
  for (;;) {
    const tcp = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const address = tcp.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    const udp = createSocket('udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind({ address: '127.0.0.1', port, exclusive: true }, () => resolve(true));
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve();
      }
    });
    if (udpFree && !besides.includes(port)) return port;
  }
}

export interface SippRun {
  readonly code: number | null;
  /** Contents of SIPp's error trace and message log (for failure messages). */
  readonly trace: string;
}

export interface SippOptions {
  /** Scenario file name in test/sipp. */
  readonly scenario: string;
  /** `u1` (UDP) or `t1` (TCP). */
  readonly transport: 'u1' | 't1';
  /** The remote `host:port` to call; absent for a UAS scenario that waits to be called. */
  readonly target?: string;
  /** Local port; a free one by default. */
  readonly port?: number;
  readonly timeoutSeconds?: number;
  /** More SIPp arguments. */
  readonly extra?: readonly string[];
}

/** Runs one SIPp call of a scenario; resolves with its exit code (0: scenario passed). */
export async function runSipp(options: SippOptions): Promise<SippRun> {
  return (await startSipp(options)).finished;
}

/** A started SIPp: its local port and its end. */
export interface StartedSipp {
  readonly port: number;
  readonly finished: Promise<SippRun>;
}

/**
 * Starts SIPp; for a UAS scenario (no target), resolves once it listens on its port. SIPp also
 * binds a UDP remote-control port; when another process takes that port between our probe and
 * SIPp's bind, SIPp exits at once without sending anything, and is started again on another one.
 */
export async function startSipp(options: SippOptions): Promise<StartedSipp> {
  return startWithRetries(options, options.port ?? (await freePort()), 3);
}

const CONTROL_BIND_FAILED = 'Unable to bind remote control socket';

async function startWithRetries(options: SippOptions, port: number, tries: number): Promise<StartedSipp> {
  const started = await startSippOnce(options, port, await freePort(port));
  const again = (run: SippRun): boolean => tries > 1 && run.trace.includes(CONTROL_BIND_FAILED);
  if (options.target) {
    const finished = started.finished.then(async (run) => (again(run) ? (await startWithRetries(options, port, tries - 1)).finished : run));
    return { port, finished };
  }
  if (started.exited() && again(await started.finished)) return startWithRetries(options, port, tries - 1);
  return started;
}

async function startSippOnce(options: SippOptions, port: number, controlPort: number): Promise<StartedSipp & { exited(): boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'legway-sipp-'));
  const args = [
    '-sf',
    join(SCENARIOS, options.scenario),
    '-t',
    options.transport,
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-cp',
    String(controlPort),
    '-m',
    '1',
    '-timeout',
    `${options.timeoutSeconds ?? 10}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    '-trace_msg',
    '-message_file',
    join(dir, 'messages.log'),
    ...(options.extra ?? []),
    ...(options.target ? [options.target] : []),
  ];
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let hasExited = false;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (exitCode) => {
      hasExited = true;
      resolve(exitCode);
    });
    child.on('error', () => resolve(-1));
  });
  const finished = exited.then((code) => {
    const logs = readdirSync(dir).map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8')}`);
    rmSync(dir, { recursive: true, force: true });
    return { code, trace: [`sipp ${args.join(' ')} -> exit ${code}`, stderr, ...logs].join('\n') };
  });
  if (!options.target) await waitForListener(port, options.transport, exited);
  return { port, finished, exited: () => hasExited };
}

/** Resolves once something holds the port (SIPp bound it), or SIPp has exited. */
async function waitForListener(port: number, transport: 'u1' | 't1', exited: Promise<unknown>): Promise<void> {
  const state = { exited: false };
  void exited.then(() => (state.exited = true));
  const deadline = Date.now() + 5000;
  while (!state.exited && Date.now() < deadline) {
    if (await portTaken(port, transport)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function portTaken(port: number, transport: 'u1' | 't1'): Promise<boolean> {
  if (transport === 't1') {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  }
  const udp = createSocket('udp4');
  return new Promise((resolve) => {
    udp.once('error', () => resolve(true));
    udp.bind({ address: '127.0.0.1', port, exclusive: true }, () => udp.close(() => resolve(false)));
  });
}
