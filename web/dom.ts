/** DOM helpers shared by the pages: typed lookups, element building, error wording. */
import { LegwayClientError } from '../client/index.js';

/** The page's element with this id, checked to be of the expected kind (a missing one is a page bug, so it throws). */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`page: #${id} is missing or not a ${kind.name}`);
  return found;
}

type Attributes = Record<string, string | boolean>;

/** Creates an element with attributes (`true` sets an empty attribute, `false` leaves it out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) node.setAttribute(name, '');
    else if (value !== false) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** How an error is shown: the gateway's (or client's) stable code, then its message. */
export function describeError(err: unknown): string {
  if (err instanceof LegwayClientError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `Error: ${String(err)}`;
}
