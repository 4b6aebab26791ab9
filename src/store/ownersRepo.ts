import type { SqlDb } from './sqlDb.js';

/** Which node owns each conversation's media (see the `conversation_owners` migration). */
export class OwnersRepo {
  private readonly claimStmt;
  private readonly ownerStmt;
  private readonly releaseStmt;
  private readonly releaseNodeStmt;

  constructor(db: SqlDb) {
    // Takes the conversation for `node` unless a node whose lease still holds has it; returns the
    // row only when `node` is (now) the owner. One statement, so two nodes claiming at once cannot
    // both win.
    this.claimStmt = db.prepare<{ conversation_id: string; node: string; at: string; now: number }, { node_id: string }>(
      `INSERT INTO conversation_owners (conversation_id, node_id, since) VALUES (@conversation_id, @node, @at)
       ON CONFLICT (conversation_id) DO UPDATE SET node_id = excluded.node_id, since = excluded.since
       WHERE conversation_owners.node_id = excluded.node_id
          OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = conversation_owners.node_id AND n.state IN ('active', 'draining') AND n.lease_until >= @now)
       RETURNING node_id`,
    );
    this.ownerStmt = db.prepare<[string], { node_id: string }>('SELECT node_id FROM conversation_owners WHERE conversation_id = ?');
    this.releaseStmt = db.prepare<{ conversation_id: string; node: string }>(
      'DELETE FROM conversation_owners WHERE conversation_id = @conversation_id AND node_id = @node',
    );
    this.releaseNodeStmt = db.prepare<[string]>('DELETE FROM conversation_owners WHERE node_id = ?');
  }

  /** The conversation's owner after trying to take it for `node` (at `now`, ms since the epoch): `node` itself, or the live owner. */
  claim(conversationId: string, node: string, now: number): string {
    const won = this.claimStmt.get({ conversation_id: conversationId, node, at: new Date(now).toISOString(), now });
    if (won) return won.node_id;
    const owner = this.ownerStmt.get(conversationId);
    // Released between the two statements: try once more.
    return owner?.node_id ?? this.claimStmt.get({ conversation_id: conversationId, node, at: new Date(now).toISOString(), now })?.node_id ?? node;
  }

  /** Gives the conversation up if `node` owns it (its last leg there ended). */
  release(conversationId: string, node: string): void {
    this.releaseStmt.run({ conversation_id: conversationId, node });
  }

  /** Gives up everything `node` owned (it stopped, or was lost). */
  releaseAll(node: string): void {
    this.releaseNodeStmt.run(node);
  }
}
