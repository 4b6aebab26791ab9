/** DOM helpers of the call page (the shared ones come from dom.ts). */
export { byId, describeError, h } from './dom.js';

/** Sets a toggle button's pressed state and its label for that state. */
export function setPressed(button: HTMLButtonElement, pressed: boolean, labels: { off: string; on: string }): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = pressed ? labels.on : labels.off;
}
