/**
 * The servers a cluster runs on, started from their Debian packages as plain local processes in
 * a temporary folder (no Docker, no system service): PostgreSQL 15, Redis 7 and Kamailio 5.6 with
 * the project's own configuration (deploy/kamailio/kamailio.cfg). Everything listens on 127.0.0.1
 * and is stopped (and its folder removed) by `stop()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../sipp/sipp.js';
import { REPO } from '../../support/process.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
export const KAMAILIO_CFG = join(REPO, 'deploy', 'kamailio', 'kamailio.cfg');

/** Why PostgreSQL 15 cannot be started here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  return existsSync(join(PG_BIN, 'postgres')) ? undefined : 'PostgreSQL 15 is not installed (Debian package postgresql-15)';
}

/** What is missing for the cluster tests on this machine, or undefined when all is there. */
export function clusterPartsMissing(): string | undefined {
  const missing = [
    [join(PG_BIN, 'postgres'), 'postgresql-15'],
    ['/usr/bin/redis-server', 'redis-server'],
    ['/usr/sbin/kamailio', 'kamailio'],
  ].filter(([path]) => !existsSync(path!));
  return missing.length === 0 ? undefined : `not installed: ${missing.map(([, pkg]) => pkg).join(', ')}`;
}

interface Owned {
  child: ChildProcess;
  name: string;
  output: () => string;
}

function own(name: string, child: ChildProcess): Owned {
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  return { child, name, output: () => output };
}

async function waitForTcp(port: number, what: Owned, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (what.child.exitCode !== null) throw new Error(`${what.name} exited with ${what.child.exitCode}: ${what.output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what.name} did not listen on ${port}: ${what.output()}`);
    await sleep(100);
  }
}

async function stopChild(owned: Owned, signal: NodeJS.Signals, pid = owned.child.pid): Promise<void> {
  if (owned.child.exitCode !== null || pid === undefined) return;
  const exited = new Promise<void>((resolve) => owned.child.once('exit', () => resolve()));
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!stopped) owned.child.kill('SIGKILL');
}

/** Commands run as the `postgres` user when this process is root (initdb refuses root). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export interface Postgres {
  /** postgresql:// URL of the server's `postgres` database, user `legway`, no password (loopback trust). */
  url: string;
  port: number;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

export async function startPostgres(dir: string): Promise<Postgres> {
  const data = join(dir, 'pg');
  mkdirSync(data, { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
  }
  const [initCmd, initArgs] = asPostgres(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'legway', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}${init.stdout}`);
  const port = await freePort();
  const [cmd, args] = asPostgres(join(PG_BIN, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
  ]);
  const server = own('postgres', spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  await waitForTcp(port, server);
  const url = `postgresql://legway@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    createDatabase(name) {
      const psql = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE "${name}"`], { encoding: 'utf8' });
      if (psql.status !== 0) throw new Error(`creating database ${name}: ${psql.stderr}`);
      return `postgresql://legway@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      // The postmaster, not runuser: a fast shutdown (SIGINT) ends its sessions at once.
      const pidFile = join(data, 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
      await stopChild(server, 'SIGINT', pid);
    },
  };
}

export interface Redis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startRedis(dir: string): Promise<Redis> {
  const port = await freePort();
  const server = own(
    'redis-server',
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await waitForTcp(port, server);
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => stopChild(server, 'SIGTERM') };
}

export interface Kamailio {
  /** host:port trunks send to. */
  address: string;
  port: number;
  output: () => string;
  stop(): Promise<void>;
}

/** Kamailio with the project's configuration, dispatching to `nodes` (host:port of each node's SIP). */
export async function startKamailio(dir: string, nodes: readonly string[], probeIntervalS = 1): Promise<Kamailio> {
  const port = await freePort();
  const list = join(dir, 'dispatcher.list');
  writeFileSync(list, nodes.map((node) => `1 sip:${node} 0 0\n`).join(''));
  const run = join(dir, 'kamailio-run');
  mkdirSync(run, { recursive: true });
  const server = own(
    'kamailio',
    spawn(
      'kamailio',
      [
        '-DD',
        '-E',
        '-f',
        KAMAILIO_CFG,
        '-A',
        `LISTEN=udp:127.0.0.1:${port}`,
        '-A',
        `DISPATCHER_LIST="${list}"`,
        '-A',
        `PROBE_INTERVAL_S=${probeIntervalS}`,
        '-Y',
        run,
        '-P',
        join(run, 'kamailio.pid'),
        '-w',
        run,
        '-m',
        '64',
        '-M',
        '8',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  // UDP only: wait for the start-up to finish (its children are forked by then).
  const deadline = Date.now() + 20_000;
  while (!server.output().includes('dispatcher') && !existsSync(join(run, 'kamailio.pid'))) {
    if (server.child.exitCode !== null) throw new Error(`kamailio exited with ${server.child.exitCode}: ${server.output()}`);
    if (Date.now() > deadline) throw new Error(`kamailio did not start: ${server.output()}`);
    await sleep(100);
  }
  return { address: `127.0.0.1:${port}`, port, output: server.output, stop: () => stopChild(server, 'SIGTERM') };
}

/** A temporary folder for one cluster's servers. */
export function clusterDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'legway-cluster-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
