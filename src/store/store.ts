import { join } from 'node:path';
import { ConversationsRepo } from './conversationsRepo.js';
import { EventsRepo } from './eventsRepo.js';
import { LegsRepo } from './legsRepo.js';
import { MembersRepo } from './membersRepo.js';
import { NodesRepo } from './nodesRepo.js';
import { OwnersRepo } from './ownersRepo.js';
import { OutboxRepo } from './outboxRepo.js';
import { LanesRepo } from './lanesRepo.js';
import { RecordingsRepo } from './recordingsRepo.js';
import { RevokedTokensRepo } from './revokedTokensRepo.js';
import Database from 'better-sqlite3';
import { openDatabase, type OpenOptions, type SqliteDb } from './sqlite.js';
import type { Dialect, SqlDb } from './sqlDb.js';
import { UsersRepo } from './usersRepo.js';
import { Checkpointer } from './checkpointer.js';
import { GroupCommit, NO_COMMITS, type CommitObserver, type CommitStats } from './groupCommit.js';
import { PgDatabase } from './pg/pgDatabase.js';
import { migratePg } from './pg/pgMigrations.js';

/** How often the checkpoint worker copies the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 1000;

export interface StoreOptions {
  /** The node this store's legs and recordings run on (`LEGWAY_NODE_ID`); `local` by default. */
  nodeId?: string | undefined;
  /**
   * Group commit: the transactions of one event-loop turn (or of this many milliseconds, at most 2)
   * share one SQLite transaction and so one fsync. `undefined` commits every transaction on its own.
   */
  commitWindowMs?: number | undefined;
  /**
   * With group commit and `synchronous: full`: under load (commits closer together than this on
   * average), WAL syncs start at most once per this many ms and the groups in between share one.
   */
  syncSpacingMs?: number | undefined;
  /** A group commit failed (disk full, I/O error): what it held is lost and was never announced. */
  onCommitFailure?: (err: unknown) => void;
  /** Something worth a warning that needs no action (checkpoints back on the main thread). */
  onWarning?: (message: string) => void;
  /** Told how long each group commit and each WAL sync took (SQLite with group commit only). */
  commitObserver?: CommitObserver | undefined;
  /**
   * A `postgres://` URL (LEGWAY_DATABASE_URL): the store lives in that PostgreSQL database instead of
   * the data folder's SQLite file. `synchronous`, `commitWindowMs` and `syncSpacingMs` are SQLite's and do not apply.
   */
  databaseUrl?: string | undefined;
}

/**
 * The store: its repositories over one connection, and transactions with after-commit callbacks
 * (so that what a transaction announces is announced only once it is durable). The connection is
 * the data folder's SQLite file by default, or a PostgreSQL database (LEGWAY_DATABASE_URL).
 *
 * SQLite: with group commit on (groupCommit.ts), the transactions of one event-loop turn share one
 * SQLite transaction and one sync; the after-commit callbacks run and `durable()` resolves only once
 * it is on disk, so nothing is announced or acknowledged before that. Ids stay gap-free: a lost
 * group is the tail of the log, never a hole in it.
 *
 * PostgreSQL: no group commit. Each outermost transaction commits by itself, and PostgreSQL's
 * COMMIT returns once the commit is durable, so its callbacks run right after it, `durable()`
 * resolves at once and `allDurable` is always true. Event ids come from the conversation row,
 * locked until commit (eventIds.ts), so nodes sharing the database append without gaps.
 */
export class Store {
  readonly conversations: ConversationsRepo;
  readonly users: UsersRepo;
  readonly members: MembersRepo;
  readonly events: EventsRepo;
  readonly outbox: OutboxRepo;
  readonly lanes: LanesRepo;
  readonly legs: LegsRepo;
  readonly recordings: RecordingsRepo;
  readonly revokedTokens: RevokedTokensRepo;
  readonly nodes: NodesRepo;
  readonly owners: OwnersRepo;
  private depth = 0;
  /** Callbacks of the transaction in progress when no group commit collects them. */
  private pending: (() => void)[] = [];
  private closed = false;
  private readonly group: GroupCommit | undefined;
  private checkpointer: Checkpointer | undefined;
  /** The SQL the connection speaks. */
  readonly dialect: Dialect;
  /** One transaction wrapper for every call: better-sqlite3 builds a costly one per `db.transaction(fn)`. */
  private readonly runTransaction: <T>(fn: () => T) => T;

  constructor(
    readonly db: SqlDb,
    options: StoreOptions & { walFile?: string | undefined; dialect?: Dialect } = {},
  ) {
    const dialect = (this.dialect = options.dialect ?? 'sqlite');
    this.conversations = new ConversationsRepo(db, dialect);
    this.users = new UsersRepo(db);
    this.members = new MembersRepo(db, dialect);
    this.events = new EventsRepo(db, dialect);
    this.outbox = new OutboxRepo(db, dialect);
    this.lanes = new LanesRepo(db);
    this.legs = new LegsRepo(db, options.nodeId ?? 'local');
    this.recordings = new RecordingsRepo(db, options.nodeId ?? 'local');
    this.nodes = new NodesRepo(db);
    this.owners = new OwnersRepo(db);
    this.revokedTokens = new RevokedTokensRepo(db, dialect);
    const wrapper = db.transaction((fn: () => unknown) => fn());
    this.runTransaction = <T>(fn: () => T): T => wrapper(fn) as T;
    if (options.commitWindowMs !== undefined && dialect === 'sqlite') {
      this.group = new GroupCommit(db, {
        windowMs: options.commitWindowMs,
        walFile: options.walFile,
        syncSpacingMs: options.syncSpacingMs,
        beforeCommit: () => this.events.saveLastIds(),
        observer: options.commitObserver,
        onFailure: (err) => {
          // The group's writes are gone, ids included.
          this.events.forgetIds();
          options.onCommitFailure?.(err);
        },
      });
    }
  }

