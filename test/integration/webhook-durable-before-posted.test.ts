import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/domain/model.js';
import { Metrics } from '../../src/observability/metrics.js';
import { createLogger } from '../../src/observability/logger.js';
import { OutboxRepo } from '../../src/store/outboxRepo.js';
import { openDatabase, type SqliteDb } from '../../src/store/sqlite.js';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js';
import { WebhookReceiver, type Received } from '../support/receiver.js';

const key = (r: Received): string => `${r.event.conversation_id}#${r.event.id}`;

function event(conversation: string, id: number): ConversationEvent {
  return { id, type: 'text', from: 'MEM-x', timestamp: new Date().toISOString(), body: { text: `${conversation} ${id}` }, conversation_id: conversation };
}

describe('webhook dispatcher and the durability of what it posts', () => {
  const receiver = new WebhookReceiver();
  let dir: string;
  let db: SqliteDb;
  let dispatcher: WebhookDispatcher | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-dispatcher-'));
    db = openDatabase(join(dir, 'legway.sqlite'), { synchronous: 'normal' });
  });

  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await receiver.close();
    receiver.requests.length = 0;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts an entry only once its commit is announced durable, whether it heads its queue or waits behind another', async () => {
    const url = await receiver.start();
    const outbox = new OutboxRepo(db, 'sqlite');
    dispatcher = new WebhookDispatcher({
      url,
      outbox,
      transaction: (fn) => db.transaction(fn)(),
      signing: { secret: 'dispatcher-test-secret-long-enough-for-hs256', applicationId: 'app' },
      config: { allEvents: false, timeoutMs: 5000, retryBaseMs: 1000, retryMaxMs: 10_000, giveUpAfterMs: 60_000, concurrency: 4 },
      metrics: new Metrics(),
      logger: createLogger('silent'),
    });
    dispatcher.start();
    const now = Date.now();
    // Written in this order; as with group commit, the connection sees them before they are on disk.
    const b1 = outbox.enqueue(event('CON-b', 1), now);
    const a1 = outbox.enqueue(event('CON-a', 1), now);
    const b2 = outbox.enqueue(event('CON-b', 2), now);

    dispatcher.enqueued('CON-b', b1, now);
    await receiver.until(() => receiver.accepted().length === 1);
    // Once CON-b#1 is settled, the dispatcher has looked for what comes next and found nothing durable.
    while (dispatcher.queueDepth().pending > 2) await nextTurn();
    expect(dispatcher.inFlightCount).toBe(0);
    expect(receiver.requests.map(key)).toEqual(['CON-b#1']);

    dispatcher.enqueued('CON-a', a1, now);
    dispatcher.enqueued('CON-b', b2, now);
    await receiver.until(() => receiver.accepted().length === 3);

    expect(receiver.accepted().map(key).sort()).toEqual(['CON-a#1', 'CON-b#1', 'CON-b#2']);
    expect(receiver.requests).toHaveLength(3);
  });
});
