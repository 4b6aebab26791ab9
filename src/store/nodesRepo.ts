import type { SqlDb } from './sqlDb.js';

/** `draining`: finishing its calls and taking no new ones; `lost`: its lease lapsed and another node ended its legs. */
export type NodeState = 'active' | 'draining' | 'stopped' | 'lost';

/** A gateway node of the cluster sharing this store. Times are milliseconds since the epoch. */
export interface NodeRecord {
  id: string;
  state: NodeState;
  /** Where its HTTP and socket.io listen, as other nodes and operators reach it. */
  http_url: string;
  /** `host:port` of its SIP listener, none when SIP is off. */
  sip_address: string | null;
  /** The address it announces for media. */
  media_ip: string | null;
  started_at: string;
  /** Its lease runs until then unless renewed. */
  lease_until: number;
}

/** The cluster's nodes and their leases (a single gateway is a cluster of one). */
export class NodesRepo {
  private readonly upsertStmt;
  private readonly renewStmt;
  private readonly stateStmt;
  private readonly byId;
  private readonly all;
  private readonly lapsedStmt;
  private readonly markLostStmt;

  constructor(db: SqlDb) {
    // A node that starts again under its id takes its row back, whatever became of it meanwhile.
    this.upsertStmt = db.prepare(
      `INSERT INTO nodes (id, state, http_url, sip_address, media_ip, started_at, lease_until)
       VALUES (@id, 'active', @http_url, @sip_address, @media_ip, @started_at, @lease_until)
       ON CONFLICT (id) DO UPDATE SET state = 'active', http_url = excluded.http_url, sip_address = excluded.sip_address,
         media_ip = excluded.media_ip, started_at = excluded.started_at, lease_until = excluded.lease_until`,
    );
    // A lost node is not revived by a late renewal: its legs were ended for it.
    this.renewStmt = db.prepare<{ id: string; lease_until: number }, { state: NodeState }>(
      `UPDATE nodes SET lease_until = @lease_until WHERE id = @id AND state IN ('active', 'draining') RETURNING state`,
    );
    this.stateStmt = db.prepare<{ id: string; state: NodeState }>('UPDATE nodes SET state = @state WHERE id = @id');
    this.byId = db.prepare<[string], NodeRecord>('SELECT * FROM nodes WHERE id = ?');
    this.all = db.prepare<[], NodeRecord>('SELECT * FROM nodes ORDER BY id');
    this.lapsedStmt = db.prepare<[number], NodeRecord>("SELECT * FROM nodes WHERE state IN ('active', 'draining') AND lease_until < ? ORDER BY id");
    this.markLostStmt = db.prepare<{ id: string; now: number }>(
      "UPDATE nodes SET state = 'lost' WHERE id = @id AND state IN ('active', 'draining') AND lease_until < @now",
    );
  }

  /** Records this node as active with a fresh lease (at start). */
  register(node: Omit<NodeRecord, 'state'>): void {
    this.upsertStmt.run(node);
  }

  /** Extends the node's lease; returns its state (it may have been set to draining), or undefined when it is stopped or lost. */
  renew(id: string, leaseUntil: number): NodeState | undefined {
    return this.renewStmt.get({ id, lease_until: leaseUntil })?.state;
  }

  setState(id: string, state: NodeState): void {
    this.stateStmt.run({ id, state });
  }

  get(id: string): NodeRecord | undefined {
    return this.byId.get(id);
  }

  list(): NodeRecord[] {
    return this.all.all();
  }

  /** Nodes still counted as running whose lease ran out before `now`. */
  lapsed(now: number): NodeRecord[] {
    return this.lapsedStmt.all(now);
  }

  /**
   * Marks a lapsed node lost; true for the one caller that did so (when several nodes see the lapse
   * at once, only one ends the lost node's legs).
   */
  markLost(id: string, now: number): boolean {
    return this.markLostStmt.run({ id, now }).changes > 0;
  }
}
