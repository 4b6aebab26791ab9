/**
 * The event stream, newest at the top: events are batched into one DOM insertion per tick,
 * capped, filtered by type and conversation (existing rows included), and can be paused.
 */
import type { LegwayEvent } from '../client/index.js';
import { clockTime, h, setText, shortId } from './consoleDom.js';
import { summarise, type SummaryNames } from './eventSummary.js';

/** Rows kept on screen (and events held while paused). */
export const EVENTS_KEPT = 1000;
/**
 * How long events gather before one insertion. Each insertion restyles and repaints the stream, so
 * the cost follows insertions rather than events: at 50 ms a steady 1,000 events/s took 85 % of a
 * core in headless Chromium, at 250 ms 28 % (npm run bench 7); four updates a second still read live.
 */
const BATCH_MS = 250;

export class EventsView {
  private pending: LegwayEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private paused = false;
  private terms: string[] = [];
  private conversation: string | undefined;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly status: HTMLElement,
    private readonly names: SummaryNames,
  ) {
    this.updateStatus();
  }

  push(event: LegwayEvent): void {
    this.pending.push(event);
    if (this.pending.length > EVENTS_KEPT) this.pending.splice(0, this.pending.length - EVENTS_KEPT);
    if (this.paused) this.updateStatus();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Freezes the list (events are held, up to the cap) or lets it run again. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (paused) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.updateStatus();
    } else {
      this.flush();
    }
  }

  /** Shows only types containing one of the words (spaces or commas between them), e.g. `audio:` or `mute hangup`. */
  setTypeFilter(text: string): void {
    this.terms = text
      .toLowerCase()
      .split(/[\s,]+/)
      .filter((t) => t.length > 0);
    this.refilter();
  }

  /** Shows only one conversation's events (all when undefined). */
  setConversation(conversationId: string | undefined): void {
    this.conversation = conversationId;
    this.refilter();
  }

  clear(): void {
    this.list.replaceChildren();
    this.pending = [];
    this.updateStatus();
  }

  /** Puts names on rows shown before their conversation's or leg's name was known. */
  rename(): void {
    for (const cell of this.list.querySelectorAll<HTMLElement>('[data-unnamed-conversation]')) {
      const name = this.names.conversationName(cell.dataset.unnamedConversation ?? '');
      if (name !== undefined) {
        cell.textContent = name;
        cell.removeAttribute('data-unnamed-conversation');
      }
    }
    for (const cell of this.list.querySelectorAll<HTMLElement>('[data-unnamed-leg]')) {
      const name = this.names.legMember(cell.dataset.unnamedLeg ?? '');
      if (name !== undefined) {
        cell.textContent = name;
        cell.removeAttribute('data-unnamed-leg');
      }
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.updateStatus();
    const batch = this.pending;
    this.pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) {
      const event = batch[i];
      if (event) fragment.append(this.row(event));
    }
    this.list.prepend(fragment);
    while (this.list.childElementCount > EVENTS_KEPT) this.list.lastElementChild?.remove();
    this.updateStatus();
  }

  private row(event: LegwayEvent): HTMLLIElement {
    const name = this.names.conversationName(event.conversation_id);
    // The SDP would drown the tooltip; everything else of the body is worth a hover.
    const shown = Object.fromEntries(Object.entries(event.body as Record<string, unknown>).filter(([key]) => key !== 'sdp'));
    const summary = summarise(event, this.names);
    const li = h(
      'li',
      {
        'data-event-id': String(event.id),
        'data-event-type': event.type,
        'data-conversation-id': event.conversation_id,
        title: JSON.stringify({ from: event.from, ...shown }).slice(0, 2000),
      },
      h('time', { datetime: event.timestamp, class: 'time' }, clockTime(event.timestamp)),
      h(
        'span',
        { class: 'conv', title: event.conversation_id, 'data-unnamed-conversation': name === undefined ? event.conversation_id : false },
        name ?? shortId(event.conversation_id),
      ),
      h('span', { class: 'type' }, event.type),
      h(
        'span',
        { class: 'summary' },
        h('span', { class: 'who', 'data-unnamed-leg': summary.unnamedLeg ?? false }, summary.who),
        summary.who && summary.rest ? ' · ' : '',
        summary.rest,
      ),
    );
    li.hidden = !this.matches(li);
    return li;
  }

  private matches(li: HTMLLIElement): boolean {
    if (this.conversation !== undefined && li.dataset.conversationId !== this.conversation) return false;
    if (this.terms.length === 0) return true;
    const type = li.dataset.eventType ?? '';
    return this.terms.some((term) => type.includes(term));
  }

  private refilter(): void {
    for (const li of this.list.children) {
      if (li instanceof HTMLLIElement) {
        const hidden = !this.matches(li);
        if (li.hidden !== hidden) li.hidden = hidden;
      }
    }
    this.updateStatus();
  }

  private updateStatus(): void {
    const total = this.list.childElementCount;
    let shown = 0;
    for (const li of this.list.children) if (li instanceof HTMLElement && !li.hidden) shown++;
    const filtered = this.conversation !== undefined || this.terms.length > 0;
    let text = filtered ? `${shown} of ${total} shown` : `${total} ${total === 1 ? 'event' : 'events'}`;
    if (this.paused) text += ` · paused, ${this.pending.length} waiting`;
    setText(this.status, text);
  }
}
