/**
 * A cluster for tests: PostgreSQL and Redis from their Debian packages (servers.ts), and legway
 * nodes as real `legway serve` processes sharing them, each with its own data folder, node id and
 * ports, all on 127.0.0.1. Every node shares the token secret, application id and webhook
 * signature secret, as a cluster's nodes must.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { io as connectClient, type Socket } from 'socket.io-client';
import type { Role } from '../../../src/auth/principal.js';
import { mintToken } from '../../../src/auth/tokens.js';
import { TEST_SECRET } from '../../support/gateway.js';
import { processApi, spawnGateway, stop, type ProcessApiResponse, type RunningGateway } from '../../support/process.js';
import { clusterDir, startPostgres, startRedis, type Postgres, type Redis } from './servers.js';

export const APPLICATION_ID = 'legway-cluster-test';
const SIGNATURE_SECRET = 'cluster-webhook-signature-secret-long-enough';

export interface ClusterNode {
  id: string;
  process: RunningGateway;
  dataDir: string;
  env: Record<string, string>;
  /** REST as the application. */
  api: (method: string, path: string, body?: unknown) => Promise<ProcessApiResponse>;
  /** A socket.io client of `sub` on this node (client namespace, or `namespace`). */
  connect: (sub: string, role?: Role, namespace?: string) => Promise<Socket>;
}

export interface Cluster {
  pg: Postgres;
  redis: Redis;
  nodes: ClusterNode[];
  databaseUrl: string;
  /** Starts node `index` (again), e.g. after a kill. */
  startNode: (index: number) => Promise<ClusterNode>;
  close: () => Promise<void>;
}

export interface ClusterOptions {
  nodes: number;
  /** Settings every node gets besides the cluster's own. */
  env?: Record<string, string>;
}

export function token(sub: string, role: Role = 'user'): Promise<string> {
  return mintToken(TEST_SECRET, { sub, role, ttlSeconds: 3600, applicationId: APPLICATION_ID });
}

/** Starts PostgreSQL, Redis and `nodes` legway nodes on them. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { dir, remove } = clusterDir();
  const sockets = new Set<Socket>();
  const pg = await startPostgres(dir);
  const redis = await startRedis(dir);
  const databaseUrl = pg.createDatabase('legway');
  const appToken = await token('backend', 'application');
  const nodes: ClusterNode[] = [];

  const startNode = async (index: number): Promise<ClusterNode> => {
    const id = `node-${index + 1}`;
    const dataDir = join(dir, id);
    mkdirSync(dataDir, { recursive: true });
    const env: Record<string, string> = {
      LEGWAY_DATA_DIR: dataDir,
      LEGWAY_DATABASE_URL: databaseUrl,
      LEGWAY_REDIS_URL: redis.url,
      LEGWAY_NODE_ID: id,
      LEGWAY_NODE_LEASE_S: '3',
      LEGWAY_ANNOUNCED_IP: '127.0.0.1',
      LEGWAY_SECRET: TEST_SECRET,
      LEGWAY_APPLICATION_ID: APPLICATION_ID,
      LEGWAY_SIGNATURE_SECRET: SIGNATURE_SECRET,
      LEGWAY_LOG_LEVEL: 'info',
      LEGWAY_RTC_LISTEN_IP: '127.0.0.1',
      LEGWAY_MEDIA_WORKERS: '1',
      LEGWAY_MEDIA_THREADS: '1',
      LEGWAY_ADMISSION_MAX_LOAD: '1',
      ...options.env,
    };
    const process = await spawnGateway(dataDir, env);
    const node: ClusterNode = {
      id,
      process,
      dataDir,
      env,
      api: processApi(process, appToken),
      connect: async (sub, role = 'user', namespace = '') => {
        const socket = connectClient(`${process.url}${namespace}`, {
          auth: { token: await token(sub, role) },
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
        });
        sockets.add(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        return socket;
      },
    };
    nodes[index] = node;
    return node;
  };

  try {
    // One after another: the first migrates the shared schema, the others find it done.
    for (let i = 0; i < options.nodes; i++) await startNode(i);
  } catch (err) {
    for (const node of nodes) await stop(node.process, 'SIGKILL');
    await redis.stop();
    await pg.stop();
    remove();
    throw err;
  }

  return {
    pg,
    redis,
    nodes,
    databaseUrl,
    startNode,
    async close() {
      for (const socket of sockets) socket.disconnect();
      await Promise.all(nodes.filter((node) => node.process.child.exitCode === null).map((node) => stop(node.process)));
      await redis.stop();
      await pg.stop();
      remove();
    },
  };
}
