/**
 * The legs table: one row per live leg, built once and then updated cell by cell as events arrive,
 * so a burst of speaking events costs a few text writes rather than a redrawn table.
 */
import { h, setAttr, setText, shortId } from './consoleDom.js';
import type { ConsoleLeg, Names } from './consoleStore.js';

/** The per-row buttons; `mute`, `earmuff` and `record` are toggles. */
export type LegAction = 'mute' | 'earmuff' | 'record' | 'play' | 'say' | 'transfer' | 'hangup';

interface ButtonSpec {
  action: LegAction;
  text: string;
  /** The accessible name, which must contain the visible text (WCAG 2.5.3). */
  label: (member: string) => string;
  toggle?: true;
  dialog?: true;
  className?: string;
}

const BUTTONS: readonly ButtonSpec[] = [
  { action: 'mute', text: 'Mute', label: (m) => `Mute ${m}`, toggle: true },
  { action: 'earmuff', text: 'Earmuff', label: (m) => `Earmuff ${m}`, toggle: true },
  { action: 'record', text: 'Record', label: (m) => `Record ${m}`, toggle: true },
  { action: 'play', text: 'Play…', label: (m) => `Play audio to ${m}`, dialog: true },
  { action: 'say', text: 'Say…', label: (m) => `Say text to ${m}`, dialog: true },
  { action: 'transfer', text: 'Transfer…', label: (m) => `Transfer ${m}`, dialog: true },
  { action: 'hangup', text: 'Hang up', label: (m) => `Hang up ${m}`, className: 'danger' },
];

interface Row {
  tr: HTMLTableRowElement;
  member: HTMLTableCellElement;
  conversation: HTMLTableCellElement;
  state: HTMLTableCellElement;
  muted: HTMLTableCellElement;
  earmuffed: HTMLTableCellElement;
  speaking: HTMLTableCellElement;
  buttons: Map<LegAction, HTMLButtonElement>;
}

/** What a row's button asks for. */
export type LegActionHandler = (action: LegAction, legId: string) => void;

/** A badge when on, a dash when off: the cell's text is exactly the word the tests and screen readers read. */
function flagCell(cell: HTMLTableCellElement, on: boolean, word: string, badgeClass: string): void {
  const current = cell.firstElementChild;
  if (on && current?.textContent === word) return;
  if (!on && current === null && cell.textContent === '—') return;
  if (on) cell.replaceChildren(h('span', { class: `badge ${badgeClass}` }, word));
  else cell.replaceChildren('—');
}

