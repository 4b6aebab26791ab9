/**
 * The PostgreSQL schema: the same tables, columns and meanings as the SQLite one
 * (src/store/migrations.ts), in PostgreSQL's dialect; test/unit/store/schema-parity.test.ts fails
 * on any difference between the two. Like SQLite's, the list only grows at its end. Timestamps stay ISO-8601 text and JSON stays
 * text, so the repositories read and write both engines the same way. `legway_schema` records how
 * many migrations have run; nodes starting together take an advisory lock, so one of them migrates
 * and the others find the work done.
 */
import type { PgDatabase } from './pgDatabase.js';

/** Any fixed number: the advisory lock all legway nodes take while migrating. */
const MIGRATION_LOCK = 727_001;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE conversations (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_name TEXT,
    state TEXT NOT NULL CHECK (state IN ('active', 'deleted')),
    properties TEXT NOT NULL DEFAULT '{}',
    last_event_id BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    destroyed_at TEXT,
    idle_since TEXT
  );
  CREATE UNIQUE INDEX conversations_active_name ON conversations (name) WHERE state = 'active';

  CREATE TABLE users (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT,
    created_at TEXT NOT NULL
  );

  CREATE TABLE members (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    id BIGINT NOT NULL,
    type TEXT NOT NULL,
    from_id TEXT NOT NULL,
    to_id TEXT,
    timestamp TEXT NOT NULL,
    body TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (conversation_id, id)
  );
  CREATE INDEX events_by_type ON events (conversation_id, type, id);

  CREATE TABLE webhook_outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    failed_at BIGINT,
    UNIQUE (conversation_id, event_id)
  );
  CREATE INDEX webhook_outbox_heads ON webhook_outbox (state, conversation_id, seq);

  CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    leg_id TEXT REFERENCES legs (id),
    format TEXT NOT NULL CHECK (format IN ('wav', 'ogg')),
    path TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('recording', 'done', 'failed')),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    duration_ms BIGINT,
    size_bytes BIGINT,
    created_by TEXT NOT NULL
  );
  CREATE INDEX recordings_by_conversation ON recordings (conversation_id, started_at);
  CREATE INDEX recordings_unfinished ON recordings (status) WHERE status = 'recording';

  CREATE TABLE revoked_tokens (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    revoked_at TEXT NOT NULL
  );
  `,
  // The head (lowest pending seq) of each conversation's webhook queue, kept by triggers in the
  // transaction of every outbox write, as SQLite's migration 4 keeps it (see migrations.ts for why).
  // PostgreSQL's triggers run functions; ON CONFLICT DO NOTHING is SQLite's INSERT OR IGNORE.
  `
  CREATE TABLE webhook_heads (
    conversation_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    next_attempt_at BIGINT NOT NULL
  );
  CREATE INDEX webhook_heads_due ON webhook_heads (next_attempt_at, seq);

  INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
    SELECT o.conversation_id, o.seq, o.next_attempt_at FROM webhook_outbox o
    JOIN (SELECT MIN(seq) AS seq FROM webhook_outbox WHERE state = 'pending' GROUP BY conversation_id) h ON h.seq = o.seq;

  CREATE FUNCTION webhook_heads_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at) VALUES (NEW.conversation_id, NEW.seq, NEW.next_attempt_at)
      ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;
  CREATE TRIGGER webhook_heads_after_insert AFTER INSERT ON webhook_outbox
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION webhook_heads_on_insert();

  CREATE FUNCTION webhook_heads_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM webhook_heads WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq;
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = OLD.conversation_id ORDER BY seq LIMIT 1
      ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;
  CREATE TRIGGER webhook_heads_after_delete AFTER DELETE ON webhook_outbox
    FOR EACH ROW WHEN (OLD.state = 'pending') EXECUTE FUNCTION webhook_heads_on_delete();

  CREATE FUNCTION webhook_heads_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM webhook_heads WHERE conversation_id = NEW.conversation_id;
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = NEW.conversation_id ORDER BY seq LIMIT 1;
    RETURN NULL;
  END $$;
  CREATE TRIGGER webhook_heads_after_update AFTER UPDATE OF state, next_attempt_at ON webhook_outbox
    FOR EACH ROW EXECUTE FUNCTION webhook_heads_on_update();
  `,
  `
  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('active', 'draining', 'stopped', 'lost')),
    http_url TEXT NOT NULL,
    sip_address TEXT,
    media_ip TEXT,
    started_at TEXT NOT NULL,
    lease_until BIGINT NOT NULL
  );
  ALTER TABLE legs ADD COLUMN node_id TEXT;
  CREATE INDEX legs_running_by_node ON legs (node_id) WHERE status != 'ended';
  ALTER TABLE recordings ADD COLUMN node_id TEXT;
  `,
  `
  CREATE TABLE conversation_owners (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    node_id TEXT NOT NULL,
    since TEXT NOT NULL
  );
  CREATE INDEX conversation_owners_by_node ON conversation_owners (node_id);
  `,
  // Queue heads with several writers. A trigger that takes a head off (delivered, parked) looks for
  // the conversation's next pending entry; under READ COMMITTED it cannot see an entry another node
  // has inserted but not yet committed, and that node's own trigger found the old head still in
  // place and left the heads alone: the conversation was left with no head, and its next append
  // became the head, ahead of the skipped entry (delivered out of order, the skipped one only when
  // the queue next emptied). An append holds its conversation's row lock from taking the event id
  // to its commit; the triggers that recompute a head now take that lock first, so they wait for
  // such an append and then, with a fresh snapshot per statement, see its entry. The heads are
  // rebuilt once, for a database that ran without this.
  `
  CREATE OR REPLACE FUNCTION webhook_heads_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM 1 FROM conversations WHERE id = OLD.conversation_id FOR NO KEY UPDATE;
    DELETE FROM webhook_heads WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq;
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = OLD.conversation_id ORDER BY seq LIMIT 1
      ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;

  CREATE OR REPLACE FUNCTION webhook_heads_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM 1 FROM conversations WHERE id = NEW.conversation_id FOR NO KEY UPDATE;
    DELETE FROM webhook_heads WHERE conversation_id = NEW.conversation_id;
    INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
      SELECT conversation_id, seq, next_attempt_at FROM webhook_outbox
      WHERE state = 'pending' AND conversation_id = NEW.conversation_id ORDER BY seq LIMIT 1;
    RETURN NULL;
  END $$;

  LOCK TABLE webhook_outbox IN SHARE ROW EXCLUSIVE MODE;
  DELETE FROM webhook_heads;
  INSERT INTO webhook_heads (conversation_id, seq, next_attempt_at)
    SELECT o.conversation_id, o.seq, o.next_attempt_at FROM webhook_outbox o
    JOIN (SELECT MIN(seq) AS seq FROM webhook_outbox WHERE state = 'pending' GROUP BY conversation_id) h ON h.seq = o.seq;
  `,
  // The outbox without its UNIQUE (conversation_id, event_id), as SQLite's migration 8 (see
  // migrations.ts for why): the events' own key already makes the pair unique, and the constraint's
  // index was one more page written per append. PostgreSQL names the constraint table_columns_key.
  `
  ALTER TABLE webhook_outbox DROP CONSTRAINT IF EXISTS webhook_outbox_conversation_id_event_id_key;
  `,
  // Webhook lanes, as SQLite's migration 9 (see migrations.ts): a conversation's queue is a cursor
  // over its events; the outbox keeps parked and replayed deliveries. An append updates its lane
  // under the lane's row lock, and a delivery's update re-reads the row under that lock, so an
  // append committed meanwhile is counted, never lost. Entries pending at the upgrade become replays.
  `
  LOCK TABLE webhook_outbox IN SHARE ROW EXCLUSIVE MODE;
  CREATE TABLE webhook_lanes (
    lane BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE,
    delivered_id BIGINT NOT NULL,
    last_id BIGINT NOT NULL,
    pending INTEGER NOT NULL,
    replays INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status INTEGER,
    last_error TEXT
  );
  CREATE INDEX webhook_lanes_due ON webhook_lanes (next_attempt_at, lane) WHERE next_attempt_at IS NOT NULL;
  INSERT INTO webhook_lanes (conversation_id, delivered_id, last_id, pending, replays, attempts, window_start, next_attempt_at)
    SELECT o.conversation_id, COALESCE((SELECT MAX(e.id) FROM events e WHERE e.conversation_id = o.conversation_id), 0),
      COALESCE((SELECT MAX(e.id) FROM events e WHERE e.conversation_id = o.conversation_id), 0), 0,
      COUNT(*) FILTER (WHERE o.state = 'pending'), 0, COALESCE(MIN(o.window_start) FILTER (WHERE o.state = 'pending'), 0), MIN(o.next_attempt_at) FILTER (WHERE o.state = 'pending')
    FROM webhook_outbox o GROUP BY o.conversation_id;
  DROP TRIGGER webhook_heads_after_insert ON webhook_outbox;
  DROP TRIGGER webhook_heads_after_delete ON webhook_outbox;
  DROP TRIGGER webhook_heads_after_update ON webhook_outbox;
  DROP FUNCTION webhook_heads_on_insert();
  DROP FUNCTION webhook_heads_on_delete();
  DROP FUNCTION webhook_heads_on_update();
  DROP TABLE webhook_heads;
  `,
  // events_by_type, as SQLite's migration 10 (see migrations.ts): listings read the primary key
  // (conversation_id, id) in id order, filtering types on the way, and appends skip its upkeep.
  `
  DROP INDEX IF EXISTS events_by_type;
  `,
];

/** The schema version this legway migrates PostgreSQL to. */
export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to date; safe when several nodes start at once. `target` stops at an earlier
 * version (tests build the schema a previous release left).
 */
export function migratePg(db: PgDatabase, target = MIGRATIONS.length): void {
  db.transaction(() => {
    db.prepare('SELECT pg_advisory_xact_lock(?)').get(MIGRATION_LOCK);
    db.exec('CREATE TABLE IF NOT EXISTS legway_schema (version INTEGER NOT NULL)');
    let current = db.prepare<[], number>('SELECT version FROM legway_schema').pluck().get();
    if (current === undefined) {
      db.exec('INSERT INTO legway_schema (version) VALUES (0)');
      current = 0;
    }
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this legway (${MIGRATIONS.length}); refusing to run`);
    }
    for (let version = current; version < Math.min(target, MIGRATIONS.length); version++) {
      db.exec(MIGRATIONS[version] as string);
      db.prepare('UPDATE legway_schema SET version = ?').run(version + 1);
    }
  })();
}
