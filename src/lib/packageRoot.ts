import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageName(dir: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && typeof parsed.name === 'string') return parsed.name;
  } catch {
    // No package.json here (or not JSON): keep walking up.
  }
  return undefined;
}

/**
 * The folder holding package `name`'s package.json, walking up from `from` (a module URL).
 * Walking up, rather than a fixed `../..`, finds it both from `src/…` (tsx, vitest) and from `dist/src/…`.
 */
export function findPackageRoot(from: string, name: string): string | undefined {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (packageName(dir) === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
