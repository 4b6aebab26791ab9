import { statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LegwayError } from '../../../domain/errors.js';
import { findPackageRoot } from '../../../lib/packageRoot.js';
import { sendProblem } from '../problem.js';

/** The pages load only the gateway's own scripts and styles, and talk only to the gateway. */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const PAGES = { '/call': 'call.html', '/console': 'console.html' } as const;

/** Pages and their files are for browsers, not part of the API's description (/openapi.json). */
const PAGE = { schema: { hide: true } };

/** `dist/web` of the legway package this module belongs to, or undefined when that package cannot be found. */
export function findWebRoot(): string | undefined {
  const root = findPackageRoot(import.meta.url, 'legway');
  return root === undefined ? undefined : join(root, 'dist', 'web');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

// The plugin answers its problems itself, so that it stands alone (it is tested on a bare fastify).
function notBuilt(reply: FastifyReply): FastifyReply {
  return sendProblem(reply, new LegwayError('Unavailable', 'web pages not built; run npm run build'));
}

export interface WebOptions {
  /** The built browser files; undefined or missing makes every web route answer 503. */
  root: string | undefined;
}

/** The browser pages (`/call`, `/console`), their scripts and styles under `/web/`, and `/` → `/call`. */
export async function webRoutes(app: FastifyInstance, options: WebOptions): Promise<void> {
  app.get('/', PAGE, async (_req, reply) => reply.redirect('/call', 302));

  const root = options.root;
  if (root === undefined || !isDirectory(root)) {
    // Checked once: a gateway started before `npm run build` keeps answering 503 for /web/ until restarted.
    app.log.warn({ root }, 'web pages not built (run npm run build): /call, /console and /web/ answer 503');
    app.get('/web/*', PAGE, async (_req, reply) => notBuilt(reply));
    for (const url of Object.keys(PAGES)) app.get(url, PAGE, async (_req, reply) => notBuilt(reply));
    return;
  }

  // The plugin refuses traversal, non-canonical paths and folders with 403; a 404 tells a prober nothing more.
  app.setErrorHandler((err, _req, reply) => {
    if ((err as { statusCode?: unknown }).statusCode === 403) return sendProblem(reply, new LegwayError('NotFound', 'no such file under /web/'));
    throw err;
  });

  await app.register(fastifyStatic, {
    root,
    prefix: '/web/',
    list: false,
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    // Scripts keep their names across builds, so they are revalidated hourly (ETag makes that cheap).
    maxAge: '1h',
    etag: true,
    setHeaders: (reply, path) => {
      reply.header('x-content-type-options', 'nosniff');
      if (path.endsWith('.html')) {
        // A page names its scripts, so a stale page would pair with new scripts: always revalidate.
        reply.header('cache-control', 'no-cache');
        reply.header('content-security-policy', PAGE_CSP);
        reply.header('referrer-policy', 'no-referrer');
      }
    },
  });

  for (const [url, file] of Object.entries(PAGES)) {
    app.get(url, PAGE, async (_req, reply) => {
      if (!(await exists(join(root, file)))) return notBuilt(reply);
      return reply.sendFile(file);
    });
  }
}
