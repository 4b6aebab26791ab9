import { setup, transition } from 'xstate';
import type { MemberState } from './types.js';

/** Commands that move a member through its life in a conversation. */
export type MemberCommand = { type: 'INVITE' } | { type: 'JOIN' } | { type: 'LEAVE' };

/**
 * A member's lifecycle: invited → joined → left, or straight to joined, or invited → left.
 * `left` is final: a user who comes back gets a new member.
 */
export const memberMachine = setup({
  types: {
    events: {} as MemberCommand,
  },
}).createMachine({
  id: 'member',
  initial: 'none',
  states: {
    none: { on: { INVITE: 'invited', JOIN: 'joined' } },
    invited: { on: { JOIN: 'joined', LEAVE: 'left' } },
    joined: { on: { LEAVE: 'left' } },
    left: { type: 'final' },
  },
});

/** The state a member reaches from `from` by `command`, or undefined when the move is not allowed. */
export function nextMemberState(from: MemberState | 'none', command: MemberCommand['type']): MemberState | undefined {
  const snapshot = memberMachine.resolveState({ value: from, context: {} });
  const [next] = transition(memberMachine, snapshot, { type: command });
  if (next.value === from) return undefined;
  return next.value as MemberState;
}
