import type { Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { ConversationEvent, Member } from '../domain/model.js';
import { isClientSendable, isCustomEventType, type AnyEventType } from '../events/catalogue.js';
import type { MemberPlace } from '../store/membersRepo.js';
import type { Page, Order } from '../store/page.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';

export interface PostEvent {
  type: string;
  body: unknown;
  /** Sender member id; required from the application, implied for users. */
  from?: string | undefined;
  to?: string | undefined;
}

export interface ListEvents {
  order: Order;
  size: number;
  after?: number | undefined;
  startId?: number | undefined;
  endId?: number | undefined;
  types?: readonly string[] | undefined;
}

/** Events that refer to another event, and the type that other event must have. */
const REFERS_TO: Partial<Record<string, string>> = {
  'text:seen': 'text',
  'text:delivered': 'text',
  'text:update': 'text',
  'image:seen': 'image',
  'image:delivered': 'image',
};

const DELETABLE = (type: string): boolean => type === 'text' || type === 'image' || isCustomEventType(type);

/** Conversation events as members and the application see them: list, send, delete. */
export class EventService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
  ) {}

  /**
   * Resolves once every write made so far is durable and announced (the store's group commit):
   * the interfaces answer a request only after this, so an acknowledged write survives a crash.
   */
  durable(): Promise<void> {
    return this.ctx.store.durable();
  }

  /** Whether every write so far is durable: what the store returns now is safe to send out. */
  get allDurable(): boolean {
    return this.ctx.store.allDurable;
  }

  list(conversationId: string, q: ListEvents, p: Principal): Page<ConversationEvent> {
    const { member } = this.access.readable(conversationId, p);
    return this.ctx.store.events.list({
      conversationId,
      order: q.order,
      size: q.size,
      ...(q.after !== undefined && { after: q.after }),
      ...(q.startId !== undefined && { startId: q.startId }),
      ...(q.endId !== undefined && { endId: q.endId }),
      ...(q.types !== undefined && { types: q.types }),
      ...(p.role === 'user' && member && { visibleTo: member.id }),
    });
  }

  get(conversationId: string, eventId: number, p: Principal): ConversationEvent {
    const { member } = this.access.readable(conversationId, p);
    const event = this.ctx.store.events.get(conversationId, eventId);
    if (!event || (p.role === 'user' && member && !visible(event, member.id))) {
      throw fail('EventNotFound', `event ${eventId} not found`);
    }
    return event;
  }

  /** The conversation's highest event id (0 when it has none). */
  lastId(conversationId: string): number {
    return this.ctx.store.events.lastId(conversationId);
  }

  /** Events after `since` that the member may see, for a socket's replay (in id order). */
  replay(conversationId: string, since: number, member: Member, p: Principal, batch: number): Page<ConversationEvent> {
    return this.ctx.store.events.list({
      conversationId,
      order: 'asc',
      size: batch,
      after: since,
      ...(p.role === 'user' && { visibleTo: member.id }),
    });
  }

  /** Sends a text, image, receipt, typing or custom event into the conversation. */
  post(conversationId: string, input: PostEvent, p: Principal): ConversationEvent {
    if (!isClientSendable(input.type)) {
      throw fail(
        'ValidationFailed',
        `events of type "${input.type}" cannot be sent; allowed: text, text:update, text:typing:on/off, text:seen, text:delivered, image, image:seen, image:delivered, custom:*`,
      );
    }
    const type = input.type as AnyEventType;
    const { store, log } = this.ctx;
    // No transaction around the checks: they only read, and nothing runs between them and the
    // append on this single connection; the append is atomic by itself.
    const member = this.access.placeIn(conversationId, p);
    const from = this.sender(conversationId, input.from, member, p);
    if (input.to !== undefined) {
      const to = store.members.place(input.to);
      if (to?.conversation_id !== conversationId || to.state === 'left') {
        throw fail('MemberNotFound', `member ${input.to} is not in this conversation`);
      }
    }
    this.checkReference(conversationId, type, input.body, from, p);
    return log.append({ conversation_id: conversationId, type, from, to: input.to, body: input.body });
  }

  /** Deletes a text, image or custom event: its body is blanked and `event:delete` is logged. */
  delete(conversationId: string, eventId: number, p: Principal): ConversationEvent {
    const { store, log, clock } = this.ctx;
    return store.transaction(() => {
      const { member } = this.access.readable(conversationId, p);
      const event = this.get(conversationId, eventId, p);
      if (!DELETABLE(event.type)) throw fail('InvalidState', `events of type "${event.type}" cannot be deleted`);
      if (event.deleted_at !== undefined) throw fail('InvalidState', `event ${eventId} is already deleted`);
      if (p.role !== 'application' && event.from !== member?.id) throw fail('Forbidden', 'only the sender may delete an event');
      const from = p.role === 'application' ? event.from : (member as Member).id;
      store.events.markDeleted(conversationId, eventId, clock.now().toISOString());
      return log.append({ conversation_id: conversationId, type: 'event:delete', from, body: { event_id: eventId } });
    });
  }

  private sender(conversationId: string, from: string | undefined, member: MemberPlace | undefined, p: Principal): string {
    if (p.role === 'application') {
      if (from === undefined) throw fail('ValidationFailed', 'from (a member id) is required');
      const sender = this.ctx.store.members.place(from);
      if (sender?.conversation_id !== conversationId || sender.state !== 'joined') {
        throw fail('MemberNotFound', `member ${from} is not joined to this conversation`);
      }
      return sender.id;
    }
    if (member?.state !== 'joined') throw fail('Forbidden', 'join the conversation before sending events');
    if (from !== undefined && from !== member.id) throw fail('Forbidden', 'cannot send as another member');
    return member.id;
  }

  private checkReference(conversationId: string, type: string, body: unknown, from: string, p: Principal): void {
    const wanted = REFERS_TO[type];
    if (wanted === undefined) return;
    const ref = (body as { event_id?: unknown } | null)?.event_id;
    // The catalogue's schema reports a missing or malformed id (422), rather than a lookup's 404.
    if (typeof ref !== 'number' || !Number.isSafeInteger(ref) || ref < 1) return;
    const target = this.ctx.store.events.get(conversationId, ref);
    if (target?.type !== wanted || (p.role === 'user' && !visible(target, from))) {
      throw fail('EventNotFound', `event ${ref} is not a ${wanted} event of this conversation`);
    }
    if (type === 'text:update') {
      if (target.deleted_at !== undefined) throw fail('InvalidState', `event ${ref} is deleted`);
      if (target.from !== from) throw fail('Forbidden', 'only the sender may update a text');
    }
  }
}

function visible(event: ConversationEvent, memberId: string): boolean {
  return event.to === undefined || event.to === memberId || event.from === memberId;
}
