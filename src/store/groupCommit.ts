import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import type { SqlDb } from './sqlDb.js';

/** Told how long each group commit took, for metrics; both in seconds. */
export interface CommitObserver {
  /** The group's last writes and COMMIT ran on the event loop this long (its pages written to the WAL). */
  committed(seconds: number): void;
  /** A WAL sync took this long from its start on the thread pool to its end (the disk's durability latency). */
  synced(seconds: number): void;
}

/** Totals of the group commits so far, in seconds; a sync may cover several commits. */
export interface CommitStats {
  commits: number;
  commitSeconds: number;
  syncs: number;
  syncSeconds: number;
  /** Syncs whose start the spacing held back (commits were coming closer together than it). */
  spaced: number;
}

/** The totals before any commit (and of a store without group commit). */
export const NO_COMMITS: Readonly<CommitStats> = Object.freeze({ commits: 0, commitSeconds: 0, syncs: 0, syncSeconds: 0, spaced: 0 });

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A committed group waiting for its WAL sync: what it announces, and who waits for it. */
interface Batch {
  callbacks: (() => void)[];
  waiters: Waiter[];
}

export interface GroupCommitOptions {
  /** How long a group collects writes: 0 to the end of the event-loop turn, at most a few ms otherwise. */
  windowMs: number;
  /**
   * The WAL file to fdatasync after each commit, off the main thread (the connection then runs with
   * synchronous=NORMAL, which writes the WAL without syncing it); undefined when SQLite's own
   * durability setting is to be trusted as it is.
   */
  walFile: string | undefined;
  /**
   * Under load, WAL syncs start at most once per this many ms, and the groups that commit in
   * between share the next one: a sync costs the same few thread wake-ups whatever it covers. Load
   * means commits coming closer together than this on average; at a lighter load each group's
   * sync starts as soon as the one before it has ended, and so does one that someone waits for
   * (`durable()`: an acknowledgement), so only announcements wait. 0 or absent: always as soon as possible.
   */
  syncSpacingMs?: number | undefined;
  /** A commit or WAL sync failed: what it held was never announced; the caller should stop. */
  onFailure: (err: unknown) => void;
  /** Last writes of the group, in its transaction, just before it commits; a throw fails the group. */
  beforeCommit?: () => void;
  /** Told each commit's and each sync's duration. */
  observer?: CommitObserver | undefined;
}

const secondsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * Group commit over one SQLite connection. The first write of a turn opens a transaction that the
 * turn's other transactions join as savepoints; at the end of the turn it commits. With `walFile`
 * set, the commit only writes the WAL and an fdatasync of it runs on libuv's thread pool, so the
 * event loop never blocks on the disk; groups that commit while a sync is in flight share the next,
 * and under load (`syncSpacingMs`) so do those that commit until the next may start. A group's
 * callbacks run, and its waiters resolve, in commit order and only once it is on disk.
 */
export class GroupCommit {
  private open = false;
  private current: Batch = { callbacks: [], waiters: [] };
  /** Committed, waiting for the next sync. */
  private queued: Batch[] = [];
  /** Committed, being synced now. */
  private syncing: Batch[] = [];
  private walFd: number | undefined;
  private closed = false;
  private readonly totals: CommitStats = { ...NO_COMMITS };
  private readonly commitNow = (): void => this.commit();
  private readonly spacingMs: number;
  /** When the last sync started, and the average gap between commits (ms, `performance.now()`). */
  private lastSyncStart = Number.NEGATIVE_INFINITY;
  private lastCommitAt: number | undefined;
  private meanCommitGap = Number.POSITIVE_INFINITY;
  /** Starts the queued groups' sync once spacing allows it, if no commit has started it before. */
  private spacingTimer: NodeJS.Timeout | undefined;
  /** The queued groups' sync is being held back by the spacing. */
  private heldBack = false;
  private readonly syncWhenDue = (): void => {
    this.spacingTimer = undefined;
    this.syncIfDue();
  };

  constructor(
    private readonly db: SqlDb,
    private readonly options: GroupCommitOptions,
  ) {
    this.spacingMs = options.syncSpacingMs ?? 0;
  }

  /** Whether writes are being collected into an uncommitted group. */
  get collecting(): boolean {
    return this.open;
  }

  /** Whether everything written so far is durable and announced (no group open, none waiting to sync). */
  get idle(): boolean {
    return !this.open && this.queued.length === 0 && this.syncing.length === 0;
  }

  /** Commits and syncs so far, and the time they took. */
  get stats(): Readonly<CommitStats> {
    return { ...this.totals };
  }

  /** Opens a group if none is open (called before a transaction at depth 0). */
  begin(): void {
    if (this.open || this.closed) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.open = true;
    if (this.options.windowMs > 0) setTimeout(this.commitNow, this.options.windowMs);
    else setImmediate(this.commitNow);
  }

  /** Queues `cb` for when everything written so far is durable; false when nothing is pending (run it now). */
  defer(cb: () => void): boolean {
    const batch = this.open ? this.current : (this.queued.at(-1) ?? this.syncing.at(-1));
    if (!batch) return false;
    batch.callbacks.push(cb);
    return true;
  }

