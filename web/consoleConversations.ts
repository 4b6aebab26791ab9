/**
 * The conversations panel: live conversations with their member and leg counts; choosing one
 * narrows the legs table and the event stream to it, "All" widens them again.
 */
import { h, setAttr, setText } from './consoleDom.js';

export interface ConversationItem {
  id: string;
  name: string;
  memberCount: number;
  legCount: number;
}

interface Item {
  li: HTMLLIElement;
  button: HTMLButtonElement;
  name: HTMLSpanElement;
  counts: HTMLSpanElement;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export class ConversationsView {
  private readonly items = new Map<string, Item>();
  private selected: string | undefined;

  constructor(
    private readonly list: HTMLUListElement,
    private readonly all: HTMLButtonElement,
    private readonly empty: HTMLElement,
    private readonly onSelect: (conversationId: string | undefined) => void,
  ) {
    all.addEventListener('click', () => this.select(undefined));
    list.addEventListener('click', (e) => {
      const li = e.target instanceof Element ? e.target.closest('li[data-conversation-id]') : null;
      const id = li?.getAttribute('data-conversation-id');
      if (id) this.select(id === this.selected ? undefined : id);
    });
  }

  get selection(): string | undefined {
    return this.selected;
  }

  /** Shows these conversations in this order, moving only the items out of place (a moved node loses focus). */
  render(conversations: readonly ConversationItem[]): void {
    const wanted = new Set(conversations.map((c) => c.id));
    for (const [id, item] of this.items) {
      if (!wanted.has(id)) {
        item.li.remove();
        this.items.delete(id);
      }
    }
    let position: Element | null = this.list.firstElementChild;
    for (const c of conversations) {
      let item = this.items.get(c.id);
      if (!item) {
        item = this.build(c.id);
        this.items.set(c.id, item);
      }
      setText(item.name, c.name);
      setText(item.counts, `${plural(c.memberCount, 'member', 'members')} · ${plural(c.legCount, 'leg', 'legs')}`);
      setAttr(item.li, 'data-legs', String(c.legCount));
      if (item.li === position) position = position.nextElementSibling;
      else this.list.insertBefore(item.li, position);
    }
    this.empty.hidden = conversations.length > 0;
    if (this.selected !== undefined && !wanted.has(this.selected)) this.select(undefined);
    else this.mark();
  }

  /** Narrows the console to one conversation, or to none (all). */
  select(conversationId: string | undefined): void {
    this.selected = conversationId;
    this.mark();
    this.onSelect(conversationId);
  }

  private mark(): void {
    setAttr(this.all, 'aria-pressed', String(this.selected === undefined));
    for (const [id, item] of this.items) setAttr(item.button, 'aria-pressed', String(id === this.selected));
  }

  private build(id: string): Item {
    const name = h('span', { class: 'name' });
    const counts = h('span', { class: 'counts' });
    // The hidden comma keeps the name and the counts apart when read aloud ("sales, 2 members").
    const button = h(
      'button',
      { type: 'button', class: 'conversation', 'aria-pressed': 'false', title: id },
      name,
      h('span', { class: 'visually-hidden' }, ', '),
      counts,
    );
    const li = h('li', { 'data-conversation-id': id }, button);
    return { li, button, name, counts };
  }
}
