/**
 * The SQLite migrations (src/store/migrations.ts) and the PostgreSQL ones (src/store/pg/pgMigrations.ts)
 * are written by hand, in two dialects. This compares the schemas they build, on a real SQLite file
 * and a real PostgreSQL database: tables, columns in order, NOT NULL, primary keys, foreign keys,
 * indexes (columns, unique, partial, and the name of each one created by name) and triggers. Any
 * difference fails, so a migration added to one list and not the other cannot ship.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../../src/store/pg/pgDatabase.js';
import { migratePg } from '../../../src/store/pg/pgMigrations.js';
import type { SqlDb } from '../../../src/store/sqlDb.js';
import { openDatabase } from '../../../src/store/sqlite.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../../support/storeEngines.js';

interface Schema {
  /** Per table: its columns in order (`name` or `name NOT NULL`), then `PRIMARY KEY (…)`. */
  tables: Record<string, string[]>;
  /** `table.column -> table.column`. */
  foreignKeys: string[];
  /** `table (columns)`, with `UNIQUE`, `WHERE …` for a partial index, and the name of an index created by name. */
  indexes: string[];
  /** `table: trigger`. */
  triggers: string[];
}

function sqliteSchema(db: SqlDb): Schema {
  const tables: Schema['tables'] = {};
  const foreignKeys: string[] = [];
  const indexes: string[] = [];
  const names = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  for (const table of names) {
    const columns = db
      .prepare<[string], { name: string; notnull: number; pk: number }>('SELECT name, "notnull", pk FROM pragma_table_info(?) ORDER BY cid')
      .all(table);
    // A primary key column is NOT NULL, as PostgreSQL makes it (SQLite lets a rowid table's non-integer key hold NULL).
    tables[table] = columns.map((c) => (c.notnull || c.pk ? `${c.name} NOT NULL` : c.name));
    const key = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    tables[table].push(`PRIMARY KEY (${key.map((c) => c.name).join(', ')})`);
    for (const fk of db
      .prepare<[string], { table: string; from: string; to: string }>('SELECT "table", "from", "to" FROM pragma_foreign_key_list(?)')
      .all(table)) {
      foreignKeys.push(`${table}.${fk.from} -> ${fk.table}.${fk.to}`);
    }
    const list = db.prepare<[string], { name: string; unique: number; origin: string; partial: number }>(
      'SELECT name, "unique", origin, partial FROM pragma_index_list(?)',
    );
    for (const index of list.all(table)) {
      if (index.origin === 'pk') continue;
      const cols = db.prepare<[string], string>('SELECT name FROM pragma_index_info(?) ORDER BY seqno').pluck().all(index.name);
      indexes.push(describeIndex(table, cols, index.unique === 1, index.partial === 1, index.origin === 'c' ? index.name : undefined));
    }
  }
  const triggers = db
    .prepare<[], { tbl_name: string; name: string }>("SELECT tbl_name, name FROM sqlite_schema WHERE type = 'trigger'")
    .all()
    .map((t) => `${t.tbl_name}: ${t.name}`);
  return { tables, foreignKeys: foreignKeys.sort(), indexes: indexes.sort(), triggers: triggers.sort() };
}

function pgSchema(db: SqlDb): Schema {
  const tables: Schema['tables'] = {};
  const names = db
    .prepare<[], string>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name != 'legway_schema' ORDER BY table_name",
    )
    .pluck()
    .all();
  for (const table of names) {
    const columns = db
      .prepare<[string], { name: string; nullable: string }>(
        "SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
      )
      .all(table);
    tables[table] = columns.map((c) => (c.nullable === 'NO' ? `${c.name} NOT NULL` : c.name));
  }
  const indexRows = db
    .prepare<[], { tbl: string; name: string; cols: string; uniq: number; pk: number; partial: number; constraint_backed: number }>(
      `SELECT t.relname AS tbl, c.relname AS name, i.indisunique AS uniq, i.indisprimary AS pk, i.indpred IS NOT NULL AS partial,
         EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS constraint_backed,
         array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS cols
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = 'public' AND t.relname != 'legway_schema'`,
    )
    .all();
  const indexes: string[] = [];
  for (const row of indexRows) {
    const cols = row.cols.split(',');
    if (row.pk === 1) tables[row.tbl]?.push(`PRIMARY KEY (${cols.join(', ')})`);
    else indexes.push(describeIndex(row.tbl, cols, row.uniq === 1, row.partial === 1, row.constraint_backed === 1 ? undefined : row.name));
  }
  const foreignKeys = db
    .prepare<[], { tbl: string; col: string; ref: string; refcol: string }>(
      `SELECT t.relname AS tbl, a.attname AS col, r.relname AS ref, ra.attname AS refcol
       FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
       JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
       WHERE k.contype = 'f'`,
    )
    .all()
    .map((fk) => `${fk.tbl}.${fk.col} -> ${fk.ref}.${fk.refcol}`);
  const triggers = db
    .prepare<[], { tbl: string; name: string }>(
      'SELECT c.relname AS tbl, g.tgname AS name FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal',
    )
    .all()
    .map((t) => `${t.tbl}: ${t.name}`);
  return { tables, foreignKeys: foreignKeys.sort(), indexes: indexes.sort(), triggers: triggers.sort() };
}

function describeIndex(table: string, cols: string[], unique: boolean, partial: boolean, name: string | undefined): string {
  return `${table} (${cols.join(', ')})${unique ? ' UNIQUE' : ''}${partial ? ' WHERE …' : ''}${name ? ` ${name}` : ''}`;
}

usePostgres('the schema comparison');

describe.runIf(ENGINES.includes('postgres'))('SQLite and PostgreSQL schemas', () => {
  const places: EngineStore[] = [];
  let sqlite: SqlDb;
  let pg: PgDatabase;

  beforeAll(() => {
    const lite = engineStore('sqlite');
    const post = engineStore('postgres');
    places.push(lite, post);
    sqlite = openDatabase(`${lite.dir}/legway.sqlite`, { synchronous: 'normal' });
    pg = new PgDatabase(post.databaseUrl!);
    migratePg(pg);
  });
  afterAll(() => {
    sqlite.close();
    pg.close();
    for (const place of places) place.remove();
  });

  it('have the same tables, columns, NOT NULLs, keys, indexes and triggers', () => {
    const fromSqlite = sqliteSchema(sqlite);
    expect(Object.keys(fromSqlite.tables).length).toBeGreaterThan(5);
    expect(Object.keys(fromSqlite.tables)).toContain('webhook_lanes');
    expect(pgSchema(pg)).toEqual(fromSqlite);
  });
});
