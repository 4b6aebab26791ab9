import type { Member, MemberChannel, MemberMedia, MemberState } from '../domain/model.js';
import { compact, readJson } from './json.js';
import type { Page, PageRequest } from './page.js';
import type { Dialect, SqlDb } from './sqlDb.js';

interface Row {
  seq: number;
  id: string;
  conversation_id: string;
  user_id: string;
  user_name: string;
  user_display_name: string | null;
  state: MemberState;
  channel: string;
  media: string;
  invited_at: string | null;
  joined_at: string | null;
  left_at: string | null;
  initiator: string | null;
}

function toMember(row: Row): Member {
  return compact({
    id: row.id,
    conversation_id: row.conversation_id,
    user: compact({ id: row.user_id, name: row.user_name, display_name: row.user_display_name }),
    state: row.state,
    channel: readJson<MemberChannel>(row.channel),
    media: readJson<MemberMedia>(row.media),
    timestamp: compact({ invited: row.invited_at, joined: row.joined_at, left: row.left_at }),
    initiator: row.initiator,
  });
}

/** Where a member is, and whether it is in: `MembersRepo.place`. */
export interface MemberPlace {
  id: string;
  conversation_id: string;
  state: MemberState;
}

const SELECT = `SELECT m.*, u.name AS user_name, u.display_name AS user_display_name
  FROM members m JOIN users u ON u.id = m.user_id`;

/** Members table: a user's (or channel's) presence in one conversation. */
export class MembersRepo {
  private readonly byId;
  private readonly currentByUser;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly pageAsc;
  private readonly pageDesc;
  private readonly currentInConversation;
  private readonly anyJoined;
  private readonly placeById;
  private readonly currentPlaceByName;
  private readonly currentCount;
  private readonly mediaStmt;

  constructor(db: SqlDb, dialect: Dialect) {
    // SQLite's planner is told which index to take; PostgreSQL's has statistics and takes the partial index by itself.
    const current = dialect === 'sqlite' ? 'INDEXED BY members_current ' : '';
    this.byId = db.prepare<[string], Row>(`${SELECT} WHERE m.id = ?`);
    this.currentByUser = db.prepare<[string, string], Row>(`${SELECT} WHERE m.conversation_id = ? AND m.user_id = ? AND m.state != 'left'`);
    this.insertStmt = db.prepare(
      `INSERT INTO members (id, conversation_id, user_id, state, channel, media, invited_at, joined_at, initiator)
       VALUES (@id, @conversation_id, @user_id, @state, @channel, @media, @invited_at, @joined_at, @initiator)`,
    );
    this.updateStmt = db.prepare(
      `UPDATE members SET state = @state, media = @media, invited_at = @invited_at, joined_at = @joined_at, left_at = @left_at
       WHERE id = @id`,
    );
    this.pageAsc = db.prepare<{ conversation_id: string; after: number; limit: number }, Row>(
      `${SELECT} WHERE m.conversation_id = @conversation_id AND m.seq > @after ORDER BY m.seq ASC LIMIT @limit`,
    );
    this.pageDesc = db.prepare<{ conversation_id: string; after: number; limit: number }, Row>(
      `${SELECT} WHERE m.conversation_id = @conversation_id AND m.seq < @after ORDER BY m.seq DESC LIMIT @limit`,
    );
    // Current members come from the partial index of current members: left ones pile up in a busy
    // conversation (every call its member), and SQLite would otherwise walk all of them.
    this.currentInConversation = db.prepare<[string], Row>(
      `SELECT m.*, u.name AS user_name, u.display_name AS user_display_name
       FROM members m ${current}JOIN users u ON u.id = m.user_id
       WHERE m.conversation_id = ? AND m.state != 'left' ORDER BY m.seq`,
    );
    this.anyJoined = db.prepare<[string], { joined: number }>(
      `SELECT EXISTS (SELECT 1 FROM members ${current}WHERE conversation_id = ? AND state != 'left' AND state = 'joined') AS joined`,
    );
    this.placeById = db.prepare<[string], MemberPlace>('SELECT id, conversation_id, state FROM members WHERE id = ?');
    this.currentPlaceByName = db.prepare<[string, string], MemberPlace>(
      `SELECT m.id, m.conversation_id, m.state FROM members m JOIN users u ON u.id = m.user_id
       WHERE m.conversation_id = ? AND u.name = ? AND m.state != 'left'`,
    );
    this.currentCount = db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM members ${current}WHERE conversation_id = ? AND state != 'left'`);
    this.mediaStmt = db.prepare("UPDATE members SET media = @media WHERE id = @id AND state != 'left'");
  }

  get(id: string): Member | undefined {
    const row = this.byId.get(id);
    return row ? toMember(row) : undefined;
  }

  /** A member's conversation and state only: what a hot path checks, without the joins and JSON of `get`. */
  place(id: string): MemberPlace | undefined {
    return this.placeById.get(id);
  }

  /** The id and state of the named user's member in the conversation that has not left, if any. */
  currentPlace(conversationId: string, userName: string): MemberPlace | undefined {
    return this.currentPlaceByName.get(conversationId, userName);
  }

  /** The user's member in the conversation that has not left, if any. */
  current(conversationId: string, userId: string): Member | undefined {
    const row = this.currentByUser.get(conversationId, userId);
    return row ? toMember(row) : undefined;
  }

  /** Every member of the conversation that has not left. */
  currentMembers(conversationId: string): Member[] {
    return this.currentInConversation.all(conversationId).map(toMember);
  }

  /** Whether a member of the conversation is joined. */
  hasJoined(conversationId: string): boolean {
    return this.anyJoined.get(conversationId)?.joined === 1;
  }

  /** How many members of the conversation have not left (invited and joined). */
  countCurrent(conversationId: string): number {
    return this.currentCount.get(conversationId)?.n ?? 0;
  }

  insert(m: Member): void {
    this.insertStmt.run({
      id: m.id,
      conversation_id: m.conversation_id,
      user_id: m.user.id,
      state: m.state,
      channel: JSON.stringify(m.channel),
      media: JSON.stringify(m.media),
      invited_at: m.timestamp.invited ?? null,
      joined_at: m.timestamp.joined ?? null,
      initiator: m.initiator ?? null,
    });
  }

  /** Writes state, media and timestamps of an existing member. */
  update(m: Member): void {
    this.updateStmt.run({
      id: m.id,
      state: m.state,
      media: JSON.stringify(m.media),
      invited_at: m.timestamp.invited ?? null,
      joined_at: m.timestamp.joined ?? null,
      left_at: m.timestamp.left ?? null,
    });
  }

  /** Writes the media state of a member that has not left (nothing for one that has). */
  setMedia(id: string, media: MemberMedia): void {
    this.mediaStmt.run({ id, media: JSON.stringify(media) });
  }

  list(conversationId: string, page: PageRequest): Page<Member> {
    const asc = page.order === 'asc';
    const stmt = asc ? this.pageAsc : this.pageDesc;
    const after = page.after ?? (asc ? 0 : Number.MAX_SAFE_INTEGER);
    const rows = stmt.all({ conversation_id: conversationId, after, limit: page.size + 1 });
    const items = rows.slice(0, page.size);
    const result: Page<Member> = { items: items.map(toMember) };
    const last = items.at(-1);
    if (rows.length > page.size && last) result.next = last.seq;
    return result;
  }
}
