import type { Logger } from 'pino';
import { z } from 'zod';
import type { ConversationEvent } from '../../domain/model.js';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import type { CommittedSource } from './operatorWatch.js';

/** The inter-server message that carries a committed event to the other nodes. */
export const RELAYED_EVENT = 'legway:committed';

/** What a node accepts as a relayed event: the envelope's fields, typed; the body is an object. */
const relayedEvent = z.object({
  id: z.number().int().positive(),
  type: z.string().min(1).max(200),
  from: z.string().min(1).max(200),
  to: z.string().min(1).max(200).optional(),
  timestamp: z.string().min(1).max(64),
  body: z.record(z.string(), z.unknown()),
  conversation_id: z.string().min(1).max(200),
  deleted_at: z.string().max(64).optional(),
});

/** The part of socket.io's server the relay uses: server-side messages through its adapter. */
export interface RelayIo {
  serverSideEmit(event: typeof RELAYED_EVENT, payload: ConversationEvent): unknown;
  on(event: typeof RELAYED_EVENT, listener: (payload: unknown) => void): unknown;
}

interface Events {
  [key: string]: unknown[];
  event: [ConversationEvent];
}

/**
 * The committed events of every node of the cluster, for the subscribers of this node's sockets
 * (the conversation feed, the operators' watch): this node's own as its event log announces them,
 * and the other nodes' as relayed through socket.io's Redis adapter. Relayed events may arrive out
 * of id order between nodes; the feed fills any gap from the store. A single gateway has no relay
 * and sees its own events only.
 */
export class CommittedEvents {
  private readonly emitter: TypedEmitter<Events>;
  private relay: RelayIo | undefined;
  /** Relayed messages refused as malformed (never expected from a legway node). */
  refused = 0;

  constructor(private readonly logger: Logger) {
    this.emitter = new TypedEmitter<Events>((err) => logger.error({ err }, 'committed-event listener failed'));
  }

  /** Subscribes to every node's committed events; returns the unsubscribe function. */
  readonly subscribe: CommittedSource = (listener) => this.emitter.on('event', listener);

  /** Subscribers right now (the feed, and the operators' watch while anyone watches). */
  get listenerCount(): number {
    return this.emitter.listenerCount('event');
  }

  /** Sends this node's events to the other nodes through `io`, and takes theirs in. */
  relayThrough(io: RelayIo): void {
    this.relay = io;
    io.on(RELAYED_EVENT, (payload) => {
      const parsed = relayedEvent.safeParse(payload);
      if (!parsed.success) {
        this.refused++;
        this.logger.warn({ issues: parsed.error.issues.length }, 'refused a malformed event relayed by another node');
        return;
      }
      this.emitter.emit('event', parsed.data as ConversationEvent);
    });
  }

  /** An event this node committed: to its own subscribers, then to the other nodes. */
  local(event: ConversationEvent): void {
    this.emitter.emit('event', event);
    try {
      this.relay?.serverSideEmit(RELAYED_EVENT, event);
    } catch (err) {
      // The others' feeds fill the gap from the store with their next event.
      this.logger.warn({ err, conversation_id: event.conversation_id, event_id: event.id }, 'could not relay an event to the other nodes');
    }
  }
}
