/**
 * The webhook lanes on PostgreSQL while several nodes append: each conversation's lane counts the
 * events queued after its cursor, bumped by every append in the event's transaction, and moved on
 * by the dispatcher once a batch is delivered. Processes with the real store play the nodes of a
 * cluster appending to the same conversations (each holding its lane's row lock a few milliseconds
 * before it commits, some rolling back), while this process, with the dispatcher's lane reader and
 * settlement batch, delivers what is due on a connection of its own. No append may be lost: a lane
 * whose advance raced an append (the advance waits for the row lock, then counts `pending` again)
 * stays due, a lane is empty only when every event of it was consumed, and every event is consumed
 * once, in id order per conversation. Also the schema: migratePg leaves webhook_lanes and none of
 * webhook_heads' table, triggers and functions, and the upgrade from the previous version carries
 * its per-event outbox over to lanes.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/events/eventLog.js';
import { systemClock } from '../../src/lib/clock.js';
import { PG_SCHEMA_VERSION, migratePg } from '../../src/store/pg/pgMigrations.js';
import { PgDatabase } from '../../src/store/pg/pgDatabase.js';
import { Store } from '../../src/store/store.js';
import { LaneReader } from '../../src/webhooks/laneReader.js';
import { SettlementBatch } from '../../src/webhooks/settlements.js';
import { REPO } from '../support/process.js';
import { peerMissing } from '../support/requiredPeers.js';
import { postgresMissing, startPostgres, type Postgres } from '../support/postgres.js';

/** The schema version of the release before webhook lanes (PostgreSQL's migration 7 made them). */
const BEFORE_LANES = 6;

const missing = peerMissing(postgresMissing());
if (missing) console.log(`skipping the PostgreSQL webhook-lanes tests: ${missing}`);

/** What an appender process does: `rounds` times one event to each conversation, each in its own transaction. */
interface Plan {
  conversations: string[];
  rounds: number;
  /** How long each transaction holds its locks after the append (ms); negative: up to that, at random. */
  holdMs: number;
  /** Every n-th transaction takes its event id, bumps its lane, then rolls back (0: none). */
  rollbackEvery: number;
}

interface Outcome {
  committed: Record<string, number[]>;
  rolledBack: number;
}

const src = (path: string): string => JSON.stringify(pathToFileURL(join(REPO, 'src', path)).href);

/**
 * One node of the cluster: the real store on its own connection, its event log's append hook
 * bumping the lane as src/webhooks/webhooks.ts does. Prints `ready`, waits for a line on stdin,
 * prints `holding <conversation> <id>` inside each transaction (lane row locked), finally its
 * committed ids as JSON.
 */
const APPENDER_SOURCE = `
import { once } from 'node:events';
import { EventLog } from ${src('events/eventLog.js')};
import { systemClock } from ${src('lib/clock.js')};
import { Store } from ${src('store/store.js')};

const [url, worker, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);
class Refused extends Error {}
const store = Store.open('', { synchronous: 'normal', databaseUrl: url });
const log = new EventLog(store, systemClock, (err) => {
  throw err;
});
log.addAppendHook((event) => store.lanes.appended(event.conversation_id, event.id, Date.now()));
const hold = store.db.prepare('SELECT pg_sleep(?)');
process.stdout.write('ready\\n');
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');
const committed = {};
let rolledBack = 0;
let n = 0;
for (let round = 0; round < plan.rounds; round++) {
  for (let k = 0; k < plan.conversations.length; k++) {
    const conversationId = plan.conversations[(k + Number(worker)) % plan.conversations.length];
    try {
      const id = store.transaction(() => {
        const event = log.append({ conversation_id: conversationId, type: 'text', from: 'MEM-' + worker, body: { text: 'round ' + round } });
        process.stdout.write('holding ' + conversationId + ' ' + event.id + '\\n');
        hold.get((plan.holdMs < 0 ? Math.random() * -plan.holdMs : plan.holdMs) / 1000);
        if (plan.rollbackEvery > 0 && ++n % plan.rollbackEvery === 0) throw new Refused();
        return event.id;
      });
      (committed[conversationId] ??= []).push(id);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      rolledBack++;
    }
  }
}
store.close();
process.stdout.write(JSON.stringify({ committed, rolledBack }) + '\\n');
process.stdin.destroy();
`;

class Appender {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private readonly exited: Promise<number | null>;

