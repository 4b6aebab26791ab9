/**
 * How the console gets its operator token: from the URL fragment (`/console#token=…`, minted by
 * the application), or else from the gateway's development login while it offers one.
 */
import { credentialsFromHash, devLogin, devLoginAvailable } from './login.js';
import { byId, describeError, h } from './consoleDom.js';

/** Remembered between visits only to save typing on a development gateway. */
const NAME_KEY = 'legway.console.operator';

export interface Credentials {
  token: string;
  /** Who signed in, when known (the development login says; a fragment token does not). */
  name?: string;
}

function rememberedName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage may be off (private mode, policy): the name is only a convenience.
  }
}

/** Explains that production tokens come from the application, with the command and the link shape. */
function explainTokens(error: HTMLElement, problem: string | undefined): void {
  error.replaceChildren(
    problem === undefined ? '' : `${problem}. `,
    'Development login is off on this gateway: the application must mint an operator token (',
    h('code', {}, 'legway token --sub NAME --role operator'),
    ') and open ',
    h('a', { href: '/console#token=' }, '/console#token=…'),
    ' with it.',
  );
}

/**
 * Resolves with credentials: at once from the fragment, or once the operator signs in (`onPrompt`
 * is called when the form shows). `problem` explains why an earlier token was refused.
 */
export async function signIn(problem: string | undefined, onPrompt: () => void): Promise<Credentials> {
  const fromHash = credentialsFromHash();
  if (fromHash && problem === undefined) return { token: fromHash.token };
  onPrompt();

  const view = byId('login-view', HTMLElement);
  const form = byId('login-form', HTMLFormElement);
  const input = byId('login-name', HTMLInputElement);
  const submit = byId('login', HTMLButtonElement);
  const error = byId('login-error', HTMLElement);
  const hint = byId('login-hint', HTMLElement);
  view.hidden = false;
  error.textContent = problem ?? '';
  if (!input.value) input.value = rememberedName();

  submit.disabled = false;

  return new Promise<Credentials>((resolve) => {
    // Listeners go with this sign-in: a later one (after a refused token) adds its own.
    const listening = new AbortController();
    const finish = (credentials: Credentials): void => {
      listening.abort();
      view.hidden = true;
      resolve(credentials);
    };
    const login = (name: string): void => {
      submit.disabled = true;
      error.textContent = '';
      devLogin({ name, role: 'operator' }).then(
        (answer) => {
          rememberName(name);
          finish({ token: answer.token, name: answer.sub });
        },
        (err: unknown) => {
          error.textContent = describeError(err);
          submit.disabled = false;
          input.focus();
        },
      );
    };
    // A token pasted into the address bar later (fragment only) needs no reload.
    const onHash = (): void => {
      const credentials = credentialsFromHash();
      if (credentials) finish({ token: credentials.token });
    };
    const onSubmit = (e: SubmitEvent): void => {
      e.preventDefault();
      login(input.value.trim());
    };
    window.addEventListener('hashchange', onHash, { signal: listening.signal });

    void devLoginAvailable().then((available) => {
      if (!available) {
        form.hidden = true;
        hint.hidden = true;
        explainTokens(error, problem);
        return;
      }
      form.hidden = false;
      hint.hidden = false;
      form.addEventListener('submit', onSubmit, { signal: listening.signal });
      input.focus();
    });
  });
}
