/**
 * How the console gets its operator token: from the URL fragment (`/console#token=…`), minted by
 * the application or by `legway token --role operator`. The development login never mints
 * operator tokens, so there is no sign-in form here.
 */
import { credentialsFromHash } from './login.js';
import { byId, h } from './consoleDom.js';

export interface Credentials {
  token: string;
  /** Who signed in, when known (a fragment token does not say). */
  name?: string;
}

/** Explains that operator tokens come from the application, with the command and the link shape. */
function explainTokens(error: HTMLElement, problem: string | undefined): void {
  error.replaceChildren(
    problem === undefined ? '' : `${problem}. `,
    'The console needs an operator token: the application mints one (',
    h('code', {}, 'legway token --sub NAME --role operator'),
    ') and opens ',
    h('a', { href: '/console#token=' }, '/console#token=…'),
    ' with it.',
  );
}

/**
 * Resolves with credentials: at once from the fragment, or once a token arrives in it (`onPrompt`
 * is called when the explanation shows). `problem` explains why an earlier token was refused.
 */
export async function signIn(problem: string | undefined, onPrompt: () => void): Promise<Credentials> {
  const fromHash = credentialsFromHash();
  if (fromHash && problem === undefined) return { token: fromHash.token };
  onPrompt();

  const view = byId('login-view', HTMLElement);
  view.hidden = false;
  explainTokens(byId('login-error', HTMLElement), problem);

  return new Promise<Credentials>((resolve) => {
    // A token pasted into the address bar later (fragment only) needs no reload.
    const onHash = (): void => {
      const credentials = credentialsFromHash();
      if (!credentials) return;
      window.removeEventListener('hashchange', onHash);
      view.hidden = true;
      resolve({ token: credentials.token });
    };
    window.addEventListener('hashchange', onHash);
  });
}