  constructor(script: string, url: string, worker: number, plan: Plan) {
    this.child = spawn(process.execPath, ['--import', 'tsx', script, url, String(worker), JSON.stringify(plan)], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get stdout(): string {
    return this.out;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once its output includes `text`. */
  async printed(text: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!this.out.includes(text)) {
      if (!this.running) throw new Error(`appender exited before printing ${text}: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`appender did not print ${text}: ${this.out}${this.err}`);
      await sleep(5);
    }
  }

  go(): void {
    this.child.stdin.write('go\n');
  }

  async outcome(): Promise<Outcome> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`appender exited ${String(code)}: ${this.err}`);
    return JSON.parse(this.out.trim().split('\n').at(-1) ?? '') as Outcome;
  }
}

describe.skipIf(missing !== undefined)('webhook lanes on PostgreSQL with concurrent writers', () => {
  let dir: string;
  let pg: Postgres;
  let url: string;
  let store: Store;
  let log: EventLog;
  let script: string;
  let reader: LaneReader;
  let settlements: SettlementBatch;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-lanes-pg-'));
    pg = await startPostgres(dir, { durable: false });
    url = pg.createDatabase('lanes_test');
    store = Store.open('', { synchronous: 'normal', databaseUrl: url });
    log = new EventLog(store, systemClock, (err) => {
      throw err;
    });
    log.addAppendHook((event) => store.lanes.appended(event.conversation_id, event.id, Date.now()));
    // The dispatcher's side of the lanes, without the HTTP: what it reads is taken as delivered.
    const transaction = <T>(fn: () => T): T => store.transaction(fn);
    settlements = new SettlementBatch(store.lanes, store.outbox, transaction, Date.now);
    reader = new LaneReader({ lanes: store.lanes, outbox: store.outbox, events: store.events, wants: () => true, settlements, transaction, now: Date.now });
    script = join(dir, 'laneAppender.mts');
    writeFileSync(script, APPENDER_SOURCE);
  }, 60_000);

  afterAll(async () => {
    store.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const conversation = (id: string): void => store.conversations.insert({ id, name: id, properties: {}, created_at: new Date().toISOString() });
  const append = (id: string): number =>
    store.transaction(() => log.append({ conversation_id: id, type: 'text', from: 'MEM-here', body: { text: 'here' } }).id);
  const lane = (id: string) => store.lanes.get(id);
  const dueIds = (): string[] => store.lanes.due(Date.now(), 10_000).map((row) => row.conversation_id);
  /** Whether a backend other than this one is waiting for a lock. */
  const someoneWaits = (): boolean =>
    (store.db.prepare<[], number>("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()").pluck().get() ?? 0) > 0;

  /** One dispatcher pass over the due lanes of `prefix`: reads up to `batch` of each, takes them as delivered, writes the batch. */
  function deliverDue(prefix: string, consumed: Map<string, number[]>, batch: number): number {
    let n = 0;
    for (const row of store.lanes.due(Date.now(), 10_000)) {
      if (!row.conversation_id.startsWith(prefix)) continue;
      for (const delivery of reader.head(row, batch)) {
        consumed.set(delivery.conversation_id, [...(consumed.get(delivery.conversation_id) ?? []), delivery.event_id]);
        settlements.add({ kind: 'delivered', delivery });
        n++;
      }
    }
    settlements.write();
    return n;
  }

  it('migratePg leaves webhook_lanes and drops webhook_heads with its triggers and functions', () => {
    // A fresh database straight to the last version; the upgrade from the version before is the next test.
    const fresh = new PgDatabase(pg.createDatabase('lanes_migration'));
    try {
      migratePg(fresh);
      migratePg(fresh); // A second node starting finds the work done.
      expect(fresh.prepare('SELECT version FROM legway_schema').pluck().all()).toEqual([PG_SCHEMA_VERSION]);
      const regclass = (name: string): string | null | undefined => fresh.prepare<[string], string | null>('SELECT to_regclass(?)::text').pluck().get(name);
      expect(regclass('webhook_lanes')).toBe('webhook_lanes');
      expect(regclass('webhook_lanes_due')).toBe('webhook_lanes_due');
      expect(regclass('webhook_heads')).toBeNull();
      expect(fresh.prepare("SELECT tgname FROM pg_trigger WHERE tgrelid = 'webhook_outbox'::regclass AND NOT tgisinternal").pluck().all()).toEqual([]);
      expect(fresh.prepare("SELECT proname FROM pg_proc WHERE proname LIKE 'webhook_heads%'").pluck().all()).toEqual([]);
      const columns = fresh
        .prepare<[], string>("SELECT column_name FROM information_schema.columns WHERE table_name = 'webhook_lanes' ORDER BY ordinal_position")
        .pluck()
        .all();
      expect(columns).toEqual([
        'lane',
        'conversation_id',
        'delivered_id',
        'last_id',
        'pending',
        'replays',
        'attempts',
        'window_start',
        'next_attempt_at',
        'last_status',
        'last_error',
      ]);
    } finally {
      fresh.close();
    }
  });

  it('the upgrade carries a per-event outbox backlog over to lanes: pending entries become replays, parked ones stay parked', () => {
    const T0 = 1_700_000_000_000;
    const ISO = new Date(T0).toISOString();
    const upgradeUrl = pg.createDatabase('lanes_upgrade');
    // A database as the previous release left it, written as its code wrote it (its triggers keeping the heads).
    const db = new PgDatabase(upgradeUrl);
    let upgraded: Store | undefined;
    try {
      migratePg(db, BEFORE_LANES);
      expect(db.prepare('SELECT version FROM legway_schema').pluck().all()).toEqual([BEFORE_LANES]);
      const regclass = (name: string): string | null | undefined => db.prepare<[string], string | null>('SELECT to_regclass(?)::text').pluck().get(name);
      expect(regclass('webhook_heads')).toBe('webhook_heads');
      expect(regclass('webhook_lanes')).toBeNull();
      const triggers = (): string[] =>
        db.prepare<[], string>("SELECT tgname FROM pg_trigger WHERE tgrelid = 'webhook_outbox'::regclass AND NOT tgisinternal ORDER BY tgname").pluck().all();
      const functions = (): string[] =>
        db.prepare<[], string>("SELECT proname FROM pg_proc WHERE proname LIKE 'webhook_heads%' ORDER BY proname").pluck().all();
      expect(triggers()).toEqual(['webhook_heads_after_delete', 'webhook_heads_after_insert', 'webhook_heads_after_update']);
      expect(functions()).toEqual(['webhook_heads_on_delete', 'webhook_heads_on_insert', 'webhook_heads_on_update']);

      const conversation = db.prepare<[string, string, number, string]>(
        "INSERT INTO conversations (id, name, state, properties, last_event_id, created_at) VALUES (?, ?, 'active', '{}', ?, ?)",
      );
      const event = db.prepare<[string, number, string]>(
        "INSERT INTO events (conversation_id, id, type, from_id, timestamp, body) VALUES (?, ?, 'text', 'MEM-x', ?, '{}')",
      );
      const enqueue = db
        .prepare<[string, number, string, number, number, number], number>(
          'INSERT INTO webhook_outbox (conversation_id, event_id, payload, created_at, window_start, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq',
        )
        .pluck();
      const park = db.prepare<[number, number, number]>(
        "UPDATE webhook_outbox SET state = 'failed', attempts = ?, failed_at = ?, last_status = 400, last_error = 'HTTP 400' WHERE seq = ?",
      );
      const seqs = new Map<string, number>();
      const seq = (key: string): number => seqs.get(key) ?? Number.NaN;
      db.transaction(() => {
        // CON-a: five events; 1 delivered, 2 parked, 3 to 5 pending, its head 3 retried twice (due later than 4 and 5).
        conversation.run('CON-a', 'a', 5, ISO);
        for (let id = 1; id <= 5; id++) event.run('CON-a', id, ISO);
        for (let id = 2; id <= 5; id++) seqs.set(`CON-a#${id}`, Number(enqueue.get('CON-a', id, `{"id":${id}}`, T0 + id, T0 + id, T0 + id)));
        park.run(7, T0 + 20, seq('CON-a#2'));
        db.prepare<[number, number]>(
          "UPDATE webhook_outbox SET attempts = 2, next_attempt_at = ?, last_status = 503, last_error = 'HTTP 503' WHERE seq = ?",
        ).run(T0 + 50, seq('CON-a#3'));
        // CON-b: only a parked entry left. CON-c: events, everything delivered.
        conversation.run('CON-b', 'b', 2, ISO);
        for (let id = 1; id <= 2; id++) event.run('CON-b', id, ISO);
        seqs.set('CON-b#2', Number(enqueue.get('CON-b', 2, '{"id":2}', T0, T0, T0)));
        park.run(0, T0 + 30, seq('CON-b#2'));
        conversation.run('CON-c', 'c', 1, ISO);
        event.run('CON-c', 1, ISO);
      })();
      // The triggers kept the heads: CON-a's is its first pending entry, due when its retry is; CON-b has none.
      expect(db.prepare('SELECT conversation_id, seq, next_attempt_at FROM webhook_heads').all()).toEqual([
        { conversation_id: 'CON-a', seq: seq('CON-a#3'), next_attempt_at: T0 + 50 },
      ]);

      migratePg(db);
      expect(db.prepare('SELECT version FROM legway_schema').pluck().all()).toEqual([PG_SCHEMA_VERSION]);
      expect(regclass('webhook_heads')).toBeNull();
      expect(regclass('webhook_lanes')).toBe('webhook_lanes');
      expect(triggers()).toEqual([]);
      expect(functions()).toEqual([]);
      db.close();

      const store = (upgraded = Store.open('', { synchronous: 'normal', databaseUrl: upgradeUrl }));
      // CON-a: the cursor at its last event, its three pending entries replays, due when the earliest of them was.
      expect(store.lanes.get('CON-a')).toMatchObject({
        delivered_id: 5,
        last_id: 5,
        pending: 0,
        replays: 3,
        attempts: 0,
        window_start: T0 + 3,
        next_attempt_at: T0 + 4,
      });
      expect(store.lanes.get('CON-b')).toMatchObject({ delivered_id: 2, last_id: 2, pending: 0, replays: 0, next_attempt_at: null });
      expect(store.lanes.get('CON-c')).toBeUndefined();
      expect(store.lanes.due(T0 + 3, 10)).toEqual([]);
      expect(store.lanes.due(T0 + 100, 10).map((l) => l.conversation_id)).toEqual(['CON-a']);
      expect(store.lanes.pending()).toBe(3);

      expect(store.outbox.replays('CON-a', 10).map((r) => [r.seq, r.event_id, r.state, r.attempts])).toEqual([
        [seq('CON-a#3'), 3, 'pending', 2],
        [seq('CON-a#4'), 4, 'pending', 0],
        [seq('CON-a#5'), 5, 'pending', 0],
      ]);
      expect(store.outbox.replays('CON-b', 10)).toEqual([]);
      expect(store.outbox.failedCount()).toBe(2);
      expect(store.outbox.failed(0, 10).map((r) => [r.seq, r.conversation_id, r.event_id, r.attempts])).toEqual([
        [seq('CON-a#2'), 'CON-a', 2, 7],
        [seq('CON-b#2'), 'CON-b', 2, 0],
      ]);

      // The upgraded lane goes on: CON-a's next event queues after its cursor, behind its replays.
      store.transaction(() => {
        const id = store.events.nextId('CON-a');
        expect(id).toBe(6);
        store.events.insert({ id, type: 'text', from: 'MEM-x', timestamp: ISO, body: {}, conversation_id: 'CON-a' });
        store.lanes.appended('CON-a', id, T0 + 200);
      });
      expect(store.lanes.get('CON-a')).toMatchObject({ delivered_id: 5, last_id: 6, pending: 1, replays: 3, next_attempt_at: T0 + 4 });
      expect(store.outbox.replays('CON-a', 10).map((r) => r.event_id)).toEqual([3, 4, 5]);
      expect(store.lanes.pending()).toBe(4);
    } finally {
      upgraded?.close();
      db.close();
    }
  });

