/** A page of a keyset-paged listing: `next`/`prev` are the keys to continue from, when there is more. */
export interface Page<T> {
  items: T[];
  next?: number;
  prev?: number;
}

export type Order = 'asc' | 'desc';

/** Keyset page request: strictly after `after` (in the order's direction). */
export interface PageRequest {
  size: number;
  order: Order;
  after?: number;
}
