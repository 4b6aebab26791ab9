import type { Delivery } from './delivery.js';

/**
 * The entries read after conversations' next heads, kept for when each conversation's lane starts,
 * within one budget for all conversations together: a backlog in many conversations at once (a slow
 * receiver) holds at most `budget` payloads in memory; past it a conversation keeps what still fits
 * (possibly nothing), and its lane reads the rest when it starts.
 */
export class ReadAhead {
  private readonly entries = new Map<string, Delivery[]>();
  private held = 0;

  constructor(private readonly budget: number) {}

  /** Entries held, all conversations together (at most the budget). */
  get size(): number {
    return this.held;
  }

  /** The entries kept for a conversation, in order (none when nothing was kept). */
  of(conversationId: string): readonly Delivery[] {
    return this.entries.get(conversationId) ?? [];
  }

  /** Keeps `entries` (in order) for a conversation in place of what it had, as far as the budget allows. */
  keep(conversationId: string, entries: readonly Delivery[]): void {
    this.drop(conversationId);
    const kept = entries.slice(0, this.budget - this.held);
    if (kept.length === 0) return;
    this.entries.set(conversationId, kept);
    this.held += kept.length;
  }

  drop(conversationId: string): void {
    this.held -= this.entries.get(conversationId)?.length ?? 0;
    this.entries.delete(conversationId);
  }

  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}