  it('an append committed while an advance waits for its lane: the advance counts it, and the lane stays due', async () => {
    const id = 'CON-race-append-first';
    conversation(id);
    append(id);
    append(id);
    expect(lane(id)).toMatchObject({ delivered_id: 0, last_id: 2, pending: 2 });

    // Another node appends event 3; its transaction holds the lane's row for a second.
    const other = new Appender(script, url, 1, { conversations: [id], rounds: 1, holdMs: 1000, rollbackEvery: 0 });
    await other.printed('ready\n');
    other.go();
    await other.printed(`holding ${id} 3\n`);

    // The dispatcher advances over what it read, 1 and 2: it waits for that lock, then sees event 3's count.
    const started = Date.now();
    store.transaction(() => store.lanes.advance({ conversation_id: id, through: 2, events: 2, replays: 0 }, Date.now()));
    expect(Date.now() - started).toBeGreaterThan(300);
    expect((await other.outcome()).committed).toEqual({ [id]: [3] });

    expect(lane(id)).toMatchObject({ delivered_id: 2, last_id: 3, pending: 1, next_attempt_at: expect.any(Number) as number });
    expect(dueIds()).toContain(id);
    const consumed = new Map<string, number[]>();
    expect(deliverDue(id, consumed, 10)).toBe(1);
    expect(consumed.get(id)).toEqual([3]);
    expect(lane(id)).toMatchObject({ delivered_id: 3, last_id: 3, pending: 0, next_attempt_at: null });
    expect(dueIds()).not.toContain(id);
  }, 30_000);

