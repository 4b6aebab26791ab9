import type { EventsRepo } from '../store/eventsRepo.js';
import type { DueLane, LanesRepo } from '../store/lanesRepo.js';
import type { OutboxRepo } from '../store/outboxRepo.js';
import { eventDelivery, replayDelivery, type Delivery } from './delivery.js';
import type { SettlementBatch, Transact } from './settlements.js';

export interface LaneReaderDeps {
  lanes: LanesRepo;
  outbox: OutboxRepo;
  events: EventsRepo;
  wants: (type: string) => boolean;
  settlements: SettlementBatch;
  transaction: Transact;
  now: () => number;
}

/** Event ids of a conversation appended but not on disk yet: the lowest and the highest. */
interface Undurable {
  min: number;
  max: number;
}

/**
 * Reads what a lane is to send next: its replayed deliveries, then its events after the cursor, of
 * the types the webhook takes, that are on disk. The cursor is the store's, moved on by what has
 * settled but is not written yet. With group commit this connection sees events before their
 * commit is synced; one sent then could be lost in a crash after the receiver took it, and its id
 * given to another event, so events appended but not yet durable are left for later.
 */
export class LaneReader {
  private readonly undurable = new Map<string, Undurable>();

  constructor(private readonly deps: LaneReaderDeps) {}

  /** Event `id` is being appended (in its transaction): it is not to be read until `durable`. */
  appending(conversationId: string, id: number): void {
    const marks = this.undurable.get(conversationId);
    if (marks === undefined) this.undurable.set(conversationId, { min: id, max: id });
    else marks.max = Math.max(marks.max, id);
  }

  /** Event `id` and those before it are on disk. */
  durable(conversationId: string, id: number): void {
    const marks = this.undurable.get(conversationId);
    if (marks === undefined) return;
    if (id >= marks.max) this.undurable.delete(conversationId);
    else marks.min = Math.max(marks.min, id + 1);
  }

  /**
   * A due lane's next `limit` deliveries, its head carrying the lane's retry state. None when its
   * next event is not on disk yet; a lane found to hold nothing at all is marked empty.
   */
  head(row: DueLane, limit: number): Delivery[] {
    const conversationId = row.conversation_id;
    const settled = this.deps.settlements.cursorOf(conversationId);
    const deliveries = this.fromStore(conversationId, Math.max(row.delivered_id, settled ?? 0), row.last_id, limit);
    const [head] = deliveries;
    if (head === undefined) {
      // Counted deliveries with nothing to send (the webhook's event types changed across a restart).
      if (settled === undefined && !this.undurable.has(conversationId)) {
        this.deps.transaction(() => this.deps.lanes.markEmpty(conversationId, row.last_id, row.replays));
      }
      return [];
    }
    head.attempts = row.attempts;
    head.window_start = row.window_start;
    return deliveries;
  }

  /** What follows `delivery` in its conversation's queue (at most `limit`). */
  after(delivery: Delivery, limit: number): Delivery[] {
    const { seq } = delivery;
    if (seq === undefined) {
      const lane = this.deps.lanes.get(delivery.conversation_id);
      return lane === undefined ? [] : this.eventsAfter(delivery.conversation_id, delivery.event_id, lane.last_id, limit);
    }
    // A replay: the replays after it, then the lane's events.
    return this.queued(delivery.conversation_id, limit + 1).filter((next) => next.seq === undefined || next.seq > seq);
  }

  /** A conversation's queue as the store and the settlements not yet written show it (at most `limit`). */
  queued(conversationId: string, limit: number): Delivery[] {
    const lane = this.deps.lanes.get(conversationId);
    if (lane === undefined) return [];
    return this.fromStore(conversationId, Math.max(lane.delivered_id, this.deps.settlements.cursorOf(conversationId) ?? 0), lane.last_id, limit);
  }

  /** A conversation's queue from the store: replays not yet settled, then events after `cursor` up to `lastId`. */
  private fromStore(conversationId: string, cursor: number, lastId: number, limit: number): Delivery[] {
    const { outbox, settlements } = this.deps;
    const deliveries: Delivery[] = [];
    for (const row of outbox.replays(conversationId, limit)) {
      if (!settlements.hasLeft(row.seq)) deliveries.push(replayDelivery(row));
    }
    if (deliveries.length < limit) deliveries.push(...this.eventsAfter(conversationId, cursor, lastId, limit - deliveries.length));
    return deliveries;
  }

  /** The conversation's next `limit` events after `after`, up to `lastId` (the last queued) and on disk, that the webhook takes. */
  private eventsAfter(conversationId: string, after: number, lastId: number, limit: number): Delivery[] {
    const undurable = this.undurable.get(conversationId);
    const through = undurable === undefined ? lastId : Math.min(lastId, undurable.min - 1);
    const now = this.deps.now();
    const deliveries: Delivery[] = [];
    let from = after;
    while (from < through) {
      const events = this.deps.events.between(conversationId, from, through, limit);
      for (const event of events) {
        if (this.deps.wants(event.type)) deliveries.push(eventDelivery(event, now));
        if (deliveries.length === limit) return deliveries;
        from = event.id;
      }
      if (events.length < limit) break;
    }
    return deliveries;
  }
}
