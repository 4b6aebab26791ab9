// Builds the browser side into dist/web: the client library, the two pages' scripts, their HTML and
// CSS; then the client library's type declarations into dist/types. Run by `npm run build`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'web');
const typesDir = join(root, 'dist', 'types');

/** Output name (without .js) → entry point. */
const entries = {
  'legway-client': 'client/index.ts',
  call: 'web/call.ts',
  console: 'web/console.ts',
};
/** Files the pages cannot do without; every other web/*.html and web/*.css (a page's own styles) is copied too. */
const assets = ['web/call.html', 'web/console.html', 'web/legway.css'];

// esbuild's own error for a missing entry is terse, and a missing asset would otherwise only show
// as a 503 at run time: name every missing file at once.
const missing = [...Object.values(entries), ...assets].filter((file) => !existsSync(join(root, file)));
if (missing.length > 0) {
  console.error(`build-web: missing ${missing.join(', ')} (relative to ${root}); the browser files cannot be built without them`);
  process.exit(1);
}

// A clean folder: files of an earlier build that this one no longer makes must not be served.
rmSync(outDir, { recursive: true, force: true });
rmSync(typesDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(root, file)])),
  outdir: outDir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100'],
  sourcemap: 'linked',
  minify: true,
  metafile: true,
  logLevel: 'warning',
});

const copied = readdirSync(join(root, 'web')).filter((name) => /\.(html|css)$/.test(name));
for (const name of copied) copyFileSync(join(root, 'web', name), join(outDir, name));

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.client-types.json')], { cwd: root, stdio: 'inherit' });

for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.js')) console.log(`build-web: ${relative(root, join(root, file))} ${(output.bytes / 1024).toFixed(1)} KiB`);
}
console.log(`build-web: copied ${copied.join(', ')}; types in ${relative(root, typesDir)}`);
