import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Logger } from 'pino';
import { createClient, type RedisClientType } from 'redis';

/** socket.io's `adapter` option: builds each namespace's adapter. */
export type AdapterFactory = ReturnType<typeof createAdapter>;

/** Messages kept in the stream for nodes that lost Redis a while (approximate trimming); a longer gap is filled from the store. */
const STREAM_MAX_LEN = 100_000;

/** A node's connection to the cluster's Redis and the socket.io adapter that rides on it. */
export interface RedisLink {
  readonly adapter: AdapterFactory;
  /** The connection, for the node bus (which opens its own subscriber beside it). */
  readonly client: RedisClientType;
  close(): Promise<void>;
}

/**
 * Connects to `LEGWAY_REDIS_URL` and builds socket.io's Redis streams adapter on it: broadcasts and
 * server-side messages reach every node through one Redis stream, which a node that lost Redis for
 * a moment reads on from where it stopped (the pub/sub adapter would drop what was sent meanwhile).
 * The client reconnects by itself; errors are logged without the URL, which may hold a password.
 */
export async function connectRedis(url: string, logger: Logger): Promise<RedisLink> {
  const client = createClient({ url });
  let down = false;
  client.on('error', (err: unknown) => {
    if (down) return;
    down = true;
    logger.error({ err: err instanceof Error ? { message: err.message } : undefined }, 'redis unreachable; retrying');
  });
  client.on('ready', () => {
    if (down) logger.info('redis reachable again');
    down = false;
  });
  await client.connect();
  return {
    client: client,
    // A short block so that a stopping node's stream reader lets go within a second.
    adapter: createAdapter(client, { streamName: 'legway:socket.io', maxLen: STREAM_MAX_LEN, blockTimeInMs: 1000 }),
    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