export class LegsView {
  private readonly rows = new Map<string, Row>();
  private conversation: string | undefined;

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly empty: HTMLElement,
    private readonly names: Names,
    onAction: LegActionHandler,
  ) {
    // One listener for every row's buttons, rows come and go too often to wire each.
    body.addEventListener('click', (e) => {
      const button = e.target instanceof Element ? e.target.closest('button[data-action]') : null;
      const legId = button?.closest('tr')?.dataset.legId;
      const action = button?.getAttribute('data-action');
      if (legId !== undefined && isLegAction(action)) onAction(action, legId);
    });
  }

  /** The name shown for a leg's member, also used in its buttons' labels. */
  memberLabel(leg: ConsoleLeg): string {
    return this.names.memberName(leg.memberId) ?? leg.memberId;
  }

  has(legId: string): boolean {
    return this.rows.has(legId);
  }

  /** Adds or updates a leg's row. */
  update(leg: ConsoleLeg): void {
    let row = this.rows.get(leg.id);
    if (!row) {
      row = this.build(leg);
      this.rows.set(leg.id, row);
      this.insert(row.tr, leg.conversationId);
    }
    const { tr } = row;
    setAttr(tr, 'data-conversation-id', leg.conversationId);
    setAttr(tr, 'data-state', leg.status);
    setAttr(tr, 'data-muted', String(leg.muted));
    setAttr(tr, 'data-earmuffed', String(leg.earmuffed));
    setAttr(tr, 'data-speaking', String(leg.speaking));
    setAttr(tr, 'data-recording', String(leg.recording !== undefined));
    setText(row.state, leg.status);
    flagCell(row.muted, leg.muted, 'muted', 'on');
    flagCell(row.earmuffed, leg.earmuffed, 'earmuffed', 'on');
    flagCell(row.speaking, leg.speaking, 'speaking', 'speaking');
    this.label(row, leg);
    const pressed: Partial<Record<LegAction, boolean>> = { mute: leg.muted, earmuff: leg.earmuffed, record: leg.recording !== undefined };
    const ended = leg.status === 'ended';
    for (const [action, button] of row.buttons) {
      const on = pressed[action];
      if (on !== undefined) setAttr(button, 'aria-pressed', String(on));
      if (button.disabled !== ended) button.disabled = ended;
    }
    const playing = row.buttons.get('play');
    if (playing) setAttr(playing, 'data-active', String(leg.plays.size > 0));
    const saying = row.buttons.get('say');
    if (saying) setAttr(saying, 'data-active', String(leg.says.size > 0));
    this.applyFilter(row);
    this.updateEmpty();
  }

  remove(legId: string): void {
    const row = this.rows.get(legId);
    if (!row) return;
    row.tr.remove();
    this.rows.delete(legId);
    this.updateEmpty();
  }

  /** Shows only one conversation's legs (all when undefined). */
  filter(conversationId: string | undefined): void {
    this.conversation = conversationId;
    for (const row of this.rows.values()) this.applyFilter(row);
    this.updateEmpty();
  }

  /** Redoes names after members or conversations were learned. */
  relabel(legs: ReadonlyMap<string, ConsoleLeg>): void {
    for (const [id, row] of this.rows) {
      const leg = legs.get(id);
      if (leg) this.label(row, leg);
    }
  }

  private label(row: Row, leg: ConsoleLeg): void {
    const member = this.memberLabel(leg);
    setText(row.member, member);
    setAttr(row.member, 'title', leg.memberId);
    setText(row.conversation, this.names.conversationName(leg.conversationId) ?? shortId(leg.conversationId));
    setAttr(row.conversation, 'title', leg.conversationId);
    for (const spec of BUTTONS) {
      const button = row.buttons.get(spec.action);
      if (button) setAttr(button, 'aria-label', spec.label(member));
    }
  }

  private build(leg: ConsoleLeg): Row {
    const buttons = new Map<LegAction, HTMLButtonElement>();
    for (const spec of BUTTONS) {
      const button = h(
        'button',
        {
          type: 'button',
          'data-action': spec.action,
          class: spec.className ?? false,
          'aria-pressed': spec.toggle ? 'false' : false,
          'aria-haspopup': spec.dialog ? 'dialog' : false,
        },
        spec.text,
      );
      buttons.set(spec.action, button);
    }
    const row: Row = {
      tr: h('tr', { 'data-leg-id': leg.id }),
      member: h('th', { scope: 'row', 'data-field': 'member' }),
      conversation: h('td', { 'data-field': 'conversation' }),
      state: h('td', { 'data-field': 'state' }),
      muted: h('td', { 'data-field': 'muted' }, '—'),
      earmuffed: h('td', { 'data-field': 'earmuffed' }, '—'),
      speaking: h('td', { 'data-field': 'speaking' }, '—'),
      buttons,
    };
    const actions = h('td', { class: 'actions' }, h('div', { class: 'actions' }, ...buttons.values()));
    row.tr.append(row.member, row.conversation, h('td', { 'data-field': 'type' }, leg.type), row.state, row.muted, row.earmuffed, row.speaking, actions);
    return row;
  }

  /** New rows go after their conversation's last row, so a conversation's legs stay together. */
  private insert(tr: HTMLTableRowElement, conversationId: string): void {
    let after: HTMLTableRowElement | undefined;
    for (const row of this.rows.values()) if (row.tr.isConnected && row.tr.dataset.conversationId === conversationId) after = row.tr;
    if (after) after.after(tr);
    else this.body.append(tr);
  }

  private applyFilter(row: Row): void {
    const hidden = this.conversation !== undefined && row.tr.dataset.conversationId !== this.conversation;
    if (row.tr.hidden !== hidden) row.tr.hidden = hidden;
  }

  private updateEmpty(): void {
    let visible = false;
    for (const row of this.rows.values()) {
      if (!row.tr.hidden) {
        visible = true;
        break;
      }
    }
    if (this.empty.hidden !== visible) this.empty.hidden = visible;
  }
}

function isLegAction(value: string | null | undefined): value is LegAction {
  return BUTTONS.some((spec) => spec.action === value);
}
