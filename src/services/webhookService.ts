import type { Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { Page } from '../store/page.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';

/** A webhook delivery that was given up on, as the application sees it. */
export interface FailedDelivery {
  id: number;
  conversation_id: string;
  event_id: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  failed_at: string | null;
  event: unknown;
}

/** Parked webhook deliveries: list them, and put them back in their queues. */
export class WebhookService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly wake: () => void,
    /** Writes the dispatcher's batched outcomes, so that what is read next includes every park decided. */
    private readonly settle: () => void = () => undefined,
  ) {}

  listFailed(after: number, size: number, p: Principal): Page<FailedDelivery> {
    this.access.requireApplication(p, 'reading webhook deliveries');
    this.settle();
    const rows = this.ctx.store.outbox.failed(after, size + 1);
    const items = rows.slice(0, size).map((row) => ({
      id: row.seq,
      conversation_id: row.conversation_id,
      event_id: row.event_id,
      attempts: row.attempts,
      last_status: row.last_status,
      last_error: row.last_error,
      failed_at: row.failed_at === null ? null : new Date(row.failed_at).toISOString(),
      event: JSON.parse(row.payload) as unknown,
    }));
    const page: Page<FailedDelivery> = { items };
    const last = items.at(-1);
    if (rows.length > size && last) page.next = last.id;
    return page;
  }

  /** Queues one parked delivery (or all, when `id` is undefined) again; returns how many. */
  replay(id: number | undefined, p: Principal): number {
    this.access.requireApplication(p, 'replaying webhook deliveries');
    this.settle();
    const now = this.ctx.clock.now().getTime();
    const { outbox, lanes } = this.ctx.store;
    const count = this.ctx.store.transaction(() => {
      if (id === undefined) {
        const all = outbox.replayAll(now);
        if (all > 0) lanes.replayedAll(now);
        return all;
      }
      const conversationId = outbox.replay(id, now);
      if (conversationId === undefined) return 0;
      lanes.replayed(conversationId, now);
      return 1;
    });
    if (id !== undefined && count === 0) throw fail('NotFound', `no failed webhook delivery ${id}`);
    if (count > 0) this.wake();
    return count;
  }
}
