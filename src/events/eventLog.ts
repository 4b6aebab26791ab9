import type { ConversationEvent } from '../domain/model.js';
import { fail } from '../domain/errors.js';
import type { Clock } from '../lib/clock.js';
import { TypedEmitter } from '../lib/typedEmitter.js';
import type { Store } from '../store/store.js';
import { parseEventBody, type AnyEventType } from './catalogue.js';

/** What a producer hands to the log; the log adds id, timestamp and validates the body. */
export interface EventDraft {
  conversation_id: string;
  type: AnyEventType;
  from: string;
  to?: string | undefined;
  body: unknown;
}

interface EventLogEvents {
  [key: string]: unknown[];
  /** An event is durable (its transaction committed); fan-out listens here. */
  committed: [ConversationEvent];
}

/**
 * The one place events are created. `append` validates the body against the catalogue,
 * takes the conversation's next id inside the caller's transaction (so ids are assigned at
 * commit, with no gaps and no duplicates), stores the event, and announces it after commit.
 */
export class EventLog {
  readonly emitter: TypedEmitter<EventLogEvents>;
  private readonly appendHooks: ((event: ConversationEvent) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    onListenerError: (err: unknown) => void,
  ) {
    this.emitter = new TypedEmitter<EventLogEvents>(onListenerError);
  }

  append(draft: EventDraft): ConversationEvent {
    const parsed = parseEventBody(draft.type, draft.body);
    if (!parsed.ok) {
      throw fail(parsed.code === 'UnknownEventType' ? 'BadRequest' : 'ValidationFailed', parsed.message, parsed.issues);
    }
    return this.store.transaction(() => {
      const event: ConversationEvent = {
        id: this.store.conversations.nextEventId(draft.conversation_id),
        type: parsed.type,
        from: draft.from,
        timestamp: this.clock.now().toISOString(),
        body: parsed.body,
        conversation_id: draft.conversation_id,
      };
      if (draft.to !== undefined) event.to = draft.to;
      this.store.events.insert(event);
      for (const hook of this.appendHooks) hook(event);
      this.store.afterCommit(() => this.emitter.emit('committed', event));
      return event;
    });
  }

  /**
   * Adds work that must commit with every event or not at all (the webhook outbox). It runs inside
   * the event's transaction; if it throws, the event is not written.
   */
  addAppendHook(hook: (event: ConversationEvent) => void): void {
    this.appendHooks.push(hook);
  }

  /** Subscribes to committed events; returns the unsubscribe function. */
  onCommitted(listener: (event: ConversationEvent) => void): () => void {
    return this.emitter.on('committed', listener);
  }
}
