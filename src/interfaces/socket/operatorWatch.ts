import type { Logger } from 'pino';
import type { ConversationEvent } from '../../domain/model.js';

/** Subscribes a listener to committed events; returns the unsubscribe function (EventLog.onCommitted). */
export type CommittedSource = (listener: (event: ConversationEvent) => void) => () => void;

/** What a watcher receives: every conversation, or the listed ones. */
export type Selection = 'all' | ReadonlySet<string>;

interface Watcher {
  selection: Selection;
  deliver: (event: ConversationEvent) => void;
}

/**
 * Live events for operators who `watch`: one subscription to the event log, held only while
 * someone watches, fanned out to the watchers of each event's conversation in commit order.
 * Operators see every event, `to`-addressed ones included, as the application does.
 */
export class OperatorWatch {
  private readonly watchers = new Map<string, Watcher>();
  private readonly everything = new Set<Watcher>();
  private readonly byConversation = new Map<string, Set<Watcher>>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly source: CommittedSource,
    private readonly logger: Logger,
  ) {}

  /** Sets what watcher `id` receives from now on, replacing its earlier selection. */
  watch(id: string, selection: Selection, deliver: (event: ConversationEvent) => void): void {
    this.unwatch(id);
    const watcher: Watcher = { selection, deliver };
    this.watchers.set(id, watcher);
    if (selection === 'all') {
      this.everything.add(watcher);
    } else {
      for (const conversationId of selection) {
        let set = this.byConversation.get(conversationId);
        if (!set) {
          set = new Set();
          this.byConversation.set(conversationId, set);
        }
        set.add(watcher);
      }
    }
    this.unsubscribe ??= this.source((event) => this.publish(event));
  }

  /** Stops watcher `id` (harmless when it watches nothing); the last one out drops the log subscription. */
  unwatch(id: string): void {
    const watcher = this.watchers.get(id);
    if (!watcher) return;
    this.watchers.delete(id);
    if (watcher.selection === 'all') {
      this.everything.delete(watcher);
    } else {
      for (const conversationId of watcher.selection) {
        const set = this.byConversation.get(conversationId);
        set?.delete(watcher);
        if (set?.size === 0) this.byConversation.delete(conversationId);
      }
    }
    if (this.watchers.size === 0) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
    }
  }

  private publish(event: ConversationEvent): void {
    const targeted = this.byConversation.get(event.conversation_id);
    for (const watcher of [...this.everything, ...(targeted ?? [])]) {
      try {
        watcher.deliver(event);
      } catch (err) {
        // One failing socket must not keep the event from the other watchers.
        this.logger.warn({ err, conversation_id: event.conversation_id, event_id: event.id }, 'could not push an event to a watcher');
      }
    }
  }
}
