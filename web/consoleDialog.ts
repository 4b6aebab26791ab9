/**
 * The one dialog behind a row's Transfer…, Play… and Say… buttons. Each has its own small form,
 * so Enter submits the visible one and only its fields are validated.
 */
import { byId, h, setText } from './consoleDom.js';

export type DialogKind = 'transfer' | 'play' | 'say';

/** What the operator confirmed. */
export type DialogChoice =
  | { kind: 'transfer'; target: string }
  | { kind: 'play'; url: string; loop: number }
  | { kind: 'say'; text: string; language?: string }
  | { kind: 'stop'; what: 'play' | 'say' };

export interface DialogRequest {
  kind: DialogKind;
  legId: string;
  member: string;
  /** Something of this kind is playing on the leg now: offer to stop it. */
  active: boolean;
}

const TITLES: Record<DialogKind, (member: string) => string> = {
  transfer: (m) => `Transfer ${m}`,
  play: (m) => `Play audio to ${m}`,
  say: (m) => `Say text to ${m}`,
};

export class ActionDialog {
  private readonly dialog = byId('action-dialog', HTMLDialogElement);
  private readonly title = byId('action-title', HTMLHeadingElement);
  private readonly forms: Record<DialogKind, HTMLFormElement> = {
    transfer: byId('transfer-form', HTMLFormElement),
    play: byId('play-form', HTMLFormElement),
    say: byId('say-form', HTMLFormElement),
  };
  private readonly target = byId('transfer-target', HTMLInputElement);
  private readonly names = byId('conversation-names', HTMLDataListElement);
  private readonly url = byId('play-url', HTMLInputElement);
  private readonly loop = byId('play-loop', HTMLInputElement);
  private readonly text = byId('say-text', HTMLInputElement);
  private readonly language = byId('say-language', HTMLInputElement);
  private readonly stops = { play: byId('play-stop', HTMLButtonElement), say: byId('say-stop', HTMLButtonElement) };
  private legId = '';

  constructor(onChoice: (legId: string, choice: DialogChoice) => void) {
    const done = (choice: DialogChoice): void => {
      this.dialog.close();
      onChoice(this.legId, choice);
    };
    this.forms.transfer.addEventListener('submit', (e) => {
      e.preventDefault();
      done({ kind: 'transfer', target: this.target.value.trim() });
    });
    this.forms.play.addEventListener('submit', (e) => {
      e.preventDefault();
      done({ kind: 'play', url: this.url.value.trim(), loop: this.loop.valueAsNumber || 1 });
    });
    this.forms.say.addEventListener('submit', (e) => {
      e.preventDefault();
      const language = this.language.value.trim();
      done({ kind: 'say', text: this.text.value.trim(), ...(language === '' ? {} : { language }) });
    });
    this.stops.play.addEventListener('click', () => done({ kind: 'stop', what: 'play' }));
    this.stops.say.addEventListener('click', () => done({ kind: 'stop', what: 'say' }));
    for (const button of this.dialog.querySelectorAll('button[data-close]')) button.addEventListener('click', () => this.dialog.close());
  }

  open(request: DialogRequest): void {
    this.legId = request.legId;
    setText(this.title, TITLES[request.kind](request.member));
    for (const [kind, form] of Object.entries(this.forms)) form.hidden = kind !== request.kind;
    if (request.kind !== 'transfer') this.stops[request.kind].hidden = !request.active;
    this.dialog.showModal();
    const first = { transfer: this.target, play: this.url, say: this.text }[request.kind];
    first.focus();
    first.select();
  }

  /** Offers these conversation names when typing a transfer target. */
  setConversationNames(names: readonly string[]): void {
    const current = [...this.names.options].map((o) => o.value);
    if (current.length === names.length && current.every((n, i) => n === names[i])) return;
    this.names.replaceChildren(...names.map((name) => h('option', { value: name })));
  }
}
