import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MACHINES = join(import.meta.dirname, '..', '..', 'machines');

/** Every module specifier a TypeScript file imports or re-exports (static and dynamic). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1]!);
  return found;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('machines/ are pure', () => {
  it('exists and holds machines', () => {
    expect(files(MACHINES).some((f) => f.endsWith('.machine.ts'))).toBe(true);
  });

  it('imports nothing but xstate and local modules', () => {
    const offenders = files(MACHINES).flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((s) => s !== 'xstate' && !s.startsWith('./') && !s.startsWith('../'))
        .map((s) => `${file}: ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('does not reach out of machines/ through relative paths', () => {
    const offenders = files(MACHINES).flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((s) => s.startsWith('../') && !join(file, '..', s).startsWith(MACHINES))
        .map((s) => `${file}: ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the purity check itself catches a forbidden import', () => {
    expect(specifiers("import pino from 'pino';\nimport { x } from './y.js';\nconst s = await import('node:fs');")).toEqual(['pino', './y.js', 'node:fs']);
  });
});