  it('an append waiting while an advance empties its lane: the lane is due again, from the next event', async () => {
    const id = 'CON-race-advance-first';
    conversation(id);
    append(id);
    const other = new Appender(script, url, 2, { conversations: [id], rounds: 1, holdMs: 0, rollbackEvery: 0 });
    await other.printed('ready\n');

    store.db.exec('BEGIN');
    try {
      store.lanes.advance({ conversation_id: id, through: 1, events: 1, replays: 0 }, Date.now());
      other.go();
      const deadline = Date.now() + 20_000;
      while (!someoneWaits()) {
        if (!other.running || Date.now() > deadline) throw new Error(`the append did not wait for the lane: ${other.stdout}`);
        await sleep(10);
      }
      store.db.exec('COMMIT');
    } catch (err) {
      store.db.exec('ROLLBACK');
      throw err;
    }
    expect((await other.outcome()).committed).toEqual({ [id]: [2] });

    expect(lane(id)).toMatchObject({ delivered_id: 1, last_id: 2, pending: 1, attempts: 0, next_attempt_at: expect.any(Number) as number });
    const consumed = new Map<string, number[]>();
    expect(deliverDue(id, consumed, 10)).toBe(1);
    expect(consumed.get(id)).toEqual([2]);
    expect(lane(id)).toMatchObject({ delivered_id: 2, last_id: 2, pending: 0, next_attempt_at: null });
  }, 30_000);

