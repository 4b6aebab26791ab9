import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The gateway's modules as shipped: the build in dist/ (`npm run build`, which `npm run bench` and
 * `npm run soak` run first), the JavaScript `npm start` runs. The benchmarks measure it rather than
 * the TypeScript sources loaded through tsx: tsx's output wraps every function it makes in a naming
 * helper (esbuild's keepNames) and runs behind loader hooks, and a SIP call cost ~12 % more CPU
 * that way here (benchmark 6's signalling run, interleaved rounds).
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The source directories the build compiles. */
const SOURCE_DIRS = ['src', 'machines'];

/** The newest modification time (ms) of the sources, read once per process (a benchmark imports several modules). */
let newestSource: number | undefined;

/** The newest modification time (ms) of the TypeScript files under `dir`. */
function newestTs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTs(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Imports the build of a source module, named by its path from the repository root as the build
 * writes it (`src/app.js` for `src/app.ts`). Throws when it is missing or older than any source file,
 * so that a benchmark never measures code other than the one checked out.
 */
export async function importBuilt<T>(path: string): Promise<T> {
  const built = join(ROOT, 'dist', path);
  if (!existsSync(built)) throw new Error(`dist/${path} is missing: run npm run build (npm run bench does)`);
  newestSource ??= Math.max(...SOURCE_DIRS.map((dir) => newestTs(join(ROOT, dir))));
  if (statSync(built).mtimeMs < newestSource) throw new Error(`dist/ is older than the sources: run npm run build (npm run bench does)`);
  return (await import(pathToFileURL(built).href)) as T;
}
