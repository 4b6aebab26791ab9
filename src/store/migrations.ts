import type { Database } from 'better-sqlite3';

/**
 * The triggers that keep webhook_heads in step with webhook_outbox (migration 4); migration 8, which
 * rebuilds the outbox table, creates them again on the new table.
 */
const OUTBOX_HEAD_TRIGGERS = `
  -- A new entry carries the highest seq: it is the head only of a conversation that has none.
  CREATE TRIGGER webhook_heads_after_insert AFTER INSERT ON webhook_outbox WHEN NEW.state = 'pending'
  BEGIN
    INSERT OR IGNORE INTO webhook_heads (conversation_id, seq, next_attempt_at) VALUES (NEW.conversation_id, NEW.seq, NEW.next_attempt_at);
  END;

  -- Delivered: when it was the head, the conversation's next pending entry (if any) takes its place.
  CREATE TRIGGER webhook_heads_after_delete AFTER DELETE ON webhook_outbox WHEN OLD.state = 'pending'
  BEGIN
    DELETE FROM webhook_heads WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq;
    INSERT OR IGNORE INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = OLD.conversation_id ORDER BY seq LIMIT 1;
  END;

  -- Retried, parked or replayed: the conversation's head is its lowest pending entry again.
  CREATE TRIGGER webhook_heads_after_update AFTER UPDATE OF state, next_attempt_at ON webhook_outbox
  BEGIN
    DELETE FROM webhook_heads WHERE conversation_id = NEW.conversation_id;
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = NEW.conversation_id ORDER BY seq LIMIT 1;
  END;
`;

