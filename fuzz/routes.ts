import type { FastifyInstance } from 'fastify';

/** One route of the HTTP interface: its path pattern (`:param`, `*`) and methods. */
export interface Route {
  readonly path: string;
  readonly methods: readonly string[];
}

const LINE = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/;

/**
 * Every route the gateway's fastify instance serves, read from its own route tree
 * (`printRoutes`), so routes added later are fuzzed without a change here. The tree prints each
 * node's path as a suffix of its parent's; the indentation (4 columns a level) gives the parent.
 */
export function listRoutes(http: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of http.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    const segment = match[2] ?? '';
    const parent = depth === 0 ? '' : (stack[depth - 1] ?? '');
    const path = `${parent}${segment}`;
    stack[depth] = path;
    stack.length = depth + 1;
    if (match[3]) routes.push({ path, methods: match[3].split(', ') });
  }
  return routes;
}
