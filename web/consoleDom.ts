/** Small DOM helpers for the operator console: typed lookups, element building, error wording. */
import { LegwayClientError } from '../client/index.js';

/** The page's element with this id, checked to be of the expected kind (a missing one is a page bug, so it throws). */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`console page: #${id} is missing or not a ${kind.name}`);
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

/** How an error is shown to the operator: the gateway's (or client's) stable code, then its message. */
export function describeError(err: unknown): string {
  if (err instanceof LegwayClientError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `Error: ${String(err)}`;
}

/** Sets text only when it differs: rows update on every event, and an unchanged write still costs a layout. */
export function setText(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Sets an attribute only when it differs (same reason as `setText`). */
export function setAttr(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

/** `HH:MM:SS.mmm` in local time: events come in bursts, so milliseconds tell their order apart. */
export function clockTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** The first characters of an id, enough to tell ids apart on screen. */
export function shortId(id: string): string {
  const bare = id.replace(/^[A-Z]{3}-/, '');
  return bare.length > 8 ? bare.slice(0, 8) : bare;
}
