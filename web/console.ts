/**
 * The operator console (`/console`): live conversations and legs, per-leg actions, and the event
 * stream. Rows change only when the gateway's events (or lists) say so, never optimistically.
 */
import { LegwayClientError, OperatorClient, type ConnectionState, type LegwayEvent, type ListedConversation } from '../client/index.js';
import { ConversationsView } from './consoleConversations.js';
import { ActionDialog, type DialogChoice } from './consoleDialog.js';
import { byId, describeError, setAttr, setText, shortId } from './consoleDom.js';
import { EventsView } from './consoleEvents.js';
import { LegsView, type LegAction } from './consoleLegs.js';
import { signIn, type Credentials } from './consoleLogin.js';
import { Refresher } from './consoleRefresh.js';
import { ConsoleStore, type ConsoleLeg, type StoreListener } from './consoleStore.js';

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};
/** Events that name an unknown leg come in bursts (offer, answer, status…): one list read covers them. */
const LEG_REFRESH_MS = 150;
const CONVERSATION_REFRESH_MS = 300;
/** How long an action's notice stays. */
const NOTICE_MS = 6000;
/** Pages of `conversation:list` read at most (100 each): a console for more would need search. */
const CONVERSATION_PAGES = 20;

const connection = byId('connection', HTMLElement);
const errorBox = byId('error', HTMLElement);

function showConnection(state: ConnectionState): void {
  setText(connection, CONNECTION_TEXT[state]);
  setAttr(connection, 'data-state', state);
}

function showError(err: unknown): void {
  errorBox.textContent = describeError(err);
}

/** The signed-in console: owns the views, keeps them in step with the store, and runs the operator's actions. */
class Console implements StoreListener {
  private readonly store = new ConsoleStore(this);
  private readonly legs: LegsView;
  private readonly conversations: ConversationsView;
  private readonly events: EventsView;
  private readonly dialog: ActionDialog;
  private readonly notice = byId('notice', HTMLElement);
  private readonly legRefresh: Refresher;
  private readonly conversationRefresh: Refresher;
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;
  private conversationsDirty = false;
  private namesDirty = false;

  constructor(private readonly client: OperatorClient) {
    const table = byId('legs', HTMLTableElement);
    const body = table.tBodies[0] ?? table.createTBody();
    this.legs = new LegsView(body, byId('legs-empty', HTMLElement), this.store, (action, legId) => this.act(action, legId));
    const section = byId('conversations', HTMLElement);
    const list = section.querySelector('ul');
    if (!(list instanceof HTMLUListElement)) throw new Error('console page: the conversations list is missing');
    this.conversations = new ConversationsView(list, byId('conversation-all', HTMLButtonElement), byId('conversations-empty', HTMLElement), (id) =>
      this.scope(id),
    );
    this.events = new EventsView(byId('events', HTMLOListElement), byId('events-status', HTMLElement), {
      conversationName: (id) => this.store.conversationName(id),
      memberName: (id) => this.store.memberName(id),
      legMember: (id) => {
        const leg = this.store.legs.get(id);
        return leg && (this.store.memberName(leg.memberId) ?? shortId(leg.memberId));
      },
    });
    this.dialog = new ActionDialog((legId, choice) => this.confirm(legId, choice));
    const quiet = (err: unknown): void => {
      // Lost connection: the reconnection re-reads everything anyway.
      if (!(err instanceof LegwayClientError && err.code === 'Disconnected')) showError(err);
    };
    this.legRefresh = new Refresher(async () => this.store.reconcileLegs(await client.listLegs()), LEG_REFRESH_MS, quiet);
    this.conversationRefresh = new Refresher(async () => this.store.reconcileConversations(await this.readConversations()), CONVERSATION_REFRESH_MS, quiet);
    this.wireFilters();
  }

  /** Starts watching, then reads the lists (in that order, so that nothing falls between them). */
  async start(): Promise<void> {
    this.client.onEvent((event) => this.onEvent(event));
    this.client.onReconnected(() => void this.readAll());
    await this.client.watch();
    await this.readAll();
  }

  // ── StoreListener ──────────────────────────────────────────────────────────

  legChanged(leg: ConsoleLeg): void {
    const known = this.legs.has(leg.id);
    this.legs.update(leg);
    // The stream may already show a new leg's first events under its id.
    if (!known) this.namesChanged();
  }

  legRemoved(legId: string): void {
    this.legs.remove(legId);
    this.conversationsChanged();
  }

  conversationsChanged(): void {
    // Many store changes come from one event or list: draw the panel once after them.
    if (this.conversationsDirty) return;
    this.conversationsDirty = true;
    queueMicrotask(() => {
      this.conversationsDirty = false;
      this.drawConversations();
    });
  }

  namesChanged(): void {
    if (this.namesDirty) return;
    this.namesDirty = true;
    queueMicrotask(() => {
      this.namesDirty = false;
      this.legs.relabel(this.store.legs);
      this.events.rename();
      this.drawScope();
    });
  }

  // ── Reading ────────────────────────────────────────────────────────────────

  private onEvent(event: LegwayEvent): void {
    const refresh = this.store.apply(event);
    if (refresh.legs) this.legRefresh.schedule();
    if (refresh.conversations) this.conversationRefresh.schedule();
    this.events.push(event);
  }

  private async readAll(): Promise<void> {
    await Promise.all([this.conversationRefresh.now(), this.legRefresh.now()]);
  }

  private async readConversations(): Promise<ListedConversation[]> {
    const all: ListedConversation[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < CONVERSATION_PAGES; page++) {
      const { conversations, next_cursor } = await this.client.listConversations({ page_size: 100, ...(cursor !== undefined && { cursor }) });
      all.push(...conversations);
      if (next_cursor === undefined) break;
      cursor = next_cursor;
    }
    return all;
  }

