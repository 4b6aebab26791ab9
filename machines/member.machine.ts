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

/** The machine's answer: the state `command` takes a member in `from` to, or undefined when it stays. */
function resolveMove(from: MemberState | 'none', command: MemberCommand['type']): MemberState | undefined {
  const snapshot = memberMachine.resolveState({ value: from, context: {} });
  const [next] = transition(memberMachine, snapshot, { type: command });
  if (next.value === from) return undefined;
  return next.value as MemberState;
}

const STATES = ['none', 'invited', 'joined', 'left'] as const;
const COMMANDS = ['INVITE', 'JOIN', 'LEAVE'] as const;

/**
 * Every move the machine allows or refuses, asked of it once: the machine has no context, so a
 * move depends on its state and command alone (resolving a snapshot and transitioning it cost
 * tens of microseconds per member that joins or leaves).
 */
const MOVES: ReadonlyMap<string, MemberState | undefined> = new Map(
  STATES.flatMap((from) => COMMANDS.map((command) => [`${from} ${command}`, resolveMove(from, command)] as const)),
);

/** The state a member reaches from `from` by `command`, or undefined when the move is not allowed. */
export function nextMemberState(from: MemberState | 'none', command: MemberCommand['type']): MemberState | undefined {
  const key = `${from} ${command}`;
  // A state or command outside the table (never stored, but a row is data) is asked of the machine as before.
  return MOVES.has(key) ? MOVES.get(key) : resolveMove(from, command);
}
