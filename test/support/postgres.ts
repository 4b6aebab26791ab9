/**
 * A real PostgreSQL 15 for the tests, from Debian's package (postgresql-15), started as a plain local
 * process in a temporary folder: no Docker, no system service. As root (initdb refuses root) it runs
 * as the `postgres` user. It listens on 127.0.0.1 only, user `legway`, trusted without a password.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import { freePort } from '../sipp/sipp.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { own, stopChild, waitForTcp, type Owned } from './localServer.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Why PostgreSQL 15 cannot be started here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  return existsSync(join(PG_BIN, 'postgres')) ? undefined : 'PostgreSQL 15 is not installed (Debian package postgresql-15)';
}

export interface Postgres {
  /** postgresql:// URL of the server's `postgres` database, user `legway`, no password (loopback trust). */
  url: string;
  port: number;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /**
   * false: no fsync and no synchronous commit, for test runs whose data is thrown away (a crash of
   * the machine would lose it, nothing else changes). true by default.
   */
  durable?: boolean;
}

/** Commands run as the `postgres` user when this process is root. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

/** The URL of database `name` on the server that `url` points at (same user, host and options). */
export function databaseUrl(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates database `name` on the server `url` points at (a database of it the user may connect to). */
export function createDatabaseOn(url: string, name: string): string {
  if (!/^\w+$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  const admin = new PgDatabase(url);
  try {
    admin.exec(`CREATE DATABASE "${name}"`);
  } finally {
    admin.close();
  }
  return databaseUrl(url, name);
}

/** Tries this many ports before giving up (another test's server may take the one picked first). */
const PORT_ATTEMPTS = 3;

/** The postmaster's status line in postmaster.pid once it accepts connections. */
const READY = 'ready';

/**
 * Starts the postmaster on a free port and waits until it is this server that accepts connections:
 * postmaster.pid says ready on that port. Test files start servers at once, and a port that was
 * free when picked may be another's by the time this one binds; then this one exits (it cannot
 * bind) while the port answers for the other, and a new port is tried.
 */
async function listenOnFreePort(data: string, dir: string, settings: string[]): Promise<{ server: Owned; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const [cmd, args] = asPostgres(join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, ...settings.flatMap((s) => ['-c', s])]);
    const server = own('postgres', spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await waitForTcp(port, server);
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (server.child.exitCode !== null) throw new Error(`postgres exited with ${server.child.exitCode}: ${server.output()}`);
        if (postmasterReady(data, port)) return { server, port };
        if (Date.now() > deadline) throw new Error(`postgres did not report ready on ${port}: ${server.output()}`);
        await sleep(50);
      }
    } catch (err) {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      if (attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

/** Whether the postmaster of `data` says it accepts connections on `port` (postmaster.pid: line 4 the port, line 8 the status). */
function postmasterReady(data: string, port: number): boolean {
  const pidFile = join(data, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  return Number(lines[3]) === port && lines[7]?.trim() === READY;
}

/** Starts a PostgreSQL 15 server whose data lives in `<dir>/pg`; `stop()` it, then remove `dir`. */
export async function startPostgres(dir: string, options: PostgresOptions = {}): Promise<Postgres> {
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
  const settings = ['listen_addresses=127.0.0.1', 'max_connections=200'];
  if (options.durable === false) settings.push('fsync=off', 'synchronous_commit=off', 'full_page_writes=off');
  const { server, port } = await listenOnFreePort(data, dir, settings);
  const url = `postgresql://legway@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    createDatabase: (name) => createDatabaseOn(url, name),
    async stop() {
      // The postmaster, not runuser: a fast shutdown (SIGINT) ends its sessions at once.
      const pidFile = join(data, 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
      await stopChild(server, 'SIGINT', pid);
    },
  };
}
