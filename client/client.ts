import { Connection, type ConnectionChange, type ConnectionOptions, type ConnectionState } from './connection.js';
import { Emitter } from './emitter.js';
import { LegwayClientError } from './errors.js';
import { isEventEnvelope, type AnyEventType, type EventListener, type LegwayEvent } from './events.js';

export type ClientOptions = ConnectionOptions;

/** A conversation this client has joined. */
export interface Joined {
  conversation_id: string;
  member_id: string;
}

/** The gateway's answer to a knock (`conversation:knock`). */
export interface KnockingAnswer {
  knocking_id: string;
  conversation_id: string;
  admitted: boolean;
  member_id?: string;
}

/** The gateway's own SDP offer for one of this client's legs (renegotiation). */
export interface RtcOfferPush {
  leg_id: string;
  offer: { type: 'offer'; sdp: string };
}

interface Membership extends Joined {
  /** Highest event id received; a rejoin asks for everything after it. */
  last: number;
}

type ClientEvents = {
  /** Every event of every joined conversation, once each, in id order per conversation. */
  event: (event: LegwayEvent) => void;
  connection: (change: ConnectionChange) => void;
  /** A conversation could not be joined again after a reconnection (e.g. it was deleted meanwhile). */
  rejoinFailed: (conversationId: string, error: LegwayClientError) => void;
  knockingAnswer: (answer: KnockingAnswer) => void;
};

/**
 * A user's connection to the gateway's client namespace: join conversations and receive their
 * events, typed by event type. After a lost connection (network, gateway restart) it reconnects by
 * itself, joins its conversations again and replays every event after the last one it saw, none twice.
 */
export class LegwayClient {
  readonly connection: Connection;
  private readonly memberships = new Map<string, Membership>();
  /** Listeners by event type. */
  private readonly typed = new Emitter<Record<string, (event: LegwayEvent) => void>>();
  private readonly offers = new Map<string, (push: RtcOfferPush) => void>();
  private readonly emitter = new Emitter<ClientEvents>();

  private constructor(options: ClientOptions) {
    this.connection = new Connection('/', options);
    this.connection.on('change', (change) => this.emitter.emit('connection', change));
    this.connection.on('connect', (first) => {
      if (!first) void this.rejoin();
    });
    this.connection.socket.onAny((name: unknown, payload: unknown) => this.receive(name, payload));
  }

