/**
 * The synchronous PostgreSQL connection behind LEGWAY_DATABASE_URL, against a real PostgreSQL 15
 * started for this file: parameters, result types as the repositories expect them from SQLite,
 * nested transactions, and errors with the codes the services test for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSql, PgDatabase, PgError } from '../../../src/store/pg/pgDatabase.js';
import { migratePg, PG_SCHEMA_VERSION } from '../../../src/store/pg/pgMigrations.js';
import { peerMissing } from '../../support/requiredPeers.js';
import { postgresMissing, startPostgres, type Postgres } from '../../support/postgres.js';

const missing = peerMissing(postgresMissing());
if (missing) console.log(`skipping the PostgreSQL connection tests: ${missing}`);

describe('compileSql', () => {
  it('numbers ? and @name parameters, leaving quoted text and comments alone', () => {
    expect(compileSql('SELECT \'?\', "@x", @a, @b, @a -- ? @c\n')).toEqual({ text: `SELECT '?', "@x", $1, $2, $1 -- ? @c\n`, names: ['a', 'b'], count: 2 });
    expect(compileSql("SELECT ?, 'it''s ?', ?")).toEqual({ text: "SELECT $1, 'it''s ?', $2", names: undefined, count: 2 });
    expect(() => compileSql('SELECT ?, @a')).toThrow(/mixes/);
  });
});

describe.skipIf(missing !== undefined)('PgDatabase on a real PostgreSQL', () => {
  let pg: Postgres;
  let db: PgDatabase;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-pg-'));
    pg = await startPostgres(dir, { durable: false });
    db = new PgDatabase(pg.createDatabase('pgdatabase_test'));
    db.exec(`CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0, ratio DOUBLE PRECISION, props TEXT, flag BOOLEAN, at TEXT)`);
  }, 60_000);

  afterAll(async () => {
    db.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives rows back as SQLite does: integers as numbers, booleans as 1 or 0, text as text, NULL as null', () => {
    const insert = db.prepare('INSERT INTO things (id, n, ratio, props, flag, at) VALUES (@id, @n, @ratio, @props, @flag, @at)');
    expect(insert.run({ id: 'a', n: 41, ratio: 0.5, props: '{"ttl":5}', flag: true, at: null })).toEqual({ changes: 1 });
    expect(db.prepare('SELECT * FROM things WHERE id = ?').get('a')).toEqual({ id: 'a', n: 41, ratio: 0.5, props: '{"ttl":5}', flag: 1, at: null });
    expect(db.prepare('SELECT n FROM things WHERE id = ?').pluck().get('a')).toBe(41);
    expect(db.prepare('SELECT n FROM things WHERE id = ?').get('nothing')).toBeUndefined();
    expect(db.prepare('UPDATE things SET n = n + 1 WHERE id = ? RETURNING n').get('a')).toEqual({ n: 42 });
    expect(db.prepare('UPDATE things SET n = 0 WHERE id = ?').run('nothing')).toEqual({ changes: 0 });
  });

  it('rolls a failed inner transaction back to its savepoint and keeps the outer one', () => {
    db.prepare('INSERT INTO things (id, n) VALUES (?, ?)').run('b', 1);
    const bump = db.prepare<[string], { n: number }>('UPDATE things SET n = n + 1 WHERE id = ? RETURNING n');
    const outer = db.transaction(() => {
      bump.get('b');
      try {
        db.transaction(() => {
          bump.get('b');
          throw new Error('inner fails');
        })();
      } catch {
        // the inner work is undone, the outer goes on
      }
      return bump.get('b');
    });
    expect(outer()).toEqual({ n: 3 });
    expect(db.inTransaction).toBe(false);
    expect(() =>
      db.transaction(() => {
        bump.get('b');
        throw new Error('outer fails');
      })(),
    ).toThrow('outer fails');
    expect(db.prepare('SELECT n FROM things WHERE id = ?').pluck().get('b')).toBe(3);
  });

  it('reports a unique violation with the code the services test for, and the connection goes on', () => {
    const insert = db.prepare('INSERT INTO things (id) VALUES (?)');
    insert.run('c');
    let error: unknown;
    try {
      insert.run('c');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PgError);
    expect((error as PgError).code).toBe('SQLITE_CONSTRAINT_UNIQUE');
    expect((error as PgError).sqlState).toBe('23505');
    expect(db.prepare('SELECT count(*) AS n FROM things').get()).toEqual({ n: 3 });
  });

  it('refuses wrong parameter counts and missing names before sending anything', () => {
    expect(() => db.prepare('SELECT ?::int AS x').get()).toThrow(/expected 1 parameters, got 0/);
    expect(() => db.prepare('SELECT @a::int AS x').get({})).toThrow(/missing named parameter "a"/);
  });

  it('connects again after losing its connection: what ran on the lost one fails, the next statement works', () => {
    const conn = new PgDatabase(pg.createDatabase('reconnect_test'));
    const admin = new PgDatabase(pg.url);
    const endBackend = (): void => {
      const pid = conn.prepare<[], number>('SELECT pg_backend_pid()').pluck().get()!;
      admin.prepare('SELECT pg_terminate_backend(?)').get(pid);
    };
    try {
      conn.exec('CREATE TABLE t (n INTEGER NOT NULL)');
      const insert = conn.prepare('INSERT INTO t (n) VALUES (?)');
      const count = conn.prepare<[], number>('SELECT count(*) FROM t').pluck();
      insert.run(1);

      endBackend();
      expect(() => count.get()).toThrow(expect.objectContaining({ code: 'PG_CONNECTION_LOST' }));
      // The same prepared statements, on the new connection.
      insert.run(2);
      expect(count.get()).toBe(2);

      // Lost inside a transaction: it did not commit, even when the caller swallowed the error.
      const swallowing = conn.transaction(() => {
        insert.run(3);
        endBackend();
        try {
          insert.run(4);
        } catch {
          // a caller that goes on
        }
      });
      expect(() => swallowing()).toThrow(expect.objectContaining({ code: 'PG_CONNECTION_LOST' }));
      expect(conn.inTransaction).toBe(false);
      expect(count.get()).toBe(2);
    } finally {
      admin.close();
      conn.close();
    }
  });

  it('fails to connect with a clear error', () => {
    expect(() => new PgDatabase(`postgresql://legway@127.0.0.1:${pg.port}/no_such_database`)).toThrow(/cannot connect to PostgreSQL/);
  });

  it('migrates an empty database to the schema once, and refuses a schema newer than itself', () => {
    const fresh = new PgDatabase(pg.createDatabase('migrations_test'));
    try {
      migratePg(fresh);
      migratePg(fresh);
      const tables = fresh
        .prepare<[], string>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
        .pluck()
        .all();
      // Every table is in test/unit/store/schema-parity.test.ts, which compares them with SQLite's.
      expect(tables).toEqual(expect.arrayContaining(['conversations', 'events', 'legway_schema', 'webhook_lanes', 'webhook_outbox']));
      expect(fresh.prepare('SELECT version FROM legway_schema').all()).toEqual([{ version: PG_SCHEMA_VERSION }]);
      fresh.exec('UPDATE legway_schema SET version = 99');
      expect(() => migratePg(fresh)).toThrow(/newer than this legway/);
    } finally {
      fresh.close();
    }
  });
});