  /** Callbacks queued in the open group so far (to drop those of a transaction that rolls back). */
  mark(): number {
    return this.current.callbacks.length;
  }

  /** Drops the open group's callbacks queued after `mark` (their transaction rolled back). */
  dropAfter(mark: number): void {
    this.current.callbacks.length = mark;
  }

  /** Resolves once everything written so far is durable and announced; rejects if that failed. */
  durable(): Promise<void> {
    const batch = this.open ? this.current : (this.queued.at(-1) ?? this.syncing.at(-1));
    if (!batch) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    // Someone waits for it now (an acknowledgement): a sync held back for company starts at once.
    if (this.queued.includes(batch)) this.syncIfDue();
    return promise;
  }

  /** Commits the open group now; its announcements follow once it is synced. */
  commit(): void {
    if (!this.open) return;
    this.open = false;
    const batch = this.current;
    this.current = { callbacks: [], waiters: [] };
    const start = process.hrtime.bigint();
    try {
      this.options.beforeCommit?.();
      this.db.exec('COMMIT');
    } catch (err) {
      // SQLite may already have rolled back; make sure, and forget what the group announced.
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } finally {
        this.fail([batch], err);
      }
      return;
    }
    const seconds = secondsSince(start);
    this.totals.commits++;
    this.totals.commitSeconds += seconds;
    this.options.observer?.committed(seconds);
    if (this.options.walFile === undefined) {
      if (this.queued.length + this.syncing.length === 0) this.announce([batch]);
      else this.queued.push(batch);
      return;
    }
    this.queued.push(batch);
    this.noteCommit();
    this.syncIfDue();
  }

  /** Keeps the average gap between commits (a moving average over about the last eight). */
  private noteCommit(): void {
    if (this.spacingMs <= 0) return;
    const now = performance.now();
    if (this.lastCommitAt !== undefined) {
      const gap = now - this.lastCommitAt;
      this.meanCommitGap = this.meanCommitGap === Number.POSITIVE_INFINITY ? gap : this.meanCommitGap + (gap - this.meanCommitGap) / 8;
    }
    this.lastCommitAt = now;
  }

  /**
   * Starts the sync of the queued groups unless one is running (its end looks again) or, under
   * load and with nobody waiting for them, the last one started less than the spacing ago (a timer
   * then starts it when it may).
   */
  private syncIfDue(): void {
    if (this.syncing.length > 0 || this.queued.length === 0 || this.closed) return;
    const spaced = this.meanCommitGap < this.spacingMs && !this.queued.some((batch) => batch.waiters.length > 0);
    const wait = spaced ? this.lastSyncStart + this.spacingMs - performance.now() : 0;
    if (wait <= 0) {
      this.sync();
      return;
    }
    this.heldBack = true;
    this.spacingTimer ??= setTimeout(this.syncWhenDue, Math.ceil(wait));
  }

  /** Commits and syncs everything now, synchronously (at close). */
  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    clearTimeout(this.spacingTimer);
    this.spacingTimer = undefined;
    const pending = [...this.syncing, ...this.queued];
    this.syncing = [];
    this.queued = [];
    try {
      if (this.walFd !== undefined) fdatasyncSync(this.walFd);
    } catch (err) {
      this.fail(pending, err);
      return;
    } finally {
      if (this.walFd !== undefined) closeSync(this.walFd);
      this.walFd = undefined;
    }
    this.announce(pending);
  }

  private sync(): void {
    if (this.closed) return;
    const batches = this.queued;
    this.queued = [];
    this.syncing = batches;
    this.lastSyncStart = performance.now();
    if (this.heldBack) this.totals.spaced++;
    this.heldBack = false;
    clearTimeout(this.spacingTimer);
    this.spacingTimer = undefined;
    let fd: number;
    try {
      // The WAL exists from the first commit on and keeps its inode while the connection is open.
      fd = this.walFd ??= openSync(this.options.walFile as string, 'r+');
    } catch (err) {
      this.syncing = [];
      this.fail(batches, err);
      return;
    }
    const start = process.hrtime.bigint();
    fdatasync(fd, (err) => {
      if (this.syncing !== batches) return; // close() took over.
      if (!err) {
        const seconds = secondsSince(start);
        this.totals.syncs++;
        this.totals.syncSeconds += seconds;
        this.options.observer?.synced(seconds);
      }
      this.syncing = [];
      if (err) this.fail(batches, err);
      else this.announce(batches);
      this.syncIfDue();
    });
  }

  private announce(batches: Batch[]): void {
    for (const batch of batches) {
      try {
        for (const cb of batch.callbacks) cb();
      } finally {
        for (const w of batch.waiters) w.resolve();
      }
    }
  }

  private fail(batches: Batch[], err: unknown): void {
    for (const batch of batches) for (const w of batch.waiters) w.reject(err);
    this.options.onFailure(err);
  }
}