  /**
   * Opens the PostgreSQL database at `databaseUrl` (migrated to this version's schema), or else
   * `<dataDir>/legway.sqlite`. With group commit and `synchronous: full`, that SQLite connection
   * runs with synchronous=NORMAL, each group's WAL is synced off the main thread before it counts,
   * and checkpoints run in a worker thread.
   */
  static open(dataDir: string, options: OpenOptions & StoreOptions): Store {
    if (options.databaseUrl !== undefined) return Store.openPostgres(options.databaseUrl, options.nodeId);
    const file = join(dataDir, 'legway.sqlite');
    const syncOffThread = options.commitWindowMs !== undefined && options.synchronous === 'full';
    const db = openDatabase(file, { synchronous: syncOffThread ? 'normal' : options.synchronous });
    const store = new Store(db, { ...options, walFile: syncOffThread ? `${file}-wal` : undefined });
    // Checkpoints too leave the main thread when it is not to wait on the disk.
    if (syncOffThread) {
      store.checkpointer = new Checkpointer(db, file, {
        intervalMs: CHECKPOINT_INTERVAL_MS,
        onFallback: (reason) => options.onWarning?.(`${reason}; checkpoints run on the main thread again`),
      });
    }
    return store;
  }

  private static openPostgres(url: string, nodeId: string | undefined): Store {
    const db = new PgDatabase(url);
    try {
      migratePg(db);
    } catch (err) {
      db.close();
      throw err;
    }
    return new Store(db, { dialect: 'postgres', nodeId });
  }

  /**
   * Runs `fn` in a transaction (a savepoint when nested or inside a group). Callbacks queued with
   * `afterCommit` run once the outermost transaction (or the group holding it) is durable, and are
   * dropped with a rollback.
   */
  transaction<T>(fn: () => T): T {
    return this.run(fn, true);
  }

  /**
   * Runs `fn`, which writes with one statement at most, like `transaction` but without a savepoint
   * of its own: one statement is atomic by itself, and the savepoint would be two statements more.
   * Outside a group and any transaction it is a transaction, which also saves the event ids taken.
   * On PostgreSQL it keeps its savepoint: there a failed statement aborts the whole transaction
   * around it, where SQLite undoes that statement alone.
   */
  write<T>(fn: () => T): T {
    return this.run(fn, this.dialect === 'postgres');
  }

  private run<T>(fn: () => T, savepoint: boolean): T {
    if (this.depth === 0) this.group?.begin();
    const grouped = this.group?.collecting ? this.group : undefined;
    const mark = grouped ? grouped.mark() : this.pending.length;
    // Outside a group, an outermost transaction commits by itself: the event ids it took are saved in it.
    const outermost = this.depth === 0 && !grouped;
    this.depth++;
    let result: T;
    try {
      if (outermost) result = this.runTransaction(() => this.saveLastIdsAfter(fn));
      else result = savepoint ? this.runTransaction(fn) : fn();
    } catch (err) {
      this.rolledBack(grouped, mark);
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && !grouped) this.runPending();
    return result;
  }

  private saveLastIdsAfter<T>(fn: () => T): T {
    const result = fn();
    this.events.saveLastIds();
    return result;
  }

  /** Forgets what a failed transaction queued, and the event ids it may have taken. */
  private rolledBack(grouped: GroupCommit | undefined, mark: number): void {
    if (grouped) grouped.dropAfter(mark);
    else this.pending.length = mark;
    this.events.forgetIds();
  }

  private runPending(): void {
    const callbacks = this.pending;
    this.pending = [];
    for (const cb of callbacks) cb();
  }

  /** Queues `cb` for after the current transaction or group is durable (runs at once when nothing is pending). */
  afterCommit(cb: () => void): void {
    if (this.group?.defer(cb)) return;
    if (this.depth > 0) this.pending.push(cb);
    else cb();
  }

  /**
   * Resolves once everything written so far is durable (its group committed and synced), after the
   * group's after-commit callbacks ran; rejects if that failed. Answer a request only then.
   */
  durable(): Promise<void> {
    return this.group?.durable() ?? Promise.resolve();
  }

  /** Whether everything written so far is durable, so that what is read now may be sent out. */
  get allDurable(): boolean {
    return this.group?.idle ?? true;
  }

  /** Commits the open group now (no-op without one); it is announced once synced. */
  flush(): void {
    this.group?.commit();
  }

  /** Group commits (each one transaction and at most one sync) and WAL syncs so far, and the time they took; all zero without group commit. */
  get commitStats(): Readonly<CommitStats> {
    return this.group?.stats ?? NO_COMMITS;
  }

  /** The SQLite connection, for SQLite's own tools (pragmas, the fuzz watch); undefined on PostgreSQL. */
  get sqlite(): SqliteDb | undefined {
    return this.db instanceof Database ? this.db : undefined;
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
    this.group?.close();
    void this.checkpointer?.close();
    this.closed = true;
    this.db.close();
  }
}