  it('several nodes append to the same conversations while lanes are delivered: no append is lost, each event consumed once in order', async () => {
    const WORKERS = 4;
    const CONVERSATIONS = 5;
    const ROUNDS = 20;
    const prefix = 'CON-stress-';
    const ids = Array.from({ length: CONVERSATIONS }, (_, i) => `${prefix}${i}`);
    for (const id of ids) conversation(id);

    const appenders = Array.from(
      { length: WORKERS },
      (_, worker) => new Appender(script, url, worker, { conversations: ids, rounds: ROUNDS, holdMs: -4, rollbackEvery: 7 }),
    );
    await Promise.all(appenders.map((a) => a.printed('ready\n')));
    for (const a of appenders) a.go();

    // In every snapshot, a lane's last id is its conversation's last committed event, it counts
    // exactly the committed events after its cursor, and it is due exactly when there are some.
    const check = store.db.prepare<[string], { conversation_id: string; last_id: number; pending: number; last: number; behind: number; due: number }>(
      `SELECT l.conversation_id, l.last_id, l.pending,
         (SELECT COALESCE(MAX(e.id), 0) FROM events e WHERE e.conversation_id = l.conversation_id) AS last,
         (SELECT COUNT(*) FROM events e WHERE e.conversation_id = l.conversation_id AND e.id > l.delivered_id) AS behind,
         CASE WHEN l.next_attempt_at IS NULL THEN 0 ELSE 1 END AS due
       FROM webhook_lanes l WHERE l.conversation_id LIKE ? || '%'`,
    );
    const violations: unknown[] = [];
    const consumed = new Map<string, number[]>();
    let passes = 0;
    let slowWrites = 0;
    const busy = (): boolean => appenders.some((a) => a.running);
    for (;;) {
      const appending = busy();
      const started = Date.now();
      const delivered = deliverDue(prefix, consumed, 1 + (passes % 4));
      if (Date.now() - started > 5) slowWrites++;
      passes++;
      for (const row of check.all(prefix)) {
        if (row.last_id !== row.last || row.pending !== row.behind || row.due !== (row.behind > 0 ? 1 : 0)) violations.push(row);
      }
      if (!appending && delivered === 0) break;
      await sleep(passes % 3);
    }
    const outcomes = await Promise.all(appenders.map((a) => a.outcome()));
    expect(violations).toEqual([]);
    console.log(`lanes stress: ${passes} dispatcher passes, ${slowWrites} waited over 5 ms`);

    const rolledBack = outcomes.reduce((n, o) => n + o.rolledBack, 0);
    expect(rolledBack).toBeGreaterThan(0);
    let total = 0;
    for (const id of ids) {
      const committed = outcomes.flatMap((o) => o.committed[id] ?? []).sort((a, b) => a - b);
      total += committed.length;
      const n = committed.length;
      expect(committed).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(consumed.get(id), id).toEqual(committed);
      expect(lane(id)).toMatchObject({ delivered_id: n, last_id: n, pending: 0, replays: 0, next_attempt_at: null });
    }
    expect(total + rolledBack).toBe(WORKERS * CONVERSATIONS * ROUNDS);
    expect(dueIds().filter((id) => id.startsWith(prefix))).toEqual([]);
    expect(store.lanes.pending()).toBe(0);
  }, 120_000);
});
