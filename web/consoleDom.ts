/** DOM helpers of the operator console (the shared ones come from dom.ts). */
export { byId, describeError, h } from './dom.js';

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
