import type { SqlDb } from './sqlDb.js';

/** `ringing`: an outbound SIP call that the far end announced (180/183). */
export type LegStatus = 'answering' | 'ringing' | 'connecting' | 'connected' | 'ending' | 'ended';

/** A leg as stored and as the API shows it. */
export interface Leg {
  id: string;
  conversation_id: string;
  member_id: string;
  type: 'webrtc' | 'sip';
  direction: 'inbound' | 'outbound';
  status: LegStatus;
  media: { muted: boolean; earmuffed: boolean; video_muted: boolean };
  timestamp: { created: string; updated?: string; ended?: string };
  end_reason?: string;
}

interface Row {
  id: string;
  conversation_id: string;
  member_id: string;
  type: 'webrtc' | 'sip';
  direction: 'inbound' | 'outbound';
  status: LegStatus;
  data: string;
  created_at: string;
  updated_at: string | null;
  ended_at: string | null;
}

interface LegData {
  media?: Leg['media'];
  end_reason?: string;
}

const NO_MEDIA = { muted: false, earmuffed: false, video_muted: false };

function toLeg(row: Row): Leg {
  const data = JSON.parse(row.data) as LegData;
  const leg: Leg = {
    id: row.id,
    conversation_id: row.conversation_id,
    member_id: row.member_id,
    type: row.type,
    direction: row.direction,
    status: row.status,
    media: data.media ?? { ...NO_MEDIA },
    timestamp: { created: row.created_at },
  };
  if (row.updated_at !== null) leg.timestamp.updated = row.updated_at;
  if (row.ended_at !== null) leg.timestamp.ended = row.ended_at;
  if (data.end_reason !== undefined) leg.end_reason = data.end_reason;
  return leg;
}

/** Legs table: one row per media connection of a member, kept after it ends. */
export class LegsRepo {
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly moveStmt;
  private readonly byId;
  private readonly byConversation;
  private readonly unfinished;
  private readonly runningPerNode;
  private readonly nodeOfStmt;

  /** `nodeId`: the node this store's legs run on (legs record it, so another node can end them if this one is lost). */
  constructor(
    db: SqlDb,
    private readonly nodeId: string,
  ) {
    this.insertStmt = db.prepare(
      `INSERT INTO legs (id, conversation_id, member_id, type, direction, status, data, created_at, node_id)
       VALUES (@id, @conversation_id, @member_id, @type, @direction, @status, @data, @created_at, @node_id)`,
    );
    // A status change leaves conversation_id out of its SET list, so SQLite does not rewrite the leg's entry in legs_by_conversation.
    this.updateStmt = db.prepare('UPDATE legs SET status = @status, data = @data, updated_at = @at, ended_at = @ended_at WHERE id = @id');
    this.moveStmt = db.prepare(
      'UPDATE legs SET conversation_id = @conversation_id, member_id = @member_id, status = @status, data = @data, updated_at = @at, ended_at = @ended_at WHERE id = @id',
    );
    this.byId = db.prepare<[string], Row>('SELECT * FROM legs WHERE id = ?');
    this.byConversation = db.prepare<[string], Row>('SELECT * FROM legs WHERE conversation_id = ? ORDER BY created_at, id');
    // Legs from before nodes were recorded (node_id NULL) belong to whichever node opens the store.
    this.unfinished = db.prepare<[string], Row>("SELECT * FROM legs WHERE status != 'ended' AND (node_id = ? OR node_id IS NULL)");
    this.nodeOfStmt = db.prepare<[string], string | null>('SELECT node_id FROM legs WHERE id = ?').pluck();
    this.runningPerNode = db.prepare<[], { node_id: string | null; legs: number; conversations: number }>(
      "SELECT node_id, COUNT(*) AS legs, COUNT(DISTINCT conversation_id) AS conversations FROM legs WHERE status != 'ended' GROUP BY node_id",
    );
  }

  insert(leg: Leg): void {
    this.insertStmt.run({
      id: leg.id,
      conversation_id: leg.conversation_id,
      member_id: leg.member_id,
      type: leg.type,
      direction: leg.direction,
      status: leg.status,
      data: JSON.stringify({ media: leg.media }),
      created_at: leg.timestamp.created,
      node_id: this.nodeId,
    });
  }

  /** Writes status, media state and (when ended) the end time and reason. */
  update(leg: Leg, at: string): void {
    this.updateStmt.run({ id: leg.id, ...this.stateOf(leg), at });
  }

  /** Writes what `update` writes and, after a transfer, the leg's new conversation and member. */
  move(leg: Leg, at: string): void {
    this.moveStmt.run({ id: leg.id, conversation_id: leg.conversation_id, member_id: leg.member_id, ...this.stateOf(leg), at });
  }

  private stateOf(leg: Leg): { status: Leg['status']; data: string; ended_at: string | null } {
    const data: LegData = { media: leg.media };
    if (leg.end_reason !== undefined) data.end_reason = leg.end_reason;
    return { status: leg.status, data: JSON.stringify(data), ended_at: leg.timestamp.ended ?? null };
  }

  get(id: string): Leg | undefined {
    const row = this.byId.get(id);
    return row ? toLeg(row) : undefined;
  }

  listByConversation(conversationId: string): Leg[] {
    return this.byConversation.all(conversationId).map(toLeg);
  }

  /** Legs of `nodeId` (this node by default) that were not ended when it last stopped, or when it was lost. */
  listUnfinished(nodeId = this.nodeId): Leg[] {
    return this.unfinished.all(nodeId).map(toLeg);
  }

  /** The node that runs (or ran) the leg; undefined for no such leg or one from before nodes were recorded. */
  nodeOf(legId: string): string | undefined {
    return this.nodeOfStmt.get(legId) ?? undefined;
  }

  /** Legs not ended and the conversations they are in, per node (`null`: legs from before nodes were recorded). */
  countRunningPerNode(): Map<string | null, { legs: number; conversations: number }> {
    return new Map(this.runningPerNode.all().map((r) => [r.node_id, { legs: r.legs, conversations: r.conversations }]));
  }
}