  /** Connects with a token; rejects with `Unauthorized` (and the gateway's reason) when refused. */
  static async connect(options: ClientOptions): Promise<LegwayClient> {
    const client = new LegwayClient(options);
    await client.connection.open();
    return client;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Listens to one event type (`'member:joined'`, `'text'`, `'custom:x'`…); returns the remover. */
  on<T extends AnyEventType>(type: T, listener: EventListener<T>): () => void {
    return this.typed.on(type, listener as unknown as (event: LegwayEvent) => void);
  }

  /** Listens to every event, to connection changes, failed rejoins or knock answers. */
  onAny(listener: ClientEvents['event']): () => void {
    return this.emitter.on('event', listener);
  }
  onConnection(listener: ClientEvents['connection']): () => void {
    return this.emitter.on('connection', listener);
  }
  onRejoinFailed(listener: ClientEvents['rejoinFailed']): () => void {
    return this.emitter.on('rejoinFailed', listener);
  }
  onKnockingAnswer(listener: ClientEvents['knockingAnswer']): () => void {
    return this.emitter.on('knockingAnswer', listener);
  }

  /**
   * Joins a conversation by name or id. Events after `since` are replayed first (default: none,
   * only what happens from now on, starting with this member's `member:joined`).
   */
  async join(conversation: string, options: { since?: number } = {}): Promise<Joined> {
    const ack = await this.connection.request('conversation:join', {
      conversation_id: conversation,
      ...(options.since !== undefined && { since: options.since }),
    });
    const joined = { conversation_id: String(ack.conversation_id), member_id: String(ack.member_id) };
    const existing = this.memberships.get(joined.conversation_id);
    const start = typeof ack.since === 'number' ? ack.since : (options.since ?? 0);
    this.memberships.set(joined.conversation_id, { ...joined, last: Math.max(existing?.last ?? 0, start) });
    return joined;
  }

  /** Leaves a conversation: this member leaves it, its events stop. */
  async leave(conversationId: string): Promise<void> {
    await this.connection.request('conversation:leave', { conversation_id: conversationId });
    this.memberships.delete(conversationId);
  }

  /** Conversations joined, with this client's member in each. */
  get joined(): Joined[] {
    return [...this.memberships.values()].map(({ conversation_id, member_id }) => ({ conversation_id, member_id }));
  }

  /** The last event id received in a conversation (what a replay starts after). */
  lastEventId(conversationId: string): number | undefined {
    return this.memberships.get(conversationId)?.last;
  }

  /** Sends an event (`text`, `text:typing:on`, `custom:*`…); resolves with the logged event. */
  async send(conversationId: string, type: string, body: unknown, to?: string): Promise<LegwayEvent> {
    const ack = await this.connection.request('event:send', { conversation_id: conversationId, type, body, ...(to !== undefined && { to }) });
    return ack.event as LegwayEvent;
  }

  /** Sends a text message. */
  async sendText(conversationId: string, text: string): Promise<LegwayEvent<'text'>> {
    return (await this.send(conversationId, 'text', { text })) as LegwayEvent<'text'>;
  }

  /** Knocks at a conversation this user may not join by itself; the answer comes to `onKnockingAnswer`. */
  async knock(conversation: string): Promise<{ knocking_id: string; conversation_id: string }> {
    const ack = await this.connection.request('conversation:knock', { conversation_id: conversation });
    return { knocking_id: String(ack.knocking_id), conversation_id: String(ack.conversation_id) };
  }

  /** Sends a request of the client namespace (see the socket protocol in README.md). */
  async request(name: string, payload: unknown): Promise<Record<string, unknown>> {
    return this.connection.request(name, payload);
  }

  /** Routes the gateway's renegotiation offers for a leg to `handler` (used by `Call`). */
  handleOffers(legId: string, handler: (push: RtcOfferPush) => void): () => void {
    this.offers.set(legId, handler);
    return () => {
      if (this.offers.get(legId) === handler) this.offers.delete(legId);
    };
  }

  /** Disconnects for good. */
  close(): void {
    this.connection.close();
  }

  private receive(name: unknown, payload: unknown): void {
    if (name === 'knocking:answer') {
      this.emitter.emit('knockingAnswer', payload as KnockingAnswer);
      return;
    }
    if (name === 'rtc:offer' && typeof payload === 'object' && payload !== null && 'offer' in payload) {
      const push = payload as RtcOfferPush;
      this.offers.get(push.leg_id)?.(push);
      return;
    }
    if (!isEventEnvelope(payload) || payload.type !== name) return;
    const membership = this.memberships.get(payload.conversation_id);
    if (membership) {
      // A replay after reconnecting may overlap what arrived before the connection dropped.
      if (payload.id <= membership.last) return;
      membership.last = payload.id;
      // This member's own departure (or the conversation's end) ends the membership: never rejoin it.
      const leftMember = payload.type === 'member:left' ? (payload.body as { member_id?: unknown }).member_id : undefined;
      if (payload.type === 'conversation:deleted' || leftMember === membership.member_id) {
        this.memberships.delete(payload.conversation_id);
      }
    }
    this.emitter.emit('event', payload);
    this.typed.emit(payload.type, payload);
  }

  private async rejoin(): Promise<void> {
    for (const membership of [...this.memberships.values()]) {
      try {
        await this.connection.request('conversation:join', { conversation_id: membership.conversation_id, since: membership.last });
      } catch (err) {
        // A dropped connection or a slow gateway: the next connection tries again.
        if (!(err instanceof LegwayClientError) || err.code === 'Disconnected' || err.code === 'Timeout') return;
        this.memberships.delete(membership.conversation_id);
        this.emitter.emit('rejoinFailed', membership.conversation_id, err);
      }
    }
  }
}
