import type { LaneAdvance, LanesRepo } from '../store/lanesRepo.js';
import type { OutboxRepo } from '../store/outboxRepo.js';
import type { Delivery } from './delivery.js';

/** What became of one attempt, to be written to the lanes and the outbox. */
export type Settlement = { delivery: Delivery } & (
  | { kind: 'delivered' }
  | { kind: 'retry'; next: number; status: number | null; error: string }
  | { kind: 'park'; at: number; status: number | null; error: string }
);

/** Runs `fn` in one store transaction (`Store.transaction`). */
export type Transact = <T>(fn: () => T) => T;

/**
 * Delivery bookkeeping waiting to be written. Attempts settle one by one; what they settled is
 * written together, in one transaction per dispatcher pump, a lane's cursor moved once for all of
 * its deliveries in it. Until it is written the store still shows those deliveries queued: a crash
 * in between means they are sent again, which at-least-once delivery allows. Meanwhile this batch
 * says how far each lane has in fact got, so the dispatcher does not send them twice.
 */
export class SettlementBatch {
  private items: Settlement[] = [];
  /** Replayed deliveries that left their queue (delivered or parked). */
  private readonly leftReplays = new Set<number>();
  /** The highest event id of each lane that left its queue. */
  private readonly cursors = new Map<string, number>();

  constructor(
    private readonly lanes: LanesRepo,
    private readonly outbox: OutboxRepo,
    private readonly transact: Transact,
    private readonly now: () => number,
  ) {}

  add(settlement: Settlement): void {
    this.items.push(settlement);
    const { delivery } = settlement;
    // Any settlement marks the lane as touched, so the dispatcher never takes it for empty meanwhile.
    const cursor = this.cursors.get(delivery.conversation_id) ?? 0;
    if (settlement.kind === 'retry') {
      this.cursors.set(delivery.conversation_id, cursor);
      return;
    }
    if (delivery.seq !== undefined) this.leftReplays.add(delivery.seq);
    this.cursors.set(delivery.conversation_id, delivery.seq === undefined ? Math.max(cursor, delivery.event_id) : cursor);
  }

  /** Whether the replayed delivery `seq` left its queue but the outbox does not show it yet. */
  hasLeft(seq: number): boolean {
    return this.leftReplays.has(seq);
  }

  /** How far the lane has got that the store does not show yet (0: no event of it left), or undefined when nothing of it waits. */
  cursorOf(conversationId: string): number | undefined {
    return this.cursors.get(conversationId);
  }

  get size(): number {
    return this.items.length;
  }

  /** How the queue depths will change once this is written: deliveries leaving their queues, and those of them parked. */
  effect(): { left: number; parked: number } {
    let left = 0;
    let parked = 0;
    for (const s of this.items) {
      if (s.kind === 'retry') continue;
      left++;
      if (s.kind === 'park') parked++;
    }
    return { left, parked };
  }

  /** Writes everything collected in one transaction; if that throws, those deliveries stay queued (and are sent again). */
  write(): void {
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.leftReplays.clear();
    this.cursors.clear();
    const { lanes, outbox } = this;
    const now = this.now();
    this.transact(() => {
      // Each lane's deliveries that left, written as one move of its cursor, before any retry of its next head.
      const moves = new Map<string, LaneAdvance>();
      const move = (conversationId: string): void => {
        const advance = moves.get(conversationId);
        if (advance === undefined) return;
        lanes.advance(advance, now);
        moves.delete(conversationId);
      };
      for (const s of items) {
        const d = s.delivery;
        if (s.kind === 'retry') {
          move(d.conversation_id);
          lanes.retryLater(d.conversation_id, s.next, s.status, s.error);
          continue;
        }
        if (d.seq !== undefined) {
          if (s.kind === 'delivered') outbox.delivered(d.seq);
          else outbox.parkAgain(d.seq, d.attempts + 1, s.at, s.status, s.error);
        } else if (s.kind === 'park') {
          const { conversation_id, event_id, payload, created_at, window_start } = d;
          outbox.park({ conversation_id, event_id, payload, created_at, window_start, attempts: d.attempts + 1 }, s.at, s.status, s.error);
        }
        const advance = moves.get(d.conversation_id) ?? { conversation_id: d.conversation_id, through: 0, events: 0, replays: 0 };
        if (d.seq === undefined) {
          advance.events++;
          advance.through = Math.max(advance.through, d.event_id);
        } else advance.replays++;
        moves.set(d.conversation_id, advance);
      }
      for (const conversationId of [...moves.keys()]) move(conversationId);
    });
  }
}