  // ── Drawing ────────────────────────────────────────────────────────────────

  private drawConversations(): void {
    const legs = this.store.legCounts();
    const items = [...this.store.conversations.values()].map((c) => ({ id: c.id, name: c.name, memberCount: c.memberCount, legCount: legs.get(c.id) ?? 0 }));
    this.conversations.render(items);
    this.dialog.setConversationNames(items.map((c) => c.name));
    this.drawScope();
  }

  /** Narrows the legs and events to one conversation (all when undefined). */
  private scope(conversationId: string | undefined): void {
    this.legs.filter(conversationId);
    this.events.setConversation(conversationId);
    this.drawScope();
  }

  private drawScope(): void {
    const id = this.conversations.selection;
    const text = id === undefined ? '' : `in ${this.store.conversationName(id) ?? shortId(id)}`;
    for (const scope of document.querySelectorAll('[data-scope]')) setText(scope, text);
  }

  private wireFilters(): void {
    const type = byId('filter-type', HTMLInputElement);
    const pause = byId('pause', HTMLButtonElement);
    type.addEventListener('input', () => this.events.setTypeFilter(type.value));
    byId('event-filters', HTMLFormElement).addEventListener('submit', (e) => e.preventDefault());
    pause.addEventListener('click', () => {
      const paused = pause.getAttribute('aria-pressed') !== 'true';
      pause.setAttribute('aria-pressed', String(paused));
      this.events.setPaused(paused);
    });
    byId('clear-events', HTMLButtonElement).addEventListener('click', () => this.events.clear());
  }

  // ── Acting ─────────────────────────────────────────────────────────────────

  private act(action: LegAction, legId: string): void {
    const leg = this.store.legs.get(legId);
    if (!leg || leg.status === 'ended') return;
    const member = this.legs.memberLabel(leg);
    switch (action) {
      case 'mute':
        return this.run(() => this.client.mute(legId, !leg.muted));
      case 'earmuff':
        return this.run(() => this.client.earmuff(legId, !leg.earmuffed));
      case 'record':
        if (leg.recording !== undefined)
          return this.run(() => this.client.act(legId, 'record:stop'), { pending: `Stopping the recording of ${member}`, done: `Stopped recording ${member}` });
        return this.run(() => this.client.record(legId), { pending: `Starting to record ${member}`, done: `Recording ${member}` });
      case 'hangup':
        return this.run(() => this.client.hangup(legId), { pending: `Hanging up ${member}`, done: `Hung up ${member}` });
      case 'transfer':
      case 'play':
      case 'say':
        this.dialog.open({ kind: action, legId, member, active: action === 'play' ? leg.plays.size > 0 : action === 'say' && leg.says.size > 0 });
        return;
    }
  }

  private confirm(legId: string, choice: DialogChoice): void {
    const leg = this.store.legs.get(legId);
    const member = leg ? this.legs.memberLabel(leg) : shortId(legId);
    switch (choice.kind) {
      case 'transfer':
        return this.run(() => this.client.transfer(legId, choice.target), {
          pending: `Transferring ${member} to ${choice.target}`,
          done: `Transferred ${member} to ${choice.target}`,
        });
      case 'play':
        return this.run(() => this.client.play(legId, { stream_url: [choice.url], loop: choice.loop }), {
          pending: `Starting ${choice.url} for ${member}`,
          done: `Playing ${choice.url} to ${member}`,
        });
      case 'say':
        return this.run(() => this.client.say(legId, { text: choice.text, ...(choice.language !== undefined && { language: choice.language }) }), {
          pending: `Starting speech for ${member}`,
          done: `Saying text to ${member}`,
        });
      case 'stop':
        return this.run(() => this.client.act(legId, choice.what === 'play' ? 'play:stop' : 'say:stop'), {
          pending: `Stopping audio to ${member}`,
          done: `Stopped audio to ${member}`,
        });
    }
  }

  /** Sends one request; the row changes when the gateway's event arrives, a refusal shows in #error. */
  private run(request: () => Promise<unknown>, notice?: { pending: string; done: string }): void {
    errorBox.textContent = '';
    if (notice !== undefined) this.say(`${notice.pending}…`);
    request().then(
      () => {
        if (notice !== undefined) this.say(notice.done);
      },
      (err: unknown) => {
        if (notice !== undefined) this.say('');
        showError(err);
      },
    );
  }

  /** A short-lived line in the polite status region: stale news would mislead. */
  private say(text: string): void {
    clearTimeout(this.noticeTimer);
    setText(this.notice, text);
    if (text !== '') this.noticeTimer = setTimeout(() => setText(this.notice, ''), NOTICE_MS);
  }
}

/** Signs in (again, if the gateway refuses the token) and connects. */
async function connect(): Promise<{ client: OperatorClient; credentials: Credentials }> {
  let problem: string | undefined;
  for (;;) {
    const credentials = await signIn(problem, () => showConnection('closed'));
    showConnection('connecting');
    try {
      return { client: await OperatorClient.connect({ token: credentials.token }), credentials };
    } catch (err) {
      showConnection('closed');
      problem = describeError(err);
    }
  }
}

async function main(): Promise<void> {
  const { client, credentials } = await connect();
  client.onConnection((change) => showConnection(change.state));
  showConnection(client.state);
  if (credentials.name !== undefined) {
    const operator = byId('operator', HTMLElement);
    operator.textContent = `operator ${credentials.name}`;
    operator.hidden = false;
  }
  byId('console-view', HTMLElement).hidden = false;
  try {
    await new Console(client).start();
  } catch (err) {
    showError(err);
  }
}

void main();
