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

/**
 * An event the gateway built itself (a leg machine's emitted event): its body is taken as it is,
 * not parsed again. The machines' tests check every body they emit against the catalogue.
 */
export interface BuiltEventDraft extends EventDraft {
  body: Record<string, unknown>;
}

/** Work done with every event a hook wants, in the event's transaction. */
interface AppendHook {
  run: (event: ConversationEvent) => void;
  wants: (type: string) => boolean;
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
  private readonly appendHooks: AppendHook[] = [];
  private readonly announce = (events: readonly ConversationEvent[]): void => {
    for (const event of events) this.emitter.emit('committed', event);
  };

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    onListenerError: (err: unknown) => void,
  ) {
    this.emitter = new TypedEmitter<EventLogEvents>(onListenerError);
  }

  /** Validates and appends one event; throws BadRequest or ValidationFailed for a body the catalogue refuses. */
  append(draft: EventDraft): ConversationEvent {
    return this.write([validated(draft)])[0] as ConversationEvent;
  }

  /**
   * Validates and appends several events at once, in order and all or none: one savepoint at most
   * and one timestamp for all of them. Nothing is written unless every body is valid.
   */
  appendMany(drafts: readonly EventDraft[]): ConversationEvent[] {
    return this.write(drafts.map(validated));
  }

  /** Appends events the gateway built itself (see BuiltEventDraft), in order and all or none, without parsing their bodies. */
  appendBuilt(drafts: readonly BuiltEventDraft[]): ConversationEvent[] {
    return this.write(drafts);
  }

  /**
   * Adds work that must commit with every event of a type it `wants` or not at all (the webhook
   * lanes). It runs inside the event's transaction; if it throws, the event is not written. Saying
   * which types it wants spares the others a savepoint.
   */
  addAppendHook(hook: (event: ConversationEvent) => void, wants: (type: string) => boolean = () => true): void {
    this.appendHooks.push({ run: hook, wants });
  }

  /** Subscribes to committed events; returns the unsubscribe function. */
  onCommitted(listener: (event: ConversationEvent) => void): () => void {
    return this.emitter.on('committed', listener);
  }

  private write(drafts: readonly BuiltEventDraft[]): ConversationEvent[] {
    // One insert and nothing else is atomic by itself; more writes than that share a savepoint.
    const only = drafts.length === 1 ? drafts[0] : undefined;
    if (only && !this.appendHooks.some((hook) => hook.wants(only.type))) return this.store.write(() => this.insertAll(drafts));
    return this.store.transaction(() => this.insertAll(drafts));
  }

  /** Takes ids for and stores `drafts` in the open transaction, and queues their announcement. */
  private insertAll(drafts: readonly BuiltEventDraft[]): ConversationEvent[] {
    const { events } = this.store;
    const timestamp = this.clock.now().toISOString();
    const written: ConversationEvent[] = [];
    for (const draft of drafts) {
      const event: ConversationEvent = {
        id: events.nextId(draft.conversation_id),
        type: draft.type,
        from: draft.from,
        timestamp,
        body: draft.body,
        conversation_id: draft.conversation_id,
      };
      if (draft.to !== undefined) event.to = draft.to;
      events.insert(event);
      for (const hook of this.appendHooks) if (hook.wants(event.type)) hook.run(event);
      written.push(event);
    }
    this.store.afterCommit(() => this.announce(written));
    return written;
  }
}

function validated(draft: EventDraft): BuiltEventDraft {
  const parsed = parseEventBody(draft.type, draft.body);
  if (!parsed.ok) {
    throw fail(parsed.code === 'UnknownEventType' ? 'BadRequest' : 'ValidationFailed', parsed.message, parsed.issues);
  }
  return { conversation_id: draft.conversation_id, type: parsed.type, from: draft.from, to: draft.to, body: parsed.body };
}
