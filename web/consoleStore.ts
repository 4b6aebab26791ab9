/**
 * What the console knows: live conversations, live legs and member names, kept from the gateway's
 * lists and brought up to date by its events. Views listen; nothing here touches the DOM.
 */
import type { LegwayEvent, ListedConversation, LiveLeg } from '../client/index.js';

/** A live leg as the console shows it. */
export interface ConsoleLeg {
  readonly id: string;
  conversationId: string;
  memberId: string;
  type: LiveLeg['type'];
  status: LiveLeg['status'];
  muted: boolean;
  earmuffed: boolean;
  speaking: boolean;
  /** The recording running on this leg, if any. */
  recording: string | undefined;
  /** Plays and says running on this leg (ids). */
  readonly plays: Set<string>;
  readonly says: Set<string>;
}

/** A live conversation as the console shows it. */
export interface ConsoleConversation {
  readonly id: string;
  name: string;
  memberCount: number;
}

/** Names for ids, for views that show people and places rather than UUIDs. */
export interface Names {
  conversationName(id: string): string | undefined;
  memberName(id: string): string | undefined;
}

/** What the store tells its views. */
export interface StoreListener {
  /** A leg appeared or changed (an ended leg still shows, as `ended`, until `legRemoved`). */
  legChanged(leg: ConsoleLeg): void;
  legRemoved(legId: string): void;
  /** Conversations were added, removed or renamed, or their member or leg counts changed. */
  conversationsChanged(): void;
  /** Names of members or conversations were learned: labels may need redoing. */
  namesChanged(): void;
}

/** What an event asks the console to re-read, because events alone do not carry it. */
export interface Refresh {
  legs: boolean;
  conversations: boolean;
}

/** Events that change a leg's status or conversation in ways only `leg:list` states exactly. */
const LEG_LIFECYCLE = new Set(['rtc:offer', 'rtc:answer', 'rtc:status', 'rtc:transfer', 'sip:ringing', 'sip:answered', 'sip:status', 'member:media']);
const LEG_ENDS = new Set(['rtc:hangup', 'rtc:terminate', 'sip:hangup']);
const TOGGLES: Readonly<Record<string, readonly ['muted' | 'earmuffed' | 'speaking', boolean]>> = {
  'audio:mute:on': ['muted', true],
  'audio:mute:off': ['muted', false],
  'audio:earmuff:on': ['earmuffed', true],
  'audio:earmuff:off': ['earmuffed', false],
  'audio:speaking:on': ['speaking', true],
  'audio:speaking:off': ['speaking', false],
};
/** Ended legs remembered, so that their late events (recording done, media down) do not look like new legs. */
const GONE_REMEMBERED = 1000;

