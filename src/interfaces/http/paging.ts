import type { FastifyRequest } from 'fastify';
import { fail } from '../../domain/errors.js';
import type { Order, Page } from '../../store/page.js';

/** Cursors are opaque to clients: base64url of `order:key`, so a cursor cannot be reused with the other order. */
export function encodeCursor(order: Order, key: number): string {
  return Buffer.from(`${order}:${key}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, order: Order): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^(asc|desc):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match || match[1] !== order) throw fail('BadRequest', 'invalid cursor (it belongs to another listing or order)');
  return Number(match[2]);
}

/** A HAL page as sent (responses.ts describes it). */
export interface HalPage<N extends string, T> {
  page_size: number;
  _embedded: { [K in N]: T[] };
  _links: { self: { href: string }; next?: { href: string } };
}

/** A HAL-style page: `{ page_size, _embedded: { <name>: [...] }, _links: { self, next? } }`. */
export function halPage<N extends string, T>(req: FastifyRequest, name: N, pageSize: number, order: Order, page: Page<T>): HalPage<N, T> {
  const url = new URL(req.url, 'http://localhost');
  const links: HalPage<N, T>['_links'] = { self: { href: `${url.pathname}${url.search}` } };
  if (page.next !== undefined) {
    url.searchParams.set('cursor', encodeCursor(order, page.next));
    links.next = { href: `${url.pathname}${url.search}` };
  }
  // A computed key widens to `string`; the mapped type is what it is.
  return { page_size: pageSize, _embedded: { [name]: page.items } as { [K in N]: T[] }, _links: links };
}
