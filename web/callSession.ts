/**
 * The call page once a conversation is joined: members, events, the call controls and the text
 * form, all fed by the client's events (history replayed first, then live).
 */
import type { Call, ConnectionState, Joined, LegwayClient, LegwayEvent } from '../client/index.js';
import { byId, describeError } from './callDom.js';
import { isOf } from './callEventTypes.js';
import { EventFeed } from './callEvents.js';
import { MemberRoster } from './callMembers.js';
import { CallPanel } from './callPanel.js';
import { VideoTiles } from './callVideos.js';

declare global {
  interface Window {
    /** For end-to-end tests: the page's client and its current (or last) call. */
    legwayCall?: { client: LegwayClient; call: Call | undefined };
  }
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};

/** Shows a connection state in the header. */
export function showConnection(state: ConnectionState): void {
  const el = byId('connection', HTMLElement);
  el.textContent = CONNECTION_TEXT[state];
  el.dataset.state = state;
}

function query<T extends Element>(root: Element, selector: string, kind: new () => T): T {
  const found = root.querySelector(selector);
  if (!(found instanceof kind)) throw new Error(`call page: ${selector} is missing`);
  return found;
}

/** Wires the joined conversation into the page; returns what each of its events is to be given to. */
export function openSession(client: LegwayClient, joined: Joined, label: string): (event: LegwayEvent) => void {
  const errorBox = byId('error', HTMLElement);
  const run = async (action: () => Promise<unknown>): Promise<void> => {
    errorBox.textContent = '';
    try {
      await action();
    } catch (err) {
      errorBox.textContent = describeError(err);
    }
  };

  const state: { client: LegwayClient; call: Call | undefined } = { client, call: undefined };
  window.legwayCall = state;

  const roster = new MemberRoster(query(byId('members', HTMLElement), 'ul.members', HTMLUListElement), byId('member-count', HTMLElement));
  roster.setSelf(joined.member_id);
  const feed = new EventFeed(query(byId('events', HTMLElement), 'ol.events', HTMLOListElement), (id) => roster.nameOf(id));
  const tiles = new VideoTiles(byId('videos', HTMLElement), (legId) => {
    const member = roster.memberOfLeg(legId);
    return member === undefined ? undefined : roster.nameOf(member);
  });
  roster.onChange(() => tiles.refreshCaptions());
  const panel = new CallPanel(
    {
      call: byId('call', HTMLButtonElement),
      withVideo: byId('with-video', HTMLInputElement),
      mute: byId('mute', HTMLButtonElement),
      video: byId('video', HTMLButtonElement),
      earmuff: byId('earmuff', HTMLButtonElement),
      status: byId('call-status', HTMLElement),
      remoteAudio: byId('remote-audio', HTMLAudioElement),
      keypad: byId('keypad', HTMLElement),
    },
    client,
    joined.conversation_id,
    tiles,
    {
      run,
      changed: (call) => {
        state.call = call;
      },
    },
  );

  const conversationName = byId('conversation-name', HTMLElement);
  const selfName = byId('self-name', HTMLElement);
  conversationName.textContent = label;
  byId('where', HTMLElement).hidden = false;

  const textForm = byId('text-form', HTMLFormElement);
  const textInput = byId('text', HTMLInputElement);
  const send = byId('send', HTMLButtonElement);
  textForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = textInput.value.trim();
    if (text === '') return;
    send.disabled = true;
    void run(async () => {
      await client.sendText(joined.conversation_id, text);
      textInput.value = '';
    }).finally(() => {
      send.disabled = false;
      textInput.focus();
    });
  });

  client.onConnection((change) => {
    showConnection(change.state);
    panel.setOnline(change.state === 'connected');
    if (change.state === 'closed' && change.error) errorBox.textContent = describeError(change.error);
  });
  client.onRejoinFailed((_id, err) => {
    errorBox.textContent = describeError(err);
  });

  const gone = (why: string): void => {
    void panel.hangup().catch(() => undefined);
    panel.setOnline(false);
    send.disabled = true;
    textInput.disabled = true;
    errorBox.textContent = why;
  };

  return (event) => {
    if (event.conversation_id !== joined.conversation_id) return;
    roster.apply(event);
    feed.add(event);
    if (isOf(event, 'conversation:created') || isOf(event, 'conversation:updated')) {
      conversationName.textContent = event.body.display_name ?? event.body.name;
    } else if (isOf(event, 'member:joined') && event.body.member_id === joined.member_id) {
      selfName.textContent = `as ${event.body.user.display_name ?? event.body.user.name}`;
    } else if (isOf(event, 'member:left') && event.body.member_id === joined.member_id) {
      // A user who comes back gets a new member, so this is a departure after this join, never replayed history.
      gone(`You are no longer in this conversation${event.body.reason === undefined ? '' : ` (${event.body.reason})`}.`);
    } else if (isOf(event, 'conversation:deleted')) {
      gone('This conversation has been deleted.');
    }
  };
}
