import { assertEvent, assign, cancel, emit, enqueueActions, raise, setup } from 'xstate';
import type { SipLegContext, SipLegEffects, SipLegEmitted, SipLegEvent, SipLegInput, SipLegStatus, ToggleType } from './sipLeg.types.js';
import { EARMUFF, MUTE, toggleActions } from './toggleRegion.js';

export type { SipLegContext, SipLegEffects, SipLegEmitted, SipLegEvent, SipLegInput, SipLegStatus };

const REASONS: Record<number, string> = { 180: 'Ringing', 183: 'Session Progress', 200: 'OK' };

/** The member:media event for this leg; media that is down, or held, reports audio false. */
function memberMedia(context: SipLegContext, up: boolean): SipLegEmitted {
  const audio = up && !context.held;
  return {
    type: 'member:media',
    body: {
      member_id: context.memberId,
      leg_id: context.legId,
      media: { audio, video: false, muted: audio && context.muted, earmuffed: audio && context.earmuffed },
    },
  };
}

function notProvided(name: string) {
  return (): never => {
    throw new Error(`${name} not provided`);
  };
}

function toggleNotProvided(name: string) {
  return (_args: unknown, params: { on: boolean }): never => {
    throw new Error(`${name} not provided (on: ${String(params.on)})`);
  };
}

/** A short text that fits the catalogue's `cause`. */
function fitCause(cause: string): string {
  return cause.slice(0, 100) || 'unknown';
}

/** The id of the session timer's delayed SESSION_EXPIRED, to cancel it on a refresh. */
const SESSION_TIMER = 'sessionTimer';

/** A flag of the connected leg that an event with `on` turns: the toggles, hold and speech. */
type Flag = 'muted' | 'earmuffed' | 'held' | 'speaking';

/** The actions of turning a toggle (mute or earmuff) on or off. */
function turn(spec: typeof MUTE | typeof EARMUFF, on: boolean) {
  return toggleActions(spec.apply, spec.flag, on ? spec.emits.on : spec.emits.off, on);
}

/** The two branches of an event with `on` that turns `flag`: on when it is off, off when it is on; anything else matches neither. */
function flagTurns<T>(flag: Flag, actions: (on: boolean) => T) {
  return [
    { guard: { type: 'turnsFlagOn' as const, params: { flag } }, actions: actions(true) },
    { guard: { type: 'turnsFlagOff' as const, params: { flag } }, actions: actions(false) },
  ];
}

/**
 * A toggle's command in the connected state: it turns the flag on or off, or, when the flag is
 * already so (muting a muted leg), is accepted and does nothing, so that `snapshot.can()` holds for
 * it and the service answers success without emitting anything.
 */
function toggle(spec: typeof MUTE | typeof EARMUFF) {
  return [...flagTurns(spec.flag, (on) => turn(spec, on)), { actions: 'accept' as const }];
}

/**
 * One SIP leg, inbound (routed INVITE → 180 → 200 → ACK) or outbound (INVITE → 18x → 200 / failure),
 * then connected (mute, earmuff, hold, speech) until either side hangs up. Every way out ends in
 * `ending` (media closed) and emits exactly one `sip:hangup`.
 */