/** Reads a string field of an event body whatever its type. */
export function bodyString(body: object, key: string): string | undefined {
  const value = (body as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/** The `user.name` of a member event's body. */
function userName(body: object): string | undefined {
  const user = (body as Record<string, unknown>).user;
  return typeof user === 'object' && user !== null ? bodyString(user, 'name') : undefined;
}

export class ConsoleStore implements Names {
  readonly legs = new Map<string, ConsoleLeg>();
  readonly conversations = new Map<string, ConsoleConversation>();
  private readonly memberNames = new Map<string, string>();
  private readonly gone = new Set<string>();
  private readonly removals = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly listener: StoreListener,
    /** How long an ended leg stays on screen, so the operator sees how it ended. */
    private readonly endedVisibleMs = 4000,
  ) {}

  conversationName(id: string): string | undefined {
    return this.conversations.get(id)?.name;
  }

  memberName(id: string): string | undefined {
    return this.memberNames.get(id);
  }

  /** Live (not ended) legs per conversation, in one pass over the legs. */
  legCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const leg of this.legs.values()) if (leg.status !== 'ended') counts.set(leg.conversationId, (counts.get(leg.conversationId) ?? 0) + 1);
    return counts;
  }

  /** Takes `leg:list` as the truth: new legs appear, listed ones update, unlisted ones have ended. */
  reconcileLegs(listed: readonly LiveLeg[]): void {
    const seen = new Set<string>();
    let moved = false;
    for (const live of listed) {
      // A leg ending as the list was read: its end event is already here, and wins.
      if (this.gone.has(live.id)) continue;
      seen.add(live.id);
      const known = this.legs.get(live.id);
      if (known) {
        moved ||= known.conversationId !== live.conversation_id;
        known.conversationId = live.conversation_id;
        known.memberId = live.member_id;
        known.status = live.status;
        known.muted = live.media.muted;
        known.earmuffed = live.media.earmuffed;
        known.speaking = live.speaking;
        this.listener.legChanged(known);
      } else {
        moved = true;
        const leg: ConsoleLeg = {
          id: live.id,
          conversationId: live.conversation_id,
          memberId: live.member_id,
          type: live.type,
          status: live.status,
          muted: live.media.muted,
          earmuffed: live.media.earmuffed,
          speaking: live.speaking,
          recording: undefined,
          plays: new Set(),
          says: new Set(),
        };
        this.legs.set(leg.id, leg);
        this.listener.legChanged(leg);
      }
    }
    for (const leg of this.legs.values()) {
      if (!seen.has(leg.id) && leg.status !== 'ended') {
        this.end(leg);
        moved = true;
      }
    }
    if (moved) this.listener.conversationsChanged();
  }

  /** Takes `conversation:list` (all pages) as the truth for conversations and member names. */
  reconcileConversations(listed: readonly ListedConversation[]): void {
    const seen = new Set<string>();
    for (const c of listed) {
      seen.add(c.id);
      this.conversations.set(c.id, { id: c.id, name: c.display_name ?? c.name, memberCount: c.member_count });
      for (const member of c.members) this.memberNames.set(member.id, member.user.display_name ?? member.user.name);
    }
    for (const id of this.conversations.keys()) if (!seen.has(id)) this.conversations.delete(id);
    this.listener.conversationsChanged();
    this.listener.namesChanged();
  }

  /** Applies one event; answers what must be re-read because the event does not say it all. */
  apply(event: LegwayEvent): Refresh {
    const refresh: Refresh = { legs: false, conversations: false };
    const body = event.body as object;
    this.applyConversationEvent(event, body, refresh);
    const legId = bodyString(body, 'leg_id');
    if (legId === undefined || this.gone.has(legId)) return refresh;
    const leg = this.legs.get(legId);
    if (!leg) {
      // A leg the console has not listed yet: only the list has its member, type and status.
      refresh.legs = true;
      return refresh;
    }
    if (LEG_LIFECYCLE.has(event.type)) refresh.legs = true;
    this.applyLegEvent(leg, event, body);
    return refresh;
  }

  private applyConversationEvent(event: LegwayEvent, body: object, refresh: Refresh): void {
    switch (event.type) {
      case 'conversation:created':
      case 'conversation:updated': {
        const name = bodyString(body, 'display_name') ?? bodyString(body, 'name') ?? event.conversation_id;
        const known = this.conversations.get(event.conversation_id);
        if (known) known.name = name;
        else this.conversations.set(event.conversation_id, { id: event.conversation_id, name, memberCount: 0 });
        this.listener.conversationsChanged();
        this.listener.namesChanged();
        return;
      }
      case 'conversation:deleted':
        if (this.conversations.delete(event.conversation_id)) this.listener.conversationsChanged();
        return;
      case 'member:invited':
      case 'member:joined':
      case 'member:left': {
        const memberId = bodyString(body, 'member_id');
        const name = userName(body);
        if (memberId !== undefined && name !== undefined && this.memberNames.get(memberId) !== name) {
          this.memberNames.set(memberId, name);
          this.listener.namesChanged();
        }
        // Counts of members come from the list, which knows who was already counted.
        refresh.conversations = true;
        return;
      }
      default:
        if (!this.conversations.has(event.conversation_id)) refresh.conversations = true;
    }
  }

  private applyLegEvent(leg: ConsoleLeg, event: LegwayEvent, body: object): void {
    const toggle = TOGGLES[event.type];
    if (toggle) {
      const [field, on] = toggle;
      leg[field] = on;
    } else if (LEG_ENDS.has(event.type)) {
      this.end(leg);
      this.listener.conversationsChanged();
      return;
    } else {
      this.applyMediaEvent(leg, event.type, body);
      switch (event.type) {
        case 'rtc:transfer':
          leg.conversationId = bodyString(body, 'to_conversation_id') ?? leg.conversationId;
          this.listener.conversationsChanged();
          break;
        case 'sip:ringing':
          if (leg.status !== 'ending') leg.status = 'ringing';
          break;
        case 'sip:answered':
          if (leg.status !== 'ending') leg.status = 'connected';
          break;
        default:
          break;
      }
    }
    this.listener.legChanged(leg);
  }

  /** Recording, play and say start and stop. */
  private applyMediaEvent(leg: ConsoleLeg, type: string, body: object): void {
    const recording = bodyString(body, 'recording_id');
    const play = bodyString(body, 'play_id');
    const say = bodyString(body, 'say_id');
    switch (type) {
      case 'audio:record':
        leg.recording = recording;
        break;
      case 'audio:record:stop':
      case 'audio:record:done':
        if (leg.recording === recording) leg.recording = undefined;
        break;
      case 'audio:play':
        if (play !== undefined) leg.plays.add(play);
        break;
      case 'audio:play:stop':
      case 'audio:play:done':
        if (play !== undefined) leg.plays.delete(play);
        break;
      case 'audio:say':
        if (say !== undefined) leg.says.add(say);
        break;
      case 'audio:say:stop':
      case 'audio:say:done':
        if (say !== undefined) leg.says.delete(say);
        break;
      default:
        break;
    }
  }

  /** Shows the leg as ended, then removes it a little later. */
  private end(leg: ConsoleLeg): void {
    leg.status = 'ended';
    leg.speaking = false;
    leg.recording = undefined;
    leg.plays.clear();
    leg.says.clear();
    this.gone.add(leg.id);
    if (this.gone.size > GONE_REMEMBERED) {
      const oldest = this.gone.values().next();
      if (!oldest.done) this.gone.delete(oldest.value);
    }
    this.listener.legChanged(leg);
    if (this.removals.has(leg.id)) return;
    this.removals.set(
      leg.id,
      setTimeout(() => {
        this.removals.delete(leg.id);
        this.legs.delete(leg.id);
        this.listener.legRemoved(leg.id);
      }, this.endedVisibleMs),
    );
  }
}
