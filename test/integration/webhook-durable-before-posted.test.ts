import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/domain/model.js';
import { Metrics } from '../../src/observability/metrics.js';
import { createLogger } from '../../src/observability/logger.js';
import { EventsRepo } from '../../src/store/eventsRepo.js';
import { LanesRepo } from '../../src/store/lanesRepo.js';
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

  it('posts an event only once its commit is announced durable, whether it heads its lane or waits behind another', async () => {
    const url = await receiver.start();
    const lanes = new LanesRepo(db);
    const events = new EventsRepo(db, 'sqlite');
    dispatcher = new WebhookDispatcher({
      url,
      lanes,
      outbox: new OutboxRepo(db, 'sqlite'),
      events,
      wants: () => true,
      transaction: (fn) => db.transaction(fn)(),
      signing: { secret: 'dispatcher-test-secret-long-enough-for-hs256', applicationId: 'app' },
      config: { allEvents: false, timeoutMs: 5000, retryBaseMs: 1000, retryMaxMs: 10_000, giveUpAfterMs: 60_000, concurrency: 4 },
      metrics: new Metrics(),
      logger: createLogger('silent'),
    });
    dispatcher.start();
    const now = Date.now();
    const insertConversation = db.prepare("INSERT INTO conversations (id, name, state, created_at) VALUES (?, ?, 'active', ?)");
    for (const id of ['CON-a', 'CON-b']) insertConversation.run(id, id, new Date(now).toISOString());
    // Appended in this order, as the event log's hook does; as with group commit, the connection sees them before they are on disk.
    const append = (conversation: string, id: number): void => {
      events.insert(event(conversation, id));
      lanes.appended(conversation, id, now);
      dispatcher!.appending(conversation, id);
    };
    append('CON-b', 1);
    append('CON-a', 1);
    append('CON-b', 2);
    // Every lane is due and a read finds them: only what is announced durable may go out.
    dispatcher.poke();

    dispatcher.enqueued('CON-b', 1, now);
    await receiver.until(() => receiver.accepted().length === 1);
    // Once CON-b#1 is settled, the dispatcher has looked for what comes next and found nothing durable.
    while (dispatcher.queueDepth().pending > 2) await nextTurn();
    expect(dispatcher.inFlightCount).toBe(0);
    expect(receiver.requests.map(key)).toEqual(['CON-b#1']);

    dispatcher.enqueued('CON-a', 1, now);
    dispatcher.enqueued('CON-b', 2, now);
    await receiver.until(() => receiver.accepted().length === 3);

    expect(receiver.accepted().map(key).sort()).toEqual(['CON-a#1', 'CON-b#1', 'CON-b#2']);
    expect(receiver.requests).toHaveLength(3);
  });
});
