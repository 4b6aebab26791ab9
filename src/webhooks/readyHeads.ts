import type { DueLane } from '../store/lanesRepo.js';
import type { Delivery } from './delivery.js';

/** A place in the lanes' due order: when the head is due, then the lane's number. */
interface Position {
  next_attempt_at: number;
  lane: number;
}

/** A due lane the dispatcher knows of: as read (`row`), or learnt as it delivered, with its head (`entry`). */
export interface ReadyHead extends Position {
  conversation_id: string;
  row?: DueLane;
  entry?: Delivery;
}

/** The lanes' due order: earliest due first, then lowest lane number. */
const before = (a: Position, b: Position): boolean => a.next_attempt_at < b.next_attempt_at || (a.next_attempt_at === b.next_attempt_at && a.lane < b.lane);

/**
 * The due lanes the dispatcher has read, or learnt of as it delivered, in due order: freed slots go
 * to the first of them without a query each. A read that stopped at its limit leaves a horizon; a
 * lane past it may have older ones still unread, so it is not handed out until the next read.
 */
export class ReadyHeads {
  private heads: ReadyHead[] = [];
  private readonly conversations = new Set<string>();
  private horizon: Position | undefined;

  /**
   * What a read found (oldest first); `horizon` is its last row when it hit its limit. A head known
   * before with its entry keeps it, so launching it needs no query.
   */
  replace(heads: ReadyHead[], horizon: Position | undefined): void {
    const entries = new Map<string, Delivery>();
    for (const head of this.heads) if (head.entry !== undefined) entries.set(head.conversation_id, head.entry);
    if (entries.size > 0) {
      for (const head of heads) {
        const entry = entries.get(head.conversation_id);
        if (entry !== undefined) head.entry ??= entry;
      }
    }
    this.heads = heads;
    this.horizon = horizon;
    this.conversations.clear();
    for (const head of heads) this.conversations.add(head.conversation_id);
  }

  /** Whether the head of this conversation is among the known ones. */
  has(conversationId: string): boolean {
    return this.conversations.has(conversationId);
  }

  /** A new head was queued at `at`, unread: heads due after that may not go before it. */
  queuedAt(at: number): void {
    const mark = { next_attempt_at: at, lane: Number.MAX_SAFE_INTEGER };
    if (this.horizon === undefined || before(mark, this.horizon)) this.horizon = mark;
  }

  /** A conversation's next head, learnt when its previous one left the queue. */
  add(head: ReadyHead): void {
    // From the back: a conversation's next entry is usually the newest head there is.
    let i = this.heads.length;
    for (let prev = this.heads[i - 1]; prev !== undefined && before(head, prev); prev = this.heads[i - 1]) i--;
    this.heads.splice(i, 0, head);
    this.conversations.add(head.conversation_id);
  }

  /** The oldest head, unless older ones may still be unread (then a read must come first). */
  take(): ReadyHead | undefined {
    const first = this.heads[0];
    if (first === undefined || (this.horizon !== undefined && before(this.horizon, first))) return undefined;
    this.heads.shift();
    this.conversations.delete(first.conversation_id);
    return first;
  }

  /** Whether only a read can tell which head is next: the known ones ran out before the horizon. */
  get needsRead(): boolean {
    const first = this.heads[0];
    return this.horizon !== undefined && (first === undefined || before(this.horizon, first));
  }

  /** Forgets everything (the queues changed under it: a replay). */
  clear(): void {
    this.heads = [];
    this.horizon = undefined;
    this.conversations.clear();
  }

  get size(): number {
    return this.heads.length;
  }
}
