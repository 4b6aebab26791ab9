/**
 * `npm run test:pg`: the whole suite (or the files named on the command line) with the store on
 * PostgreSQL. Starts a throw-away PostgreSQL 15 in a temporary folder, runs `vitest run` with
 * LEGWAY_DATABASE_URL pointing at it (each gateway then gets a database of its own, see
 * testDatabases.ts), stops the server and exits with vitest's status.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresMissing, startPostgres } from './postgres.js';
import { REPO } from './process.js';

const missing = postgresMissing();
if (missing !== undefined) {
  process.stderr.write(`test:pg: ${missing}\n`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'legway-test-pg-'));
let status = 1;
try {
  const pg = await startPostgres(dir, { durable: false });
  process.stderr.write(`test:pg: PostgreSQL on ${pg.url}\n`);
  try {
    const vitest = spawn(process.execPath, [join(REPO, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], {
      cwd: REPO,
      stdio: 'inherit',
      env: { ...process.env, LEGWAY_DATABASE_URL: pg.url },
    });
    // Ctrl-C reaches vitest through the terminal; this process waits for it, then stops the server.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', () => vitest.kill('SIGTERM'));
    status = await new Promise<number>((resolve) => vitest.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await pg.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
