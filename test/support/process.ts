import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dataDirOf, databaseEnv } from './testDatabases.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'legway.js');

/** Fails a suite that runs the real command when it is not built (`npm test` builds it first, and `npm ci` via prepare). */
export function requireBuiltCli(): void {
  if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build`');
}

export interface RunningGateway {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything the process wrote to stdout (pino JSON lines). */
  output: () => string;
}

/**
 * What a spawned `legway serve` gets before the test's own settings: loopback only, any free ports,
 * and under `npm run test:pg` its data folder's own database.
 */
function serveEnv(cwd: string, env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    LEGWAY_HOST: '127.0.0.1',
    LEGWAY_HTTP_PORT: '0',
    LEGWAY_SIP_HOST: '127.0.0.1',
    LEGWAY_SIP_PORT: '0',
    ...databaseEnv(dataDirOf(cwd, env)),
    ...env,
  };
}

/** Starts `legway serve` as a real process in `cwd` and resolves once it logs its port. */
export function spawnGateway(cwd: string, env: Record<string, string> = {}): Promise<RunningGateway> {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: serveEnv(cwd, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"legway listening'));
      if (line) {
        const port = (JSON.parse(line) as { port: number }).port;
        resolve({ child, port, url: `http://127.0.0.1:${port}`, output: () => out });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('exit', (code) => reject(new Error(`legway serve exited with ${code}: ${err}${out}`)));
  });
}

/** How a `legway serve` that was meant to stop by itself ended; `timedOut` when it had to be killed. */
export interface ServeOutcome {
  status: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `legway serve` (same defaults as spawnGateway) until it exits by itself, without blocking
 * this process (gateways and phones of the test keep running); SIGKILLed after `timeoutMs`.
 */
export function serveUntilExit(cwd: string, env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ServeOutcome> {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: serveEnv(cwd, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve) => {
    // 'close', not 'exit': by then everything the process wrote has been read.
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, timedOut });
    });
  });
}

/** Runs `legway <args>` to completion. */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...databaseEnv(dataDirOf(cwd, env)), ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `legway <args>` to completion without blocking this process (whose gateways keep running meanwhile). */
export function runCliAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...databaseEnv(dataDirOf(cwd, env)), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Stops a spawned gateway: SIGKILL for crash tests, SIGTERM for a clean stop; resolves when it is gone. */
export function stop(g: RunningGateway, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (g.child.exitCode !== null || g.child.signalCode !== null) return Promise.resolve(g.child.exitCode);
  return new Promise((resolve) => {
    g.child.once('exit', (code) => resolve(code));
    g.child.kill(signal);
  });
}

/** A JSON answer of a spawned gateway's REST API. */
export interface ProcessApiResponse {
  status: number;
  // Tests read fields of JSON bodies freely.
  body: any;
}

/** Calls a spawned gateway's REST API with `token`: `api('POST', '/v1/conversations', { name })`. */
export function processApi(g: RunningGateway, token: string): (method: string, path: string, body?: unknown) => Promise<ProcessApiResponse> {
  return async (method, path, body) => {
    const res = await fetch(`${g.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}
