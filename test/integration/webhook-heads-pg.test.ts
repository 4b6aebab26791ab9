/**
 * The webhook queue's heads on PostgreSQL while other nodes append: the head of a conversation's
 * queue (the entry the dispatcher may send next) must be its lowest pending entry, whatever commits
 * in between. Two psql sessions against a real PostgreSQL 15 play two nodes: one appends an event to
 * a conversation (its transaction still open) while the other takes the conversation's head off the
 * queue (delivered, or parked after its last attempt). A later entry must never become the head
 * while an earlier one is pending: the receiver would get the conversation's events out of order,
 * and the skipped one would wait until the queue next emptied.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import { migratePg } from '../../src/store/pg/pgMigrations.js';
import { peerMissing } from '../support/requiredPeers.js';
import { postgresMissing, startPostgres, type Postgres } from '../support/postgres.js';

const missing = peerMissing(postgresMissing());
if (missing) console.log(`skipping the PostgreSQL webhook-heads tests: ${missing}`);

const PSQL = '/usr/lib/postgresql/15/bin/psql';

/** A psql session fed on stdin; `run` sends SQL and resolves once psql has got that far. */
class PsqlSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  private marks = 0;
  readonly exited: Promise<number | null>;

  constructor(url: string) {
    this.child = spawn(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Sends `sql`; the promise resolves when psql has run it (it may block on a lock first). */
  async run(sql: string): Promise<void> {
    const mark = `mark-${++this.marks}`;
    this.child.stdin.write(`${sql}\n\\echo ${mark}\n`);
    for (;;) {
      if (this.out.includes(mark)) return;
      if (this.child.exitCode !== null) throw new Error(`psql ended: ${this.out}`);
      await sleep(10);
    }
  }

  async end(): Promise<string> {
    this.child.stdin.end('\\q\n');
    const code = await this.exited;
    if (code !== 0) throw new Error(`psql exited ${String(code)}: ${this.out}`);
    return this.out;
  }
}

describe.skipIf(missing !== undefined)('webhook queue heads on PostgreSQL with concurrent writers', () => {
  let dir: string;
  let pg: Postgres;
  let url: string;
  let db: PgDatabase;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-heads-pg-'));
    pg = await startPostgres(dir, { durable: false });
    url = pg.createDatabase('heads_test');
    db = new PgDatabase(url);
    migratePg(db);
  }, 60_000);

  afterAll(async () => {
    db.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let conversations = 0;
  /** A conversation with one pending outbox entry (event 1); returns its id and that entry's seq. */
  function conversationWithOneQueued(): { id: string; first: number } {
    const id = `CON-heads-${++conversations}`;
    db.prepare("INSERT INTO conversations (id, name, state, created_at, last_event_id) VALUES (?, ?, 'active', '2026-12-05T00:00:00Z', 1)").run(id, id);
    const first = db
      .prepare<[string], number>(
        "INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, 1, '{}', 0, 0, 0) RETURNING seq",
      )
      .pluck()
      .get(id) as number;
    return { id, first };
  }

  const headOf = (id: string): number | undefined => db.prepare<[string], number>('SELECT seq FROM webhook_heads WHERE conversation_id = ?').pluck().get(id);
  const pendingOf = (id: string): number[] =>
    db.prepare<[string], number>("SELECT seq FROM webhook_outbox WHERE conversation_id = ? AND state = 'pending' ORDER BY seq").pluck().all(id);

  /** Whether a backend other than this one is waiting for a lock. */
  const someoneWaits = (): boolean =>
    (db.prepare<[], number>("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()").pluck().get() ?? 0) > 0;

  const takeOff = {
    delivered: (seq: number) => `DELETE FROM webhook_outbox WHERE seq = ${seq};`,
    parked: (seq: number) => `UPDATE webhook_outbox SET state = 'failed', failed_at = 1, attempts = 5 WHERE seq = ${seq};`,
  };

  for (const [how, sql] of Object.entries(takeOff)) {
    it(`a head ${how} while another node appends to its conversation: the appended entry is the next head, never a later one`, async () => {
      const { id, first } = conversationWithOneQueued();
      expect(headOf(id)).toBe(first);

      // Node A appends event 2 as legway does: the id from the conversation row, then the outbox entry; not committed yet.
      const appender = new PsqlSession(url);
      await appender.run('BEGIN;');
      await appender.run(`UPDATE conversations SET last_event_id = last_event_id + 1 WHERE id = '${id}';`);
      await appender.run(
        `INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES ('${id}', 2, '{}', 0, 0, 0);`,
      );

      // Node B takes event 1 off the queue meanwhile; it may wait for A (it must not decide the head without A's entry).
      const dispatcher = new PsqlSession(url);
      const takenOff = dispatcher.run(sql(first));
      const progress = { done: false };
      void takenOff.then(() => (progress.done = true));
      while (!progress.done && !someoneWaits()) await sleep(10);

      await appender.run('COMMIT;');
      await appender.end();
      await takenOff;
      await dispatcher.end();

      const pending = pendingOf(id);
      expect(pending).toHaveLength(1);
      expect(headOf(id)).toBe(pending[0]);

      // Event 3 arrives later: event 2 stays the head.
      db.prepare("INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, 3, '{}', 0, 0, 0)").run(
        id,
      );
      expect(headOf(id)).toBe(pending[0]);
    });
  }
});
