import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { processApi, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { WebhookReceiver, type Received } from '../support/receiver.js';
import { connectStoreOf } from '../support/testDatabases.js';

const SECRET = 'webhook-no-resend-secret-long-enough-for-hs256';

const key = (r: Received): string => `${r.event.conversation_id}#${r.event.id}`;

/**
 * Waits until the gateway has committed the delivery of everything, read by a connection of our own:
 * every conversation's lane has its cursor at its last event with nothing due, and no replayed or
 * parked delivery waits in the outbox.
 */
async function deliveriesCommitted(dataDir: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const db = connectStoreOf(dataDir);
  try {
    const open = db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM webhook_lanes WHERE delivered_id < last_id OR pending > 0 OR replays > 0 OR next_attempt_at IS NOT NULL)
              + (SELECT COUNT(*) FROM webhook_outbox) AS n`,
      )
      .pluck();
    while ((open.get() as number) > 0) {
      if (Date.now() > deadline) throw new Error('deliveries are still open in the store');
      await sleep(20);
    }
  } finally {
    db.close();
  }
}

describe('webhook deliveries across kill -9', () => {
  const receiver = new WebhookReceiver();
  let dir: string;
  const running: RunningGateway[] = [];

  afterEach(async () => {
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('does not send again what was delivered and recorded before the kill', async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-webhook-'));
    const url = await receiver.start();
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_EVENT_URL: url };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);
    const api = processApi(first, token);

    const conversations: { cid: string; mid: string }[] = [];
    for (const name of ['north', 'south', 'east']) {
      const cid = (await api('POST', '/v1/conversations', { name })).body.id as string;
      const mid = (await api('POST', `/v1/conversations/${cid}/members`, { user: { name: `${name}-u` }, state: 'joined' })).body.id as string;
      conversations.push({ cid, mid });
    }
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const { cid, mid } of conversations) {
        const res = await api('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: mid, body: { text: `m${i}` } });
        sent.push(`${cid}#${res.body.id}`);
      }
    }
    await receiver.until(() => receiver.accepted().length === sent.length);
    await deliveriesCommitted(join(dir, 'data'));
    await stop(first, 'SIGKILL');

    const second = await spawnGateway(dir, env);
    running.push(second);
    const { cid, mid } = conversations[0]!;
    const marker = await processApi(second, token)('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: mid, body: { text: 'after' } });
    await receiver.until(() => receiver.accepted().some((r) => r.event.conversation_id === cid && r.event.id === marker.body.id));

    // Everything before the kill arrived exactly once; after the restart, only the new event did.
    const keys = receiver.accepted().map(key);
    expect(keys).toEqual([...new Set(keys)]);
    expect(keys.slice(0, sent.length).sort()).toEqual([...sent].sort());
    expect(keys.slice(sent.length)).toEqual([`${cid}#${marker.body.id}`]);
  });
});
