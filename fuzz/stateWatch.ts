import type { SqliteDb } from '../src/store/sqlite.js';
import { parseEventBody } from '../src/events/catalogue.js';

/** One row write the watch saw. */
export interface RowChange {
  table: string;
  op: 'insert' | 'update' | 'delete';
  /** The row's primary key as a JSON array (its rowid when it has no declared key). */
  key: string;
}

/**
 * Sees every row the gateway writes, through TEMP triggers on its own SQLite connection: each
 * INSERT, UPDATE and DELETE on every table of the store (as listed by sqlite_master, so tables
 * added later are covered, the node lease table aside) adds a row to a TEMP log table. A write that is rolled back takes its
 * log row with it, so the log holds exactly what changed the store. TEMP objects live on this
 * connection only and are never written to the database file.
 */
export class StateWatch {
  readonly tables: string[];
  private readonly count: () => number;
  private readonly since: (after: number) => RowChange[];
  private readonly eventRow: (key: string) => { type: string; body: string } | undefined;

  constructor(private readonly db: SqliteDb) {
    // Not `nodes`: the gateway renews its own lease there on a timer, whatever input arrives.
    this.tables = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[])
      .filter((name) => name !== 'nodes')
      .sort();
    db.exec('CREATE TEMP TABLE IF NOT EXISTS fuzz_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, key TEXT)');
    for (const table of this.tables) {
      const quoted = quote(table);
      const literal = `'${table.replaceAll("'", "''")}'`;
      // WITHOUT ROWID tables (events) have no rowid: their declared key names the row.
      const columns = db.prepare(`PRAGMA main.table_info(${quoted})`).all() as { name: string; pk: number }[];
      const keyColumns = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
      const key = (row: 'NEW' | 'OLD'): string =>
        `json_array(${keyColumns.length > 0 ? keyColumns.map((c) => `${row}.${quote(c.name)}`).join(', ') : `${row}.rowid`})`;
      for (const [op, row] of [
        ['insert', 'NEW'],
        ['update', 'NEW'],
        ['delete', 'OLD'],
      ] as const) {
        db.exec(
          `CREATE TEMP TRIGGER IF NOT EXISTS ${quote(`fuzz_${op}_${table}`)} AFTER ${op.toUpperCase()} ON main.${quoted} ` +
            `BEGIN INSERT INTO fuzz_changes (tbl, op, key) VALUES (${literal}, '${op}', ${key(row)}); END`,
        );
      }
    }
    const count = db.prepare('SELECT coalesce(max(seq), 0) FROM temp.fuzz_changes').pluck();
    this.count = () => count.get() as number;
    const since = db.prepare('SELECT tbl AS "table", op, key FROM temp.fuzz_changes WHERE seq > ? ORDER BY seq');
    this.since = (after) => since.all(after) as RowChange[];
    const hasEvents = this.tables.includes('events');
    const eventRow = hasEvents ? db.prepare('SELECT type, body FROM main.events WHERE conversation_id = ? AND id = ?') : undefined;
    this.eventRow = (key) => {
      const [conversationId, id] = JSON.parse(key) as [string, number];
      return eventRow?.get(conversationId, id) as { type: string; body: string } | undefined;
    };
  }

  /** A mark of the writes so far; `changesSince(mark)` lists the ones after it. */
  mark(): number {
    return this.count();
  }

  changesSince(mark: number): RowChange[] {
    return this.since(mark);
  }

  /** Events inserted after `mark` whose body does not pass its catalogue schema, as messages. */
  invalidEventsSince(mark: number): string[] {
    const problems: string[] = [];
    for (const change of this.changesSince(mark)) {
      if (change.table !== 'events' || change.op !== 'insert') continue;
      const row = this.eventRow(change.key);
      if (!row) continue;
      const parsed = parseEventBody(row.type, JSON.parse(row.body) as unknown);
      if (!parsed.ok) problems.push(`event ${row.type} ${change.key} fails the catalogue: ${parsed.message}`);
    }
    return problems;
  }

  /** Empties the log (its rows are of no use once checked). */
  reset(): void {
    this.db.exec('DELETE FROM temp.fuzz_changes');
  }
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A short description of row changes, for failure messages. */
export function describeChanges(changes: readonly RowChange[]): string {
  const counts = new Map<string, number>();
  for (const c of changes) counts.set(`${c.op} ${c.table}`, (counts.get(`${c.op} ${c.table}`) ?? 0) + 1);
  return [...counts].map(([what, n]) => `${n} × ${what}`).join(', ');
}

/** What one input did, as its target judges it. */
export interface Judged<R> {
  readonly result: R;
  readonly accepted: boolean;
}

/** How the store is checked around inputs, with counts for the report. */
export interface CheckedRun {
  readonly watch: StateWatch;
  readonly tally: { accept(): void; reject(): void; checked(): void; violation(): void };
  /** Writes seen during a rejected input that its replay showed were not its own (background work). */
  background: number;
}

/**
 * Runs one input and checks the store around it. A rejected input must write nothing; when the log
 * shows a write, the input is replayed once after a quiet moment, so that a write of background
 * work (a playback ending, a timer) is not blamed on it; a write on the replay too is a violation.
 * An accepted input's events must pass the catalogue. Throws `Error` with the finding.
 */
export async function runChecked<R>(run: CheckedRun, send: () => Promise<Judged<R>>): Promise<R> {
  const { watch, tally } = run;
  const mark = watch.mark();
  const first = await send();
  if (first.accepted) {
    tally.accept();
    const invalid = watch.invalidEventsSince(mark);
    if (invalid.length > 0) throw new Error(`an accepted input wrote events outside the catalogue: ${invalid.join('; ')}`);
    return first.result;
  }
  tally.reject();
  tally.checked();
  const changes = watch.changesSince(mark);
  if (changes.length === 0) return first.result;
  await new Promise((resolve) => setTimeout(resolve, 250));
  const again = watch.mark();
  const second = await send();
  const replayed = watch.changesSince(again);
  if (!second.accepted && replayed.length === 0) {
    run.background++;
    return first.result;
  }
  tally.violation();
  throw new Error(`a rejected input changed the store: ${describeChanges(changes)}${second.accepted ? ' (and was accepted when replayed)' : ''}`);
}
