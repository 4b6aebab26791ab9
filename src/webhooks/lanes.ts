import type { OutboxEntry } from '../store/outboxRepo.js';

/** Entries one lane keeps in memory; past that the rest stay in the outbox and are read in batches of this size. */
const LANE_ENTRIES = 64;
/** Entries all lanes together keep in memory (each holds its payload), whatever the backlog. */
const CACHED_ENTRIES = 16_384;
/** Lanes kept; past that, empty ones are forgotten (the next entry of such a conversation costs a read). */
const LANES = 10_000;

/** One conversation's queue as the dispatcher knows it. */
interface Lane {
  /** Pending entries from the conversation's head on (in flight or waiting included), in seq order. */
  entries: OutboxEntry[];
  /** The highest seq this lane has held; entries after it are read with `seq > last`. */
  last: number;
  /** Whether the outbox has no durable pending entry of the conversation after `last`. */
  complete: boolean;
}

/**
 * Where lanes read what they do not hold: a conversation's durable pending entries after seq `after`,
 * in seq order, from at most `limit` rows; `last` is the last row's seq, `complete` whether no row came after it.
 */
export type ReadPending = (conversationId: string, after: number, limit: number) => { entries: OutboxEntry[]; last: number; complete: boolean };

/**
 * Each conversation's pending outbox entries, held in memory so that the next delivery of a
 * conversation needs no query: entries come in as they are queued (with the payload already
 * encoded) and go as they leave the queue. A lane that ran out of room, or that was never complete,
 * reads the outbox for what follows, one batch at a time. Memory stays bounded whatever the backlog.
 */
export class Lanes {
  private readonly lanes = new Map<string, Lane>();
  private cached = 0;

  constructor(private readonly read: ReadPending) {}

  /**
   * A durable entry was queued in this process. Returns 'head' when it heads its conversation's
   * queue (the lane knew it was empty), 'behind' when it waits behind entries the lane knows, and
   * 'unknown' when the lane cannot tell (it holds no complete view): the outbox can.
   */
  queued(entry: OutboxEntry): 'head' | 'behind' | 'unknown' {
    const lane = this.lanes.get(entry.conversation_id);
    if (lane === undefined) return 'unknown';
    // Read from the outbox already: it waits among the entries held, or a read finds it again.
    if (entry.seq <= lane.last) return lane.entries.length > 0 ? 'behind' : 'unknown';
    if (!lane.complete) return lane.entries.length > 0 ? 'behind' : 'unknown';
    if (lane.entries.length >= LANE_ENTRIES || this.cached >= CACHED_ENTRIES) {
      // No room: it stays in the outbox, and the lane reads it when it gets there.
      lane.complete = false;
      return lane.entries.length > 0 ? 'behind' : 'unknown';
    }
    lane.entries.push(entry);
    lane.last = entry.seq;
    this.cached++;
    return lane.entries.length === 1 ? 'head' : 'behind';
  }

  /** The conversation's head, reading the outbox when the lane does not hold it (undefined: its queue is empty). */
  head(conversationId: string): OutboxEntry | undefined {
    let lane = this.lanes.get(conversationId);
    if (lane === undefined) {
      lane = { entries: [], last: 0, complete: false };
      this.lanes.set(conversationId, lane);
      this.trim();
    }
    // A batch may hold only entries that left already (their deletes not written yet): read on past them.
    while (lane.entries.length === 0 && !lane.complete) {
      const { entries, last, complete } = this.read(conversationId, lane.last, LANE_ENTRIES);
      lane.entries = entries;
      lane.complete = complete;
      lane.last = Math.max(lane.last, last);
      this.cached += entries.length;
    }
    return lane.entries[0];
  }

  /** The head `seq` left its queue (delivered or parked). */
  left(conversationId: string, seq: number): void {
    const lane = this.lanes.get(conversationId);
    if (lane?.entries[0]?.seq !== seq) return;
    lane.entries.shift();
    this.cached--;
  }

  /** The head failed and waits for its retry: the lane keeps it as the outbox will show it. */
  retried(entry: OutboxEntry): void {
    const lane = this.lanes.get(entry.conversation_id);
    if (lane?.entries[0]?.seq === entry.seq) lane.entries[0] = entry;
  }

  /** Forgets one conversation's lane (it disagreed with the outbox); it is read again when needed. */
  forget(conversationId: string): void {
    const lane = this.lanes.get(conversationId);
    if (lane === undefined) return;
    this.cached -= lane.entries.length;
    this.lanes.delete(conversationId);
  }

  /** Forgets every lane (the outbox changed under them: a replay). */
  clear(): void {
    this.lanes.clear();
    this.cached = 0;
  }

  /** Forgets the oldest empty lanes once there are too many. */
  private trim(): void {
    if (this.lanes.size <= LANES) return;
    for (const [conversationId, lane] of this.lanes) {
      if (this.lanes.size <= LANES * 0.9) break;
      if (lane.entries.length === 0) this.lanes.delete(conversationId);
    }
  }
}
