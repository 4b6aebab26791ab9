import type { Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import { CONVERSATION_DELETED, SYSTEM_ORIGIN, type Conversation, type ConversationProperties } from '../domain/model.js';
import { newConversationId } from '../lib/ids.js';
import type { Page, PageRequest } from '../store/page.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { LegTermination } from './legService.js';
import type { MemberService } from './memberService.js';

export interface CreateConversation {
  name?: string | undefined;
  display_name?: string | undefined;
  properties?: ConversationProperties | undefined;
}

export interface UpdateConversation {
  name?: string | undefined;
  display_name?: string | undefined;
  properties?: ConversationProperties | undefined;
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err as { code: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Conversations: create, read, update, delete, and the ttl sweep of empty ones. */
export class ConversationService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly members: MemberService,
    private readonly legs: LegTermination,
  ) {}

  create(input: CreateConversation, p: Principal): Conversation {
    this.access.requireApplication(p, 'creating a conversation');
    const { store, log, clock } = this.ctx;
    const id = newConversationId();
    const now = clock.now().toISOString();
    const conversation: Conversation = {
      id,
      name: input.name ?? id,
      state: 'active',
      properties: input.properties ?? {},
      timestamp: { created: now },
    };
    if (input.display_name !== undefined) conversation.display_name = input.display_name;
    try {
      store.transaction(() => {
        store.conversations.insert({ ...conversation, created_at: now });
        log.append({ conversation_id: id, type: 'conversation:created', from: SYSTEM_ORIGIN, body: conversation });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw fail('ConversationNameTaken', `a conversation named "${conversation.name}" exists`);
      throw err;
    }
    return conversation;
  }

  get(id: string, p: Principal): Conversation {
    return this.access.readable(id, p).conversation;
  }

  /** Looks a conversation up by id, or by its name when the argument is not an id. */
  resolve(idOrName: string): Conversation | undefined {
    const c = idOrName.startsWith('CON-') ? this.ctx.store.conversations.get(idOrName) : undefined;
    if (c?.state === 'active') return c;
    return this.ctx.store.conversations.getActiveByName(idOrName);
  }

  list(page: PageRequest, p: Principal): Page<Conversation> {
    if (p.role === 'application' || p.role === 'operator') return this.ctx.store.conversations.list(page);
    const user = this.ctx.store.users.getByName(p.sub);
    if (!user) return { items: [] };
    return this.ctx.store.conversations.list(page, user.id);
  }

  update(id: string, patch: UpdateConversation, p: Principal): Conversation {
    this.access.requireApplication(p, 'updating a conversation');
    const { store, log, clock } = this.ctx;
    try {
      return store.transaction(() => {
        const current = this.access.conversation(id);
        const next: Conversation = {
          ...current,
          name: patch.name ?? current.name,
          properties: patch.properties ?? current.properties,
        };
        if (patch.display_name !== undefined) next.display_name = patch.display_name;
        const now = clock.now().toISOString();
        next.timestamp = { ...current.timestamp, updated: now };
        store.conversations.update(next, now);
        log.append({ conversation_id: id, type: 'conversation:updated', from: SYSTEM_ORIGIN, body: next });
        return next;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw fail('ConversationNameTaken', `a conversation named "${patch.name ?? ''}" exists`);
      throw err;
    }
  }

  /** Deletes: every current member leaves, then `conversation:deleted` closes the log. */
  delete(id: string, p: Principal): void {
    this.access.requireApplication(p, 'deleting a conversation');
    this.destroy(id);
  }

  private destroy(id: string): void {
    const { store, log, clock } = this.ctx;
    store.transaction(() => {
      const current = this.access.conversation(id);
      this.legs.terminateConversation(id, CONVERSATION_DELETED);
      this.members.removeAll(id, CONVERSATION_DELETED);
      const now = clock.now().toISOString();
      store.conversations.markDeleted(id, now);
      log.append({
        conversation_id: id,
        type: 'conversation:deleted',
        from: SYSTEM_ORIGIN,
        body: { id, name: current.name, timestamp: { destroyed: now } },
      });
    });
  }

  /** Deletes conversations that have been empty for longer than their `properties.ttl`. */
  sweepExpired(): string[] {
    const expired = this.ctx.store.conversations.expired(this.ctx.clock.now().toISOString());
    for (const id of expired) {
      try {
        this.destroy(id);
      } catch (err) {
        this.ctx.logger.warn({ err, conversation_id: id }, 'ttl sweep could not delete conversation');
      }
    }
    return expired;
  }
}
