/**
 * The media toggles of the leg machines (mute, earmuff, video mute), described once: what command
 * turns each, its effect, flag, events and state names. The WebRTC leg gives each toggle a
 * two-state region (`toggleRegion`); the SIP leg, whose every call enters and leaves its connected
 * state, keeps them as guarded transitions of that one state (machines/sipLeg.machine.ts). Each
 * turn applies the effect (`apply…`, supplied by `src/`), sets the context flag (`setFlag`), emits
 * the catalogue event and the member's media state. In a region, the second, self-targeted branch
 * accepts a no-op (muting a muted leg), so that `snapshot.can()` holds for it and the service
 * answers success without emitting anything.
 */

/** The catalogue events a toggle emits. */
export type ToggleEventType = 'audio:mute:on' | 'audio:mute:off' | 'audio:earmuff:on' | 'audio:earmuff:off' | 'video:mute:on' | 'video:mute:off';

/** The context flags toggles keep. */
export type ToggleFlag = 'muted' | 'earmuffed' | 'videoMuted';

/** One toggle: the command that turns it, the effect, the flag, the events, and its states' names. */
export interface ToggleSpec<E extends string, A extends string, F extends ToggleFlag, T extends ToggleEventType, Off extends string, On extends string> {
  event: E;
  apply: A;
  flag: F;
  emits: { on: T; off: T };
  states: { off: Off; on: On };
}

/** What turning a toggle does: the effect, the context flag, the catalogue event, the member's media. */
export function toggleActions<A extends string, F extends ToggleFlag, T extends ToggleEventType>(apply: A, flag: F, type: T, on: boolean) {
  return [
    { type: apply, params: { on } },
    { type: 'setFlag' as const, params: { flag, on } },
    { type: 'emitToggle' as const, params: { type } },
    'emitMediaUp' as const,
  ];
}

function turn<A extends string, F extends ToggleFlag, T extends ToggleEventType, S extends string>(apply: A, flag: F, type: T, on: boolean, target: S) {
  return { guard: on ? ('turnsOn' as const) : ('turnsOff' as const), target, actions: toggleActions(apply, flag, type, on) };
}

/** The region for one toggle, starting off. */
export function toggleRegion<E extends string, A extends string, F extends ToggleFlag, T extends ToggleEventType, Off extends string, On extends string>(
  spec: ToggleSpec<E, A, F, T, Off, On>,
) {
  const { event, apply, flag, emits, states } = spec;
  return {
    initial: states.off,
    states: {
      [states.off]: { on: { [event]: [turn(apply, flag, emits.on, true, states.on), { target: states.off }] } },
      [states.on]: { on: { [event]: [turn(apply, flag, emits.off, false, states.off), { target: states.on }] } },
    } as Record<Off | On, { on: Record<E, [ReturnType<typeof turn<A, F, T, Off | On>>, { target: Off | On }]> }>,
  };
}

/** The toggles of the leg machines: what each command turns, and how its states are named. */
export const MUTE = {
  event: 'MUTE',
  apply: 'applyMute',
  flag: 'muted',
  emits: { on: 'audio:mute:on', off: 'audio:mute:off' },
  states: { off: 'unmuted', on: 'muted' },
} as const;
export const EARMUFF = {
  event: 'EARMUFF',
  apply: 'applyEarmuff',
  flag: 'earmuffed',
  emits: { on: 'audio:earmuff:on', off: 'audio:earmuff:off' },
  states: { off: 'off', on: 'on' },
} as const;
export const VIDEO_MUTE = {
  event: 'VIDEO_MUTE',
  apply: 'applyVideoMute',
  flag: 'videoMuted',
  emits: { on: 'video:mute:on', off: 'video:mute:off' },
  states: { off: 'unmuted', on: 'muted' },
} as const;
