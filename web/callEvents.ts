/**
 * The conversation's event stream as a list, newest at the bottom. Only the last entries are kept
 * in the page, and events are added in batches, so that replaying a long history stays fast.
 */
import type { LegwayEvent } from '../client/index.js';
import { h } from './callDom.js';
import { bodyString, isOf } from './callEventTypes.js';
import { summarise, type SummaryNames } from './eventSummary.js';

/** Entries kept in the page; older ones are dropped from the top. */
const MAX_ENTRIES = 500;
const SUMMARY_CHARS = 120;
const TITLE_CHARS = 2000;
/** Within this many pixels of the end counts as "at the bottom", so the list keeps following. */
const FOLLOW_SLACK_PX = 24;

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** HH:MM:SS in the user's time zone. */
export function clockTime(timestamp: string): string {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return '--:--:--';
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function truncate(text: string): string {
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}

/** A one-line description of an event's body: what a person would want to read first. */
export function summarize(event: LegwayEvent): string {
  if (isOf(event, 'text')) return truncate(event.body.text);
  if (isOf(event, 'audio:dtmf')) return event.body.digit;
  if (isOf(event, 'member:joined') || isOf(event, 'member:invited') || isOf(event, 'member:left')) {
    const reason = event.body.reason === undefined ? '' : ` (${event.body.reason})`;
    return truncate(`${event.body.user.name} via ${event.body.channel.type}${reason}`);
  }
  if (isOf(event, 'sip:hangup')) return truncate(event.body.reason ?? event.body.cause);
  if (isOf(event, 'rtc:status')) return `${event.body.kind ?? 'status'} ${event.body.status}`;
  if (isOf(event, 'member:media')) {
    const flags = Object.entries(event.body.media)
      .filter(([, on]) => on)
      .map(([flag]) => flag);
    return flags.length === 0 ? 'no media' : flags.join(', ');
  }
  const reason = bodyString(event, 'reason');
  if (reason !== undefined) return truncate(reason);
  // Everything else as `key=value` pairs (ids shortened); the sender is in its own column already.
  return truncate(summarise(event, NO_NAMES).rest);
}

/** The call page names senders itself: the summary need not name legs or members. */
const NO_NAMES: SummaryNames = { legMember: () => undefined, memberName: () => undefined, conversationName: () => undefined };

/** The event list of one conversation. */
export class EventFeed {
  private pending: LegwayEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly nameOf: (memberId: string) => string | undefined,
  ) {}

  /** Queues an event for the list (the client delivers each id once, in order). */
  add(event: LegwayEvent): void {
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), 0);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending.slice(-MAX_ENTRIES);
    this.pending = [];
    const list = this.list;
    const following = list.scrollHeight - list.scrollTop - list.clientHeight <= FOLLOW_SLACK_PX;
    const fragment = document.createDocumentFragment();
    for (const event of batch) fragment.append(this.entry(event));
    list.append(fragment);
    let excess = list.children.length - MAX_ENTRIES;
    while (excess-- > 0) list.firstElementChild?.remove();
    if (following) list.scrollTop = list.scrollHeight;
  }

  private entry(event: LegwayEvent): HTMLLIElement {
    const sender = event.from === 'system' ? 'system' : (this.nameOf(event.from) ?? event.from);
    const kind = event.type.split(':')[0] ?? event.type;
    return h(
      'li',
      { 'data-event-id': String(event.id), 'data-event-type': event.type, 'data-kind': kind },
      h('span', { class: 'id' }, `#${String(event.id)}`),
      h('time', { datetime: event.timestamp }, clockTime(event.timestamp)),
      h('span', { class: 'type' }, event.type),
      h('span', { class: 'from' }, sender),
      // The tooltip holds the whole body (within reason): the line itself is cut short.
      h('span', { class: 'summary', title: JSON.stringify(event.body).slice(0, TITLE_CHARS) }, summarize(event)),
    );
  }
}
