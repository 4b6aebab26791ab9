import { join } from 'node:path';
import { ConversationsRepo } from './conversationsRepo.js';
import { EventsRepo } from './eventsRepo.js';
import { LegsRepo } from './legsRepo.js';
import { MembersRepo } from './membersRepo.js';
import { OutboxRepo } from './outboxRepo.js';
import { RecordingsRepo } from './recordingsRepo.js';
import { openDatabase, type OpenOptions, type SqliteDb } from './sqlite.js';
import { UsersRepo } from './usersRepo.js';

export interface StoreOptions {
  /**
   * Group commit: the transactions of one event-loop turn (or of this many milliseconds, at most 2)
   * share one SQLite transaction and so one fsync. `undefined` commits every transaction on its own.
   */
  commitWindowMs?: number | undefined;
  /** A group commit failed (disk full, I/O error): what it held is lost and was never announced. */
  onCommitFailure?: (err: unknown) => void;
}

/**
 * The embedded store: one SQLite file, its repositories, and transactions with after-commit
 * callbacks (so that what a transaction announces is announced only once it is durable).
 *
 * With group commit on, the first transaction of a turn opens one SQLite transaction that the
 * turn's other transactions join as savepoints (each still all-or-nothing); it commits, with one
 * fsync, when the turn ends. Only then do the after-commit callbacks run and `durable()` resolve,
 * so nothing is announced or acknowledged before it is on disk. Ids stay gap-free: a lost group is
 * the tail of the log, never a hole in it.
 */
export class Store {
  readonly conversations: ConversationsRepo;
  readonly users: UsersRepo;
  readonly members: MembersRepo;
  readonly events: EventsRepo;
  readonly outbox: OutboxRepo;
  readonly legs: LegsRepo;
  readonly recordings: RecordingsRepo;
  private depth = 0;
  private pending: (() => void)[] = [];
  private closed = false;
  /** Whether a group's SQLite transaction is open (group commit only). */
  private groupOpen = false;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly commitGroup = (): void => this.flush();
  private groups = 0;
  /** One transaction wrapper for every call: better-sqlite3 builds a costly one per `db.transaction(fn)`. */
  private readonly runTransaction: <T>(fn: () => T) => T;

  constructor(
    readonly db: SqliteDb,
    private readonly options: StoreOptions = {},
  ) {
    this.conversations = new ConversationsRepo(db);
    this.users = new UsersRepo(db);
    this.members = new MembersRepo(db);
    this.events = new EventsRepo(db);
    this.outbox = new OutboxRepo(db);
    this.legs = new LegsRepo(db);
    this.recordings = new RecordingsRepo(db);
    const wrapper = db.transaction((fn: () => unknown) => fn());
    this.runTransaction = <T>(fn: () => T): T => wrapper(fn) as T;
  }

  /** Opens `<dataDir>/legway.sqlite`. */
  static open(dataDir: string, options: OpenOptions & StoreOptions): Store {
    return new Store(openDatabase(join(dataDir, 'legway.sqlite'), options), options);
  }

  /**
   * Runs `fn` in a transaction (a savepoint when nested or inside a group). Callbacks queued with
   * `afterCommit` run once the outermost transaction (or the group holding it) has committed, and
   * are dropped with a rollback.
   */
  transaction<T>(fn: () => T): T {
    if (this.depth === 0) this.openGroup();
    const mark = this.pending.length;
    this.depth++;
    let result: T;
    try {
      result = this.runTransaction(fn);
    } catch (err) {
      this.pending.length = mark;
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && !this.groupOpen) this.runPending();
    return result;
  }

  /** Queues `cb` for after the current transaction or group commits (runs at once when none is open). */
  afterCommit(cb: () => void): void {
    if (this.depth === 0 && !this.groupOpen) cb();
    else this.pending.push(cb);
  }

  /**
   * Resolves once everything written so far is durable (its group committed and fsynced), after the
   * group's after-commit callbacks ran; rejects if that commit failed. Answer a request only then.
   */
  durable(): Promise<void> {
    if (!this.groupOpen) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Commits the open group now (no-op without one). */
  flush(): void {
    if (!this.groupOpen) return;
    this.groupOpen = false;
    const waiters = this.waiters;
    this.waiters = [];
    try {
      this.db.exec('COMMIT');
      this.groups++;
    } catch (err) {
      // SQLite may already have rolled back; make sure, and forget what the group announced.
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } finally {
        this.pending = [];
        for (const w of waiters) w.reject(err);
        this.options.onCommitFailure?.(err);
      }
      return;
    }
    try {
      this.runPending();
    } finally {
      for (const w of waiters) w.resolve();
    }
  }

  /** Group commits made so far (each one transaction and one fsync), for metrics and benchmarks. */
  get groupCommits(): number {
    return this.groups;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** Liveness probe of the database for /readyz. */
  ping(): boolean {
    if (this.closed) return false;
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private openGroup(): void {
    const window = this.options.commitWindowMs;
    if (window === undefined || this.groupOpen || this.closed) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.groupOpen = true;
    if (window > 0) setTimeout(this.commitGroup, window);
    else setImmediate(this.commitGroup);
  }

  private runPending(): void {
    const callbacks = this.pending;
    this.pending = [];
    for (const cb of callbacks) cb();
  }
}
