/**
 * The servers a cluster runs on, started from their Debian packages as plain local processes in
 * a temporary folder (no Docker, no system service): PostgreSQL 15, Redis 7 and Kamailio 5.6 with
 * the project's own configuration (deploy/kamailio/kamailio.cfg). Everything listens on 127.0.0.1
 * and is stopped (and its folder removed) by `stop()`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../sipp/sipp.js';
import { own, stopChild, waitForTcp } from '../../support/localServer.js';
import { REPO } from '../../support/process.js';

export { postgresMissing, startPostgres, type Postgres } from '../../support/postgres.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
export const KAMAILIO_CFG = join(REPO, 'deploy', 'kamailio', 'kamailio.cfg');

/** What is missing for the cluster tests on this machine, or undefined when all is there. */
export function clusterPartsMissing(): string | undefined {
  const missing = [
    [join(PG_BIN, 'postgres'), 'postgresql-15'],
    ['/usr/bin/redis-server', 'redis-server'],
    ['/usr/sbin/kamailio', 'kamailio'],
  ].filter(([path]) => !existsSync(path!));
  return missing.length === 0 ? undefined : `not installed: ${missing.map(([, pkg]) => pkg).join(', ')}`;
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
        // One UDP worker: with several, a node's 180 and 200 may be relayed in either order, and
        // SIPp's scenarios (rightly strict about what they expect) would fail on a late 180.
        '-A',
        'CHILDREN=1',
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
