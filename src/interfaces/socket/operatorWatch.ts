import type { Logger } from 'pino';
import type { ConversationEvent } from '../../domain/model.js';
import type { Fanout } from './conversationFeed.js';

/** Subscribes a listener to committed events; returns the unsubscribe function (EventLog.onCommitted). */
export type CommittedSource = (listener: (event: ConversationEvent) => void) => () => void;

/** What a watcher receives: every conversation, or the listed ones. */
export type Selection = 'all' | ReadonlySet<string>;

/**
 * Live events for operators who `watch`: one subscription to the event log, held only while
 * someone watches, fanned out to the watchers of each event's conversation in commit order, in one
 * broadcast per event (encoded once for all of them). Operators see every event, `to`-addressed
 * ones included, as the application does.
 */
export class OperatorWatch {
  /** Socket id → what it watches. */
  private readonly watchers = new Map<string, Selection>();
  /** Sockets that watch every conversation. */
  private readonly everything = new Set<string>();
  /** Conversation id → sockets that watch it by name (never one of `everything`). */
  private readonly byConversation = new Map<string, Set<string>>();
  private unsubscribe: (() => void) | undefined;

  /** `fanout` is the operator namespace's broadcast to a list of socket ids. */
  constructor(
    private readonly source: CommittedSource,
    private readonly fanout: Fanout,
    private readonly logger: Logger,
  ) {}

  /** Sets what socket `id` receives from now on, replacing its earlier selection. */
  watch(id: string, selection: Selection): void {
    this.unwatch(id);
    this.watchers.set(id, selection);
    if (selection === 'all') {
      this.everything.add(id);
    } else {
      for (const conversationId of selection) {
        let set = this.byConversation.get(conversationId);
        if (!set) {
          set = new Set();
          this.byConversation.set(conversationId, set);
        }
        set.add(id);
      }
    }
    this.unsubscribe ??= this.source((event) => this.publish(event));
  }

  /** Stops socket `id` (harmless when it watches nothing); the last one out drops the log subscription. */
  unwatch(id: string): void {
    const selection = this.watchers.get(id);
    if (!selection) return;
    this.watchers.delete(id);
    if (selection === 'all') {
      this.everything.delete(id);
    } else {
      for (const conversationId of selection) {
        const set = this.byConversation.get(conversationId);
        set?.delete(id);
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
    if (this.everything.size === 0 && !targeted) return;
    // A socket is in `everything` or in conversations' sets, never both: none is named twice.
    const socketIds = [...this.everything];
    if (targeted) for (const id of targeted) socketIds.push(id);
    try {
      this.fanout(socketIds, event);
    } catch (err) {
      // A failing broadcast must not break the event log's announcement of the event.
      this.logger.warn({ err, conversation_id: event.conversation_id, event_id: event.id }, 'could not push an event to its watchers');
    }
  }
}
