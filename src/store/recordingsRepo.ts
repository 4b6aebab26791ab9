import { compact } from './json.js';
import type { SqlDb } from './sqlDb.js';

export type RecordingStatus = 'recording' | 'done' | 'failed';
export type RecordingFormat = 'wav';

/** A recording as stored: `path` is relative to the data folder's `recordings/` and never leaves the server. */
export interface StoredRecording {
  id: string;
  conversation_id: string;
  /** The recorded leg; absent for a recording of the conversation mix. */
  leg_id?: string;
  format: RecordingFormat;
  path: string;
  status: RecordingStatus;
  started_at: string;
  ended_at?: string;
  duration_ms?: number;
  size_bytes?: number;
  /** Who asked for it: `application` or the operator's or user's name. */
  created_by: string;
}

export interface NewRecording {
  id: string;
  conversation_id: string;
  leg_id?: string | undefined;
  format: RecordingFormat;
  path: string;
  started_at: string;
  created_by: string;
}

export interface FinishedRecording {
  duration_ms: number;
  size_bytes: number;
  ended: string;
}

interface Row {
  id: string;
  conversation_id: string;
  leg_id: string | null;
  format: RecordingFormat;
  path: string;
  status: RecordingStatus;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  created_by: string;
  node_id?: string | null;
}

/** The node that records is the store's business, not the API's. */
function toRecording(row: Row): StoredRecording {
  const recording = { ...row };
  delete recording.node_id;
  return compact(recording);
}

/** Recordings table: metadata of recording files; synchronous, for use inside the caller's transaction. */
export class RecordingsRepo {
  private readonly insertStmt;
  private readonly finishStmt;
  private readonly failStmt;
  private readonly deleteStmt;
  private readonly byId;
  private readonly byConversation;
  private readonly unfinished;

  /** `nodeId`: the node whose data folder holds the files this store's recordings write. */
  constructor(
    db: SqlDb,
    private readonly nodeId: string,
  ) {
    this.insertStmt = db.prepare(
      `INSERT INTO recordings (id, conversation_id, leg_id, format, path, status, started_at, created_by, node_id)
       VALUES (@id, @conversation_id, @leg_id, @format, @path, 'recording', @started_at, @created_by, @node_id)`,
    );
    this.finishStmt = db.prepare(
      `UPDATE recordings SET status = 'done', ended_at = @ended, duration_ms = @duration_ms, size_bytes = @size_bytes
       WHERE id = @id AND status = 'recording'`,
    );
    this.failStmt = db.prepare("UPDATE recordings SET status = 'failed', ended_at = @ended WHERE id = @id AND status = 'recording'");
    this.deleteStmt = db.prepare('DELETE FROM recordings WHERE id = ?');
    this.byId = db.prepare<[string], Row>('SELECT * FROM recordings WHERE id = ?');
    this.byConversation = db.prepare<[string], Row>('SELECT * FROM recordings WHERE conversation_id = ? ORDER BY started_at, id');
    // Recordings from before nodes were recorded (node_id NULL) belong to whichever node opens the store.
    this.unfinished = db.prepare<[string], Row>("SELECT * FROM recordings WHERE status = 'recording' AND (node_id = ? OR node_id IS NULL) ORDER BY started_at");
  }

  insert(r: NewRecording): void {
    this.insertStmt.run({ ...r, leg_id: r.leg_id ?? null, node_id: this.nodeId });
  }

  get(id: string): StoredRecording | undefined {
    const row = this.byId.get(id);
    return row ? toRecording(row) : undefined;
  }

  /** Marks a running recording done with its final duration and size; false if it was not running. */
  finish(id: string, f: FinishedRecording): boolean {
    return this.finishStmt.run({ id, ...f }).changes > 0;
  }

  /** Marks a running recording failed; false if it was not running. */
  markFailed(id: string, ended: string): boolean {
    return this.failStmt.run({ id, ended }).changes > 0;
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes > 0;
  }

  listByConversation(conversationId: string): StoredRecording[] {
    return this.byConversation.all(conversationId).map(toRecording);
  }

  /** This node's recordings still marked running (at startup: those its last run never finished). */
  listUnfinished(): StoredRecording[] {
    return this.unfinished.all(this.nodeId).map(toRecording);
  }
}
