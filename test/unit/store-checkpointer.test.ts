/**
 * With synchronous=full and group commit, checkpoints leave the main thread: the main connection's
 * automatic checkpoint is off, and a worker thread copies the WAL back into the database file, so
 * the WAL is reused instead of growing with everything ever written.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import { Store } from '../../src/store/store.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('checkpoints in a worker thread', () => {
  let dir: string;
  let store: Store;
  const warnings: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-checkpoint-'));
    store = Store.open(dir, { synchronous: 'full', commitWindowMs: 0, onWarning: (m) => warnings.push(m) });
    store.conversations.insert({ id: 'CON-cp', name: 'cp', properties: {}, created_at: new Date().toISOString() });
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the main connection never checkpoints, and the WAL stays far smaller than what was written', async () => {
    expect(store.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const log = new EventLog(store, systemClock, () => undefined);
    const text = 'x'.repeat(1000);
    const rounds = 8;
    const perRound = 1000;
    const walSize = (): number => statSync(join(dir, 'legway.sqlite-wal')).size;
    let firstRound = 0;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < perRound; i++) log.append({ conversation_id: 'CON-cp', type: 'text', from: 'MEM-1', body: { text } });
      await store.durable();
      if (round === 0) firstRound = walSize();
      // Long enough for the worker's timer (every second) to copy the WAL back.
      await sleep(1200);
    }
    // Without checkpoints the WAL would hold all 8 rounds; the worker may take a round or two to start.
    expect(walSize(), `WAL after ${rounds} rounds of ${firstRound} bytes each`).toBeLessThan(4 * firstRound);
    expect(store.events.list({ conversationId: 'CON-cp', order: 'desc', size: 1 }).items[0]?.id).toBe(rounds * perRound);
    expect(warnings).toEqual([]);
  });
});
