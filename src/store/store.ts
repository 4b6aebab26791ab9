import { join } from 'node:path';
import { ConversationsRepo } from './conversationsRepo.js';
import { EventsRepo } from './eventsRepo.js';
import { LegsRepo } from './legsRepo.js';
import { MembersRepo } from './membersRepo.js';
import { OutboxRepo } from './outboxRepo.js';
import { RecordingsRepo } from './recordingsRepo.js';
import { openDatabase, type OpenOptions, type SqliteDb } from './sqlite.js';
import { UsersRepo } from './usersRepo.js';

/**
 * The embedded store: one SQLite file, its repositories, and transactions with after-commit
 * callbacks (so that what a transaction announces is announced only once it is durable).
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

  constructor(readonly db: SqliteDb) {
    this.conversations = new ConversationsRepo(db);
    this.users = new UsersRepo(db);
    this.members = new MembersRepo(db);
    this.events = new EventsRepo(db);
    this.outbox = new OutboxRepo(db);
    this.legs = new LegsRepo(db);
    this.recordings = new RecordingsRepo(db);
  }

  /** Opens `<dataDir>/legway.sqlite`. */
  static open(dataDir: string, options: OpenOptions): Store {
    return new Store(openDatabase(join(dataDir, 'legway.sqlite'), options));
  }

  /**
   * Runs `fn` in a transaction (a savepoint when nested). Callbacks queued with `afterCommit`
   * run once the outermost transaction has committed, and are dropped with a rollback.
   */
  transaction<T>(fn: () => T): T {
    const mark = this.pending.length;
    this.depth++;
    let result: T;
    try {
      result = this.db.transaction(fn)();
    } catch (err) {
      this.pending.length = mark;
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0) {
      const callbacks = this.pending;
      this.pending = [];
      for (const cb of callbacks) cb();
    }
    return result;
  }

  /** Queues `cb` for after the current transaction commits (runs at once outside a transaction). */
  afterCommit(cb: () => void): void {
    if (this.depth === 0) cb();
    else this.pending.push(cb);
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
    this.closed = true;
    this.db.close();
  }
}