export const sipLegMachine = setup({
  types: {
    input: {} as SipLegInput,
    context: {} as SipLegContext,
    events: {} as SipLegEvent,
    tags: {} as SipLegStatus,
    emitted: {} as SipLegEmitted,
  },
  actions: {
    /**
     * Take the leg's audio out of the conversation and free its RTP; the implementation sends
     * MEDIA_CLOSED when that is over, done or failed (an action, not an invoked promise actor,
     * which would be a second actor made and stopped for every call).
     */
    closeMedia: notProvided('closeMedia'),
    /** Inbound: send 180 Ringing. */
    sendRinging: notProvided('sendRinging'),
    /** Inbound: send 200 OK with the SDP answer. */
    sendAnswer: notProvided('sendAnswer'),
    /** Inbound before our 200: refuse the INVITE (the gateway ends a call it has not answered). */
    sendReject: notProvided('sendReject'),
    /** Outbound: CANCEL the INVITE (no answer in time, or hung up before the answer). */
    sendCancel: notProvided('sendCancel'),
    /** End an established dialog with BYE. */
    sendBye: notProvided('sendBye'),
    /** Outbound: play ringback into the conversation while the callee rings, and stop it. */
    startRingback: notProvided('startRingback'),
    stopRingback: notProvided('stopRingback'),
    applyMute: toggleNotProvided('applyMute'),
    applyEarmuff: toggleNotProvided('applyEarmuff'),
    applyHold: toggleNotProvided('applyHold'),
    emitRinging: emit(({ context, event }) => {
      assertEvent(event, 'RINGING');
      return { type: 'sip:ringing' as const, body: { leg_id: context.legId, code: event.code } };
    }),
    emitStatus: emit(({ context }, params: { code: number; reason?: string }) => ({
      type: 'sip:status' as const,
      body: { leg_id: context.legId, code: params.code, reason: params.reason ?? REASONS[params.code] ?? 'Unknown', direction: context.direction },
    })),
    /** Inbound: the 180 we sent. */
    emitRingingSent: emit(({ context }) => ({ type: 'sip:ringing' as const, body: { leg_id: context.legId, code: 180 as const } })),
    emitRingback: emit(({ context }) => ({ type: 'audio:ringing:start' as const, body: { leg_id: context.legId } })),
    emitAnswered: emit(({ context }) => ({ type: 'sip:answered' as const, body: { leg_id: context.legId, direction: context.direction } })),
    emitMediaUp: emit(({ context }) => memberMedia(context, true)),
    emitMediaDown: emit(({ context }) => memberMedia(context, false)),
    /** Starts the session timer (RFC 4028): SESSION_EXPIRED once the session's expiry has passed. */
    startSessionTimer: raise({ type: 'SESSION_EXPIRED' }, { id: SESSION_TIMER, delay: 'sessionExpiry' }),
    stopSessionTimer: cancel(SESSION_TIMER),
    setFlag: assign((_, params: { flag: Flag; on: boolean }) => ({ [params.flag]: params.on })),
    /** A command that finds the leg as it asks (mute a muted leg): nothing to do. */
    accept: () => undefined,
    emitToggle: emit(({ context, event }, params: { type: ToggleType }) => {
      // A toggle the leg starts with (the route's mute) has no initiator of its own.
      const initiator = event.type === 'MUTE' || event.type === 'EARMUFF' ? event.initiator : undefined;
      const body = initiator === undefined ? { leg_id: context.legId } : { leg_id: context.legId, initiator };
      return { type: params.type, body };
    }),
    emitSpeaking: emit(({ context }, params: { on: boolean }) => ({
      type: params.on ? ('audio:speaking:on' as const) : ('audio:speaking:off' as const),
      body: { leg_id: context.legId },
    })),
    emitMachine: emit(({ context, event }) => {
      assertEvent(event, 'MACHINE');
      return { type: 'sip:machine' as const, body: { leg_id: context.legId, type: event.verdict, confidence: Math.max(0, Math.min(1, event.confidence)) } };
    }),
    end: assign((_, params: { cause: string; by: 'local' | 'remote' | 'system'; code?: number; reason?: string }) => ({
      endCause: fitCause(params.cause),
      endedBy: params.by,
      ...(params.code !== undefined && { endCode: params.code }),
      ...(params.reason !== undefined && { endReason: params.reason.slice(0, 200) }),
    })),
    emitHangup: emit(({ context }) => ({
      type: 'sip:hangup' as const,
      body: {
        leg_id: context.legId,
        cause: context.endCause ?? 'unknown',
        by: context.endedBy ?? 'system',
        ...(context.endCode !== undefined && { code: context.endCode }),
        ...(context.endReason !== undefined && { reason: context.endReason }),
      },
    })),
  },
  guards: {
    inbound: ({ context }) => context.direction === 'inbound',
    inboundAnsweringAtOnce: ({ context }) => context.direction === 'inbound' && (context.answerDelayMs ?? 0) <= 0,
    turnsFlagOn: ({ context, event }, params: { flag: Flag }) => 'on' in event && event.on && !context[params.flag],
    turnsFlagOff: ({ context, event }, params: { flag: Flag }) => 'on' in event && !event.on && context[params.flag],
  },
  delays: {
    answerTimeout: ({ context }) => context.answerTimeoutMs,
    answerDelay: ({ context }) => context.answerDelayMs ?? 0,
    sessionExpiry: ({ context }) => context.sessionExpiryMs ?? 0,
  },
}).createMachine({
  id: 'sipLeg',
  context: ({ input }) => ({ ...input, muted: false, earmuffed: false, speaking: false, held: false }),
  initial: 'start',
  states: {
    start: {
      tags: 'answering',
      always: [
        // Inbound: the INVITE is routed; we ring, then answer at once (the conversation is the
        // destination) — straight on, so that no answer-delay timer is set and cleared per call.
        {
          guard: 'inboundAnsweringAtOnce',
          target: 'awaitingAck',
          actions: [
            'sendRinging',
            { type: 'emitStatus', params: { code: 180 } },
            'emitRingingSent',
            'sendAnswer',
            { type: 'emitStatus', params: { code: 200 } },
          ],
        },
        { guard: 'inbound', target: 'offering' },
        { target: 'calling' },
      ],
    },

    // Inbound with an answer delay: we ring, and answer when the delay is over.
    offering: {
      tags: 'answering',
      entry: ['sendRinging', { type: 'emitStatus', params: { code: 180 } }, 'emitRingingSent'],
      after: {
        answerDelay: { target: 'awaitingAck', actions: ['sendAnswer', { type: 'emitStatus', params: { code: 200 } }] },
      },
      on: {
        // The caller gave up while it rang: the SIP layer has answered its CANCEL with 487.
        REMOTE_HANGUP: {
          target: 'ending',
          actions: [
            { type: 'emitStatus', params: { code: 487, reason: 'Request Terminated' } },
            { type: 'end', params: { cause: 'cancelled', by: 'remote', code: 487 } },
            'emitHangup',
          ],
        },
        HANGUP: {
          target: 'ending',
          actions: ['sendReject', { type: 'end', params: ({ event }) => ({ cause: event.reason, by: event.by, code: 480 }) }, 'emitHangup'],
        },
      },
    },
    awaitingAck: {
      tags: 'connecting',
      after: {
        // RFC 3261 13.3.1.4: a 200 that is never ACKed ends the dialog with BYE.
        answerTimeout: { target: 'ending', actions: ['sendBye', { type: 'end', params: { cause: 'no ACK', by: 'system' } }, 'emitHangup'] },
      },
      on: {
        ANSWERED: { target: 'connected', actions: 'emitAnswered' },
        REMOTE_HANGUP: { target: 'ending', actions: [{ type: 'end', params: { cause: 'caller hung up', by: 'remote' } }, 'emitHangup'] },
        HANGUP: { target: 'ending', actions: ['sendBye', { type: 'end', params: ({ event }) => ({ cause: event.reason, by: event.by }) }, 'emitHangup'] },
      },
    },

    // Outbound: INVITE sent; 18x, then 200 or a failure, or no answer in time.
    calling: {
      tags: 'answering',
      after: {
        answerTimeout: { target: 'ending', actions: ['sendCancel', { type: 'end', params: { cause: 'no answer', by: 'system', code: 487 } }, 'emitHangup'] },
      },
      on: {
        RINGING: { target: 'ringing', actions: ['emitRinging', { type: 'emitStatus', params: ({ event }) => ({ code: event.code }) }, 'emitRingback'] },
        ANSWERED: { target: 'connected', actions: [{ type: 'emitStatus', params: { code: 200 } }, 'emitAnswered'] },
        REJECTED: {
          target: 'ending',
          actions: [
            { type: 'emitStatus', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
            { type: 'end', params: ({ event }) => ({ cause: causeOf(event.code), by: 'remote', code: event.code, reason: event.reason }) },
            'emitHangup',
          ],
        },
        HANGUP: { target: 'ending', actions: ['sendCancel', { type: 'end', params: ({ event }) => ({ cause: event.reason, by: event.by }) }, 'emitHangup'] },
      },
    },
    ringing: {
      tags: 'ringing',
      // The conversation hears ringback while the callee rings, and only then.
      entry: 'startRingback',
      exit: 'stopRingback',
      after: {
        answerTimeout: { target: 'ending', actions: ['sendCancel', { type: 'end', params: { cause: 'no answer', by: 'system', code: 487 } }, 'emitHangup'] },
      },
      on: {
        RINGING: { actions: [{ type: 'emitStatus', params: ({ event }) => ({ code: event.code }) }] },
        ANSWERED: { target: 'connected', actions: [{ type: 'emitStatus', params: { code: 200 } }, 'emitAnswered'] },
        REJECTED: {
          target: 'ending',
          actions: [
            { type: 'emitStatus', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
            { type: 'end', params: ({ event }) => ({ cause: causeOf(event.code), by: 'remote', code: event.code, reason: event.reason }) },
            'emitHangup',
          ],
        },
        HANGUP: { target: 'ending', actions: ['sendCancel', { type: 'end', params: ({ event }) => ({ cause: event.reason, by: event.by }) }, 'emitHangup'] },
      },
    },

    // Mute, earmuff, hold, speech and the session timer live in the context and in guarded
    // transitions of this one state, not in parallel regions: xstate's cost per transition grows
    // with the states that are active, and every call enters and leaves this state.
    connected: {
      tags: 'connected',
      entry: [
        'emitMediaUp',
        enqueueActions(({ context, enqueue }) => {
          // The route's mute, applied as the media comes up.
          if (context.initialMute === true) for (const action of turn(MUTE, true)) enqueue(action);
          // RFC 4028: a call with session timers ends when no refresh comes in time.
          if ((context.sessionExpiryMs ?? 0) > 0) enqueue('startSessionTimer');
        }),
      ],
      // Only this state's calls can time out.
      exit: 'stopSessionTimer',
      on: {
        REMOTE_HANGUP: { target: 'ending', actions: [{ type: 'end', params: { cause: 'remote hung up', by: 'remote' } }, 'emitHangup', 'emitMediaDown'] },
        HANGUP: {
          target: 'ending',
          actions: ['sendBye', { type: 'end', params: ({ event }) => ({ cause: event.reason, by: event.by }) }, 'emitHangup', 'emitMediaDown'],
        },
        MEDIA_TIMEOUT: {
          target: 'ending',
          actions: ['sendBye', { type: 'end', params: { cause: 'no RTP received', by: 'system' } }, 'emitHangup', 'emitMediaDown'],
        },
        SESSION_EXPIRED: {
          target: 'ending',
          actions: ['sendBye', { type: 'end', params: { cause: 'session timer expired', by: 'system' } }, 'emitHangup', 'emitMediaDown'],
        },
        SESSION_REFRESH: {
          actions: ['stopSessionTimer', assign({ sessionExpiryMs: ({ event }) => event.expiryMs }), 'startSessionTimer'],
        },
        MACHINE: { actions: 'emitMachine' },
        TRANSFER: {
          actions: [
            assign({ memberId: ({ event }) => event.memberId }),
            emit(({ context, event }) => ({
              type: 'rtc:transfer' as const,
              body: { leg_id: context.legId, from_conversation_id: event.fromConversationId, to_conversation_id: event.toConversationId },
            })),
            'emitMediaUp',
          ],
        },
        MUTE: toggle(MUTE),
        EARMUFF: toggle(EARMUFF),
        // The far end holding or resuming; a hold while held (or a resume while not) changes nothing.
        REMOTE_HOLD: flagTurns('held', (on) => [
          { type: 'applyHold' as const, params: { on } },
          { type: 'setFlag' as const, params: { flag: 'held' as const, on } },
          'emitMediaUp' as const,
        ]),
        SPEAKING: flagTurns('speaking', (on) => [
          { type: 'setFlag' as const, params: { flag: 'speaking' as const, on } },
          { type: 'emitSpeaking' as const, params: { on } },
        ]),
      },
    },

    ending: {
      tags: 'ending',
      entry: 'closeMedia',
      on: { MEDIA_CLOSED: 'ended' },
    },
    ended: { type: 'final', tags: 'ended' },
  },
});

/** The cause of a failed outbound call, from its final response. */
function causeOf(code: number): string {
  if (code === 486 || code === 600) return 'busy';
  if (code === 480 || code === 408) return 'unavailable';
  if (code === 603) return 'declined';
  if (code === 487) return 'cancelled';
  if (code === 404 || code === 484 || code === 604) return 'not found';
  return 'failed';
}
