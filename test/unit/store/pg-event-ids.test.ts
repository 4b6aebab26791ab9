/**
 * Event ids on PostgreSQL when several nodes append to one conversation at once: four processes,
 * each with its own connection and the real store, append concurrently (each transaction holding
 * its id a few milliseconds, one in five rolled back). The log that results holds ids 1..N with no
 * gap and no duplicate, each id's event is the one the process that got that id wrote, and each
 * process saw its own ids rise.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO } from '../../support/process.js';
import { ENGINES, engineStore, usePostgres, type EngineStore } from '../../support/storeEngines.js';

const APPENDER = join(REPO, 'test', 'support', 'pgAppender.ts');
const WORKERS = 4;
const APPENDS = 25;

interface Outcome {
  committed: number[];
  rolledBack: number;
}

usePostgres('the concurrent appends');

describe.runIf(ENGINES.includes('postgres'))('event ids on PostgreSQL with several appenders at once', () => {
  let place: EngineStore;
  afterEach(() => place.remove());

  it('come out 1..N without gaps or duplicates, each the event of the appender that took it', async () => {
    place = engineStore('postgres');
    const setup = place.open();
    setup.conversations.insert({ id: 'CON-busy', name: 'busy', properties: {}, created_at: new Date().toISOString() });
    setup.close();

    const children = Array.from({ length: WORKERS }, (_, worker) => {
      const child = spawn(process.execPath, ['--import', 'tsx', APPENDER, place.databaseUrl!, 'CON-busy', String(APPENDS), String(worker)], {
        cwd: REPO,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'exit') as Promise<[number | null]>;
      return { child, exited, stdout: () => stdout, stderr: () => stderr };
    });
    // All connected before any starts, so that they really append at the same time.
    await Promise.all(
      children.map(async (c) => {
        while (!c.stdout().includes('ready\n')) {
          if (c.child.exitCode !== null) throw new Error(`appender exited early: ${c.stderr()}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );
    for (const c of children) c.child.stdin.write('go\n');
    const outcomes: Outcome[] = [];
    for (const c of children) {
      const [code] = await c.exited;
      expect(code, c.stderr()).toBe(0);
      outcomes.push(JSON.parse(c.stdout().trim().split('\n').at(-1)!) as Outcome);
    }

    const db = place.connect();
    try {
      const rows = db
        .prepare<[], { id: number; from_id: string; body: string }>("SELECT id, from_id, body FROM events WHERE conversation_id = 'CON-busy' ORDER BY id")
        .all();
      const total = outcomes.reduce((n, o) => n + o.committed.length, 0);
      expect(outcomes.reduce((n, o) => n + o.rolledBack, 0)).toBe(WORKERS * (APPENDS / 5));
      expect(rows.map((r) => r.id)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      outcomes.forEach((o, worker) => {
        expect(o.committed).toEqual([...o.committed].sort((a, b) => a - b));
        for (const id of o.committed) expect(rows[id - 1]?.from_id).toBe(`MEM-${worker}`);
      });
      expect(db.prepare("SELECT last_event_id FROM conversations WHERE id = 'CON-busy'").pluck().get()).toBe(total);
      // They did run at once: in id order the appenders take turns far more often than one after another would.
      const turns = rows.filter((r, i) => i > 0 && r.from_id !== rows[i - 1]?.from_id).length;
      expect(turns).toBeGreaterThan(2 * WORKERS);
    } finally {
      db.close();
    }
  }, 60_000);
});