/** Ordered schema migrations; `PRAGMA user_version` records how many have run. Never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE conversations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_name TEXT,
    state TEXT NOT NULL CHECK (state IN ('active', 'deleted')),
    properties TEXT NOT NULL DEFAULT '{}',
    last_event_id INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    destroyed_at TEXT,
    idle_since TEXT
  );
  CREATE UNIQUE INDEX conversations_active_name ON conversations (name) WHERE state = 'active';

  CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    created_at TEXT NOT NULL
  );

  CREATE TABLE members (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    state TEXT NOT NULL CHECK (state IN ('invited', 'joined', 'left')),
    channel TEXT NOT NULL,
    media TEXT NOT NULL,
    invited_at TEXT,
    joined_at TEXT,
    left_at TEXT,
    initiator TEXT
  );
  CREATE UNIQUE INDEX members_current ON members (conversation_id, user_id) WHERE state != 'left';
  CREATE INDEX members_by_conversation ON members (conversation_id, seq);
  CREATE INDEX members_by_user ON members (user_id, state);

  CREATE TABLE legs (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    member_id TEXT REFERENCES members (id),
    type TEXT NOT NULL CHECK (type IN ('webrtc', 'sip')),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT,
    ended_at TEXT
  );
  CREATE INDEX legs_by_conversation ON legs (conversation_id, created_at);

  CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    id INTEGER NOT NULL,
    type TEXT NOT NULL,
    from_id TEXT NOT NULL,
    to_id TEXT,
    timestamp TEXT NOT NULL,
    body TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (conversation_id, id)
  ) WITHOUT ROWID;
  CREATE INDEX events_by_type ON events (conversation_id, type, id);
  `,
  `
  CREATE TABLE webhook_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    failed_at INTEGER,
    UNIQUE (conversation_id, event_id)
  );
  CREATE INDEX webhook_outbox_heads ON webhook_outbox (state, conversation_id, seq);
  `,
  // Recording metadata; the audio itself is a file under <dataDir>/recordings/, at `path` relative
  // to that folder. 'ogg' is reserved for the catalogue's other format, so adding it needs no rebuild.
  `
  CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    leg_id TEXT REFERENCES legs (id),
    format TEXT NOT NULL CHECK (format IN ('wav', 'ogg')),
    path TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('recording', 'done', 'failed')),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    duration_ms INTEGER,
    size_bytes INTEGER,
    created_by TEXT NOT NULL
  );
  CREATE INDEX recordings_by_conversation ON recordings (conversation_id, started_at);
  CREATE INDEX recordings_unfinished ON recordings (status) WHERE status = 'recording';
  `,
  // The head (lowest pending seq) of each conversation's webhook queue, so the dispatcher finds due
  // heads through an index on their due time instead of grouping the whole outbox. Triggers keep it
  // in the same transaction as every outbox write, whichever statement made it.
  `
  CREATE TABLE webhook_heads (
    conversation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    next_attempt_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX webhook_heads_due ON webhook_heads (next_attempt_at, seq);

  INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
    SELECT o.conversation_id, o.seq, o.next_attempt_at FROM webhook_outbox o
    JOIN (SELECT MIN(seq) AS seq FROM webhook_outbox WHERE state = 'pending' GROUP BY conversation_id) h ON h.seq = o.seq;

${OUTBOX_HEAD_TRIGGERS}  `,
  // Ids (jti) of revoked tokens: the verifier refuses them. `seq` lets a running gateway pick up,
  // cheaply, what another process (`legway token revoke`) added.
  `
  CREATE TABLE revoked_tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    jti TEXT NOT NULL UNIQUE,
    revoked_at TEXT NOT NULL
  );
  `,
  // The nodes of a cluster sharing this store, each with a lease it renews (milliseconds since the
  // epoch, by its own clock); a node whose lease has lapsed is lost, and another ends its legs. A
  // single gateway is a cluster of one. Legs and recordings record the node they run on.
  `
  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('active', 'draining', 'stopped', 'lost')),
    http_url TEXT NOT NULL,
    sip_address TEXT,
    media_ip TEXT,
    started_at TEXT NOT NULL,
    lease_until INTEGER NOT NULL
  );
  ALTER TABLE legs ADD COLUMN node_id TEXT;
  CREATE INDEX legs_running_by_node ON legs (node_id) WHERE status != 'ended';
  ALTER TABLE recordings ADD COLUMN node_id TEXT;
  `,
  // The node that owns each conversation's media (its audio bridge, routers, recorders, players):
  // legs of the conversation made on other nodes are made on it. A row lasts while the owner's node
  // lease holds and the conversation has legs there.
  `
  CREATE TABLE conversation_owners (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    node_id TEXT NOT NULL,
    since TEXT NOT NULL
  );
  CREATE INDEX conversation_owners_by_node ON conversation_owners (node_id);
  `,
  // The outbox without its UNIQUE (conversation_id, event_id): an entry is only ever written by the
  // append of its event, in the event's transaction, and the events' own key already makes that
  // pair unique. The constraint's index cost a page written per event at every commit (a fifth of
  // a webhook append's WAL frames with many conversations), and no query used it. SQLite drops a
  // table constraint only by rebuilding the table: rows keep their seqs, and the AUTOINCREMENT
  // high-water mark is carried over, so no seq is ever given out twice.
  `
  CREATE TABLE webhook_outbox_rebuilt (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    failed_at INTEGER
  );
  INSERT INTO webhook_outbox_rebuilt SELECT * FROM webhook_outbox;
  DELETE FROM sqlite_sequence WHERE name = 'webhook_outbox_rebuilt';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'webhook_outbox_rebuilt', seq FROM sqlite_sequence WHERE name = 'webhook_outbox';
  DROP TABLE webhook_outbox;
  ALTER TABLE webhook_outbox_rebuilt RENAME TO webhook_outbox;
  CREATE INDEX webhook_outbox_heads ON webhook_outbox (state, conversation_id, seq);
  ${OUTBOX_HEAD_TRIGGERS}`,
  // Webhook lanes: a conversation's queue is a cursor over its events (lanesRepo.ts) instead of an
  // outbox row per event, inserted at the append and deleted at the delivery with the head table
  // kept by triggers: about a third of the main thread's time at 10,000 events/s. The outbox keeps
  // parked deliveries and replayed ones. Entries pending at the upgrade become replays of a lane
  // whose cursor is at its conversation's last event, so they still go out first, in order.
  `
  CREATE TABLE webhook_lanes (
    lane INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE,
    delivered_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    replays INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    next_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT
  );
  CREATE INDEX webhook_lanes_due ON webhook_lanes (next_attempt_at, lane) WHERE next_attempt_at IS NOT NULL;
  INSERT INTO webhook_lanes (conversation_id, delivered_id, last_id, pending, replays, attempts, window_start, next_attempt_at)
    SELECT o.conversation_id, COALESCE((SELECT MAX(e.id) FROM events e WHERE e.conversation_id = o.conversation_id), 0),
      COALESCE((SELECT MAX(e.id) FROM events e WHERE e.conversation_id = o.conversation_id), 0), 0,
      SUM(o.state = 'pending'), 0, COALESCE(MIN(CASE WHEN o.state = 'pending' THEN o.window_start END), 0), MIN(CASE WHEN o.state = 'pending' THEN o.next_attempt_at END)
    FROM webhook_outbox o GROUP BY o.conversation_id;
  DROP TRIGGER webhook_heads_after_insert;
  DROP TRIGGER webhook_heads_after_delete;
  DROP TRIGGER webhook_heads_after_update;
  DROP TABLE webhook_heads;
  `,
  // events_by_type (conversation_id, type, id) served no query: every listing is in id order, and
  // SQLite's planner reads the primary key (conversation_id, id) for all of them, type filters
  // included, rather than look each row up again from the index. It was pure upkeep: an index page
  // per conversation at every commit, about a third of the store's work per event.
  `
  DROP INDEX events_by_type;
  `,
];

/**
 * Brings the schema up to date inside one transaction per migration; `target` stops at an earlier
 * version (tests build the schema a previous release left).
 */
export function migrate(db: Database, target = MIGRATIONS.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this legway (${MIGRATIONS.length}); refusing to run`);
  }
  for (let version = current; version < Math.min(target, MIGRATIONS.length); version++) {
    const sql = MIGRATIONS[version] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
