import type { OutboxRepo } from '../store/outboxRepo.js';

/** What became of one attempt, to be written to the outbox. */
export type Settlement = { seq: number; conversation_id: string } & (
  | { kind: 'delivered' }
  | { kind: 'retry'; next: number; status: number | null; error: string }
  | { kind: 'park'; at: number; status: number | null; error: string }
);

/** Runs `fn` in one store transaction (`Store.transaction`). */
export type Transact = <T>(fn: () => T) => T;

/**
 * Delivery bookkeeping waiting to be written. Attempts settle one by one; what they settled is
 * written together, in one transaction per dispatcher pump, instead of one commit (and one fsync)
 * each. Until it is written the outbox still shows those entries as they were: a crash in between
 * means they are sent again, which at-least-once delivery allows. Meanwhile this batch says which
 * of them have in fact left their queues, so the dispatcher does not take them for queue heads.
 */
export class SettlementBatch {
  private items: Settlement[] = [];
  /** Entries that left their queue (delivered or parked), and how many of them per conversation. */
  private readonly left = new Set<number>();
  private readonly leftBy = new Map<string, number>();

  constructor(
    private readonly outbox: OutboxRepo,
    private readonly transact: Transact,
  ) {}

  add(settlement: Settlement): void {
    this.items.push(settlement);
    if (settlement.kind === 'retry') return;
    this.left.add(settlement.seq);
    this.leftBy.set(settlement.conversation_id, (this.leftBy.get(settlement.conversation_id) ?? 0) + 1);
  }

  /** Whether the entry `seq` left its queue but the outbox does not show it yet. */
  hasLeft(seq: number): boolean {
    return this.left.has(seq);
  }

  /** How many entries of a conversation left its queue but the outbox does not show it yet. */
  leftIn(conversationId: string): number {
    return this.leftBy.get(conversationId) ?? 0;
  }

  get size(): number {
    return this.items.length;
  }

  /** How the queue depths will change once this is written: entries leaving the pending queue, and those of them parked. */
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

  /** Writes everything collected in one transaction; if that throws, those entries stay as they were (and are sent again). */
  write(): void {
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.left.clear();
    this.leftBy.clear();
    const { outbox } = this;
    this.transact(() => {
      for (const s of items) {
        if (s.kind === 'delivered') outbox.delivered(s.seq);
        else if (s.kind === 'retry') outbox.retryLater(s.seq, s.next, s.status, s.error);
        else outbox.park(s.seq, s.at, s.status, s.error);
      }
    });
  }
}
