/**
 * The conversation's members as the call page shows them. There is no member-list request in the
 * client namespace, so the roster is rebuilt from the replayed history and kept current by live
 * events; legs are tied to members through `from`, which for leg events is the leg's member.
 */
import type { LegwayEvent } from '../client/index.js';
import { h } from './callDom.js';
import { bodyString, isOf, LEG_ENDINGS } from './callEventTypes.js';

type MemberState = 'invited' | 'joined' | 'left';

interface LegMedia {
  audio: boolean;
  video: boolean;
  muted: boolean;
}

interface Member {
  id: string;
  name: string;
  state: MemberState;
  /** Order of first appearance, so the list does not jump around. */
  order: number;
  media: Map<string, LegMedia>;
  speaking: Set<string>;
  view: MemberView;
}

interface MemberView {
  li: HTMLLIElement;
  name: HTMLSpanElement;
  avatar: HTMLSpanElement;
  you: HTMLSpanElement;
  speaking: HTMLSpanElement;
  inCall: HTMLSpanElement;
  video: HTMLSpanElement;
  muted: HTMLSpanElement;
  state: HTMLSpanElement;
}

const STATE_ORDER: Record<MemberState, number> = { joined: 0, invited: 1, left: 2 };

function badge(text: string, extra: string, marker: string): HTMLSpanElement {
  return h('span', { class: `badge ${extra}`.trim(), [marker]: true, hidden: true }, text);
}

function createView(id: string): MemberView {
  const view: MemberView = {
    li: h('li', { 'data-member-id': id }),
    avatar: h('span', { class: 'avatar', 'aria-hidden': 'true' }),
    name: h('span', { class: 'name' }),
    you: badge('you', 'you', 'data-you'),
    speaking: badge('speaking', 'speaking', 'data-speaking'),
    inCall: badge('in call', 'in-call', 'data-in-call'),
    video: badge('video', 'video', 'data-video'),
    muted: badge('muted', 'on', 'data-muted'),
    state: badge('', 'state', 'data-state-badge'),
  };
  const badges = h('span', { class: 'badges' }, view.you, view.speaking, view.inCall, view.video, view.muted, view.state);
  view.li.append(view.avatar, h('span', { class: 'who' }, view.name, badges));
  return view;
}

/** The roster of one conversation, rendered into a list element. */
export class MemberRoster {
  private readonly members = new Map<string, Member>();
  private readonly legMembers = new Map<string, string>();
  private self: string | undefined;
  private next = 0;
  private scheduled = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly list: HTMLUListElement,
    private readonly count: HTMLElement,
  ) {}

  /** Marks this page's own member. */
  setSelf(memberId: string): void {
    this.self = memberId;
    this.schedule();
  }

  /** Called after every render (video captions follow member names). */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** The user name of a member, when known. */
  nameOf(memberId: string): string | undefined {
    return this.members.get(memberId)?.name;
  }

  /** The member a leg belongs to, when known. */
  memberOfLeg(legId: string): string | undefined {
    return this.legMembers.get(legId);
  }

  /** Takes one conversation event into account. */
  apply(event: LegwayEvent): void {
    if (isOf(event, 'member:joined') || isOf(event, 'member:invited') || isOf(event, 'member:left')) {
      const member = this.upsert(event.body.member_id, event.body.user.display_name ?? event.body.user.name);
      member.state = event.body.state;
      if (member.state === 'left') this.quiet(member);
    } else if (isOf(event, 'member:media')) {
      const member = this.members.get(event.body.member_id);
      if (event.body.leg_id !== undefined) this.legMembers.set(event.body.leg_id, event.body.member_id);
      if (member) {
        const { audio, video, muted } = event.body.media;
        const legKey = event.body.leg_id ?? '';
        if (audio || video) member.media.set(legKey, { audio, video, muted });
        else {
          member.media.delete(legKey);
          member.speaking.delete(legKey);
        }
      }
    } else {
      this.applyLegEvent(event);
    }
    this.schedule();
  }

  private applyLegEvent(event: LegwayEvent): void {
    const legId = bodyString(event, 'leg_id');
    if (legId === undefined) return;
    if (event.from.startsWith('MEM-')) this.legMembers.set(legId, event.from);
    const member = this.members.get(this.legMembers.get(legId) ?? '');
    if (!member) return;
    if (event.type === 'audio:speaking:on') member.speaking.add(legId);
    else if (event.type === 'audio:speaking:off') member.speaking.delete(legId);
    else if (event.type === 'audio:mute:on' || event.type === 'audio:mute:off') {
      const media = member.media.get(legId) ?? { audio: true, video: false, muted: false };
      member.media.set(legId, { ...media, muted: event.type === 'audio:mute:on' });
    } else if (LEG_ENDINGS.has(event.type) || (isOf(event, 'rtc:transfer') && event.body.to_conversation_id !== event.conversation_id)) {
      member.speaking.delete(legId);
      member.media.delete(legId);
    }
  }

  private upsert(id: string, name: string): Member {
    let member = this.members.get(id);
    if (!member) {
      member = { id, name, state: 'joined', order: this.next++, media: new Map(), speaking: new Set(), view: createView(id) };
      this.members.set(id, member);
    }
    member.name = name;
    return member;
  }

  /** A member who left has no legs any more: whatever was not announced as ended is over. */
  private quiet(member: Member): void {
    member.speaking.clear();
    member.media.clear();
  }

  /** Renders once per burst of events (a replay brings hundreds in a row). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.render();
    }, 0);
  }

  private render(): void {
    const sorted = [...this.members.values()].sort((a, b) => {
      const self = Number(b.id === this.self) - Number(a.id === this.self);
      return self || STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.order - b.order;
    });
    for (const member of sorted) this.update(member);
    // Appending an element already in the list moves it: this puts the items in order.
    const current = [...this.list.children];
    if (sorted.some((m, i) => current[i] !== m.view.li)) this.list.append(...sorted.map((m) => m.view.li));
    const present = sorted.filter((m) => m.state === 'joined').length;
    this.count.textContent = String(present);
    for (const listener of this.listeners) listener();
  }

  private update(member: Member): void {
    const { view } = member;
    const legs = [...member.media.values()];
    const audio = legs.filter((m) => m.audio);
    view.li.dataset.state = member.state;
    view.name.textContent = member.name;
    view.avatar.textContent = member.name.slice(0, 1).toUpperCase();
    view.you.hidden = member.id !== this.self;
    // The bridge still detects speech on a muted leg; nobody hears it, so it is not shown as speaking.
    const heard = [...member.speaking].some((legId) => member.media.get(legId)?.muted !== true);
    view.speaking.hidden = !heard;
    view.li.classList.toggle('is-speaking', heard);
    view.inCall.hidden = legs.length === 0;
    view.video.hidden = !legs.some((m) => m.video);
    view.muted.hidden = audio.length === 0 || !audio.every((m) => m.muted);
    view.state.hidden = member.state === 'joined';
    view.state.textContent = member.state;
  }
}
