/**
 * The call page (`/call`): join a conversation, call into it, see who is there and what happens.
 * A token comes from the URL fragment (the application's link) or, on a development gateway,
 * from its development login.
 */
import { LegwayClient, LegwayClientError, type LegwayEvent } from '../client/index.js';
import { byId, describeError } from './callDom.js';
import { openSession, showConnection } from './callSession.js';
import { credentialsFromHash, devLogin, devLoginAvailable } from './login.js';

const NO_LOGIN =
  'No development login here (it needs LEGWAY_DEV_LOGIN=true, and a page opened on the gateway’s own machine). Open this page from your application’s link, which ends in #token=…&conversation=…';

const loginView = byId('login-view', HTMLElement);
const loginForm = byId('login-form', HTMLFormElement);
const nameInput = byId('login-name', HTMLInputElement);
const conversationInput = byId('login-conversation', HTMLInputElement);
const joinButton = byId('join', HTMLButtonElement);
const loginNote = byId('login-note', HTMLElement);
const loginError = byId('login-error', HTMLElement);

/** Connects, joins with the whole history replayed, and switches the page to the conversation. */
async function enter(token: string, conversation: string, label: string): Promise<void> {
  showConnection('connecting');
  let client: LegwayClient | undefined;
  try {
    client = await LegwayClient.connect({ token });
    // Events replay right after the join's answer: hold them until the page is wired for them.
    const early: LegwayEvent[] = [];
    let deliver = (event: LegwayEvent): void => {
      early.push(event);
    };
    client.onAny((event) => deliver(event));
    const joined = await client.join(conversation, { since: 0 });
    deliver = openSession(client, joined, label);
    for (const event of early.splice(0)) deliver(event);
    showConnection(client.state);
  } catch (err) {
    client?.close();
    showConnection('closed');
    throw err;
  }
  loginView.hidden = true;
  byId('app', HTMLElement).hidden = false;
  byId('call', HTMLButtonElement).focus();
}

/** Shows the form for a login by token (the name field has no say) or by development login. */
function prepareForm(token: string | undefined): Promise<boolean> {
  byId('login-name-field', HTMLElement).hidden = token !== undefined;
  nameInput.required = token === undefined;
  if (token !== undefined) {
    loginNote.textContent = 'Signed in by your application’s link: choose the conversation to join.';
    loginNote.hidden = false;
    conversationInput.focus();
    return Promise.resolve(false);
  }
  nameInput.focus();
  const available = devLoginAvailable();
  void available.then((ok) => {
    if (!ok) {
      // Keep the reason a link's token was refused, if it was: both are worth reading.
      loginError.textContent = [loginError.textContent, NO_LOGIN].filter(Boolean).join(' ');
      return;
    }
    loginNote.textContent = 'Development gateway: a conversation that does not exist yet is created.';
    loginNote.hidden = false;
  });
  return available;
}

async function main(): Promise<void> {
  const fromHash = credentialsFromHash();
  let token = fromHash?.token;
  if (fromHash?.conversation !== undefined) {
    loginView.hidden = true;
    try {
      await enter(fromHash.token, fromHash.conversation, fromHash.conversation);
      return;
    } catch (err) {
      // Offer the form again: a refused token is forgotten, any other failure may be retried with it.
      if (err instanceof LegwayClientError && err.code === 'Unauthorized') token = undefined;
      loginView.hidden = false;
      conversationInput.value = fromHash.conversation;
      loginError.textContent = describeError(err);
    }
  }

  const available = prepareForm(token);
  loginForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    const conversation = conversationInput.value.trim();
    if (conversation === '') return;
    loginError.textContent = '';
    joinButton.disabled = true;
    joinButton.textContent = 'Joining…';
    void (async () => {
      try {
        if (token !== undefined) {
          await enter(token, conversation, conversation);
        } else if (!(await available)) {
          loginError.textContent = NO_LOGIN;
        } else {
          const login = await devLogin({ name, conversation });
          await enter(login.token, login.conversation_id ?? conversation, conversation);
        }
      } catch (err) {
        loginError.textContent = describeError(err);
      } finally {
        joinButton.disabled = false;
        joinButton.textContent = 'Join';
      }
    })();
  });
}

void main();
