import { assertEvent, assign, emit, fromPromise, setup } from 'xstate';
import { EARMUFF, MUTE, toggleRegion, VIDEO_MUTE } from './toggleRegion.js';
import type { ToggleType, WebRtcLegContext, WebRtcLegEffects, WebRtcLegEmitted, WebRtcLegEvent, WebRtcLegInput } from './webrtcLeg.types.js';

export type { WebRtcLegContext, WebRtcLegEffects, WebRtcLegEmitted, WebRtcLegEvent, WebRtcLegInput };

/** Longest reason the catalogue accepts on rtc:terminate; an endpoint error message can be any length. */
const MAX_REASON = 200;

/** A reason that fits the rtc:terminate schema (1 to 200 characters). */
function fitReason(reason: string): string {
  return reason.slice(0, MAX_REASON) || 'terminated';
}

/** Why a dead endpoint ends the leg, in words an application can show its user. */
function deadReason(kind: 'ice' | 'dtls', state: string): string {
  // mediasoup reports dtls 'closed' only for the peer's close alert (a tab closed or a hang-up without rtc:hangup).
  if (kind === 'dtls') return state === 'closed' ? 'media closed by the peer' : 'DTLS failed';
  return `${kind} ${state}`;
}

/** The message of whatever an actor rejected with. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The member:media event for this leg; media that is down reports every flag false. */
function memberMedia(context: WebRtcLegContext, up: boolean): WebRtcLegEmitted {
  const media = { audio: up, video: up && context.hasVideo && !context.videoMuted, muted: up && context.muted, earmuffed: up && context.earmuffed };
  return { type: 'member:media', body: { member_id: context.memberId, leg_id: context.legId, media } };
}

/** A stand-in for a media toggle that src/ must supply with `provide()`, so that a missing one fails loudly. */
function notProvided(name: string) {
  return (_args: unknown, params: { on: boolean }): never => {
    throw new Error(`${name} not provided (on: ${String(params.on)})`);
  };
}

/** One WebRTC leg, offer to closed endpoint; every way out emits exactly one rtc:hangup or rtc:terminate. */
export const webrtcLegMachine = setup({
  types: {
    input: {} as WebRtcLegInput,
    context: {} as WebRtcLegContext,
    events: {} as WebRtcLegEvent,
    tags: {} as 'answering' | 'connecting' | 'connected' | 'ending' | 'ended',
    emitted: {} as WebRtcLegEmitted,
  },
  actors: {
    createEndpoint: fromPromise<{ answerSdp: string; hasVideo: boolean }, { legId: string; offerSdp: string; effects?: WebRtcLegEffects | undefined }>(() =>
      Promise.reject(new Error('createEndpoint not provided')),
    ),
    closeEndpoint: fromPromise<undefined, { legId: string; effects?: WebRtcLegEffects | undefined }>(() =>
      Promise.reject(new Error('closeEndpoint not provided')),
    ),
  },
  actions: {
    applyMute: notProvided('applyMute'),
    applyEarmuff: notProvided('applyEarmuff'),
    applyVideoMute: notProvided('applyVideoMute'),
    /** The peer's video joins the conversation's video forwarding (once media is up). */
    joinVideo: (): never => {
      throw new Error('joinVideo not provided');
    },
    sendOffer: () => {
      throw new Error('sendOffer not provided');
    },
    applyAnswer: (_args: unknown, params: { sdp: string }): never => {
      throw new Error(`applyAnswer not provided (${String(params.sdp.length)} bytes)`);
    },
    emitOffer: emit(({ context }) => ({ type: 'rtc:offer' as const, body: { leg_id: context.legId } })),
    emitAnswer: emit(({ context }) => ({ type: 'rtc:answer' as const, body: { leg_id: context.legId } })),
    emitStatus: emit(({ context, event }) => {
      assertEvent(event, 'ENDPOINT_STATUS');
      return { type: 'rtc:status' as const, body: { leg_id: context.legId, status: event.state, kind: event.kind } };
    }),
    /** The toggle event for a change that has already been applied and recorded; initiator only when given. */
    setFlag: assign((_, params: { flag: 'muted' | 'earmuffed' | 'videoMuted'; on: boolean }) => ({ [params.flag]: params.on })),
    emitToggle: emit(({ context, event }, params: { type: ToggleType }) => {
      assertEvent(event, ['MUTE', 'EARMUFF', 'VIDEO_MUTE']);
      const body = event.initiator === undefined ? { leg_id: context.legId } : { leg_id: context.legId, initiator: event.initiator };
      return { type: params.type, body };
    }),
    emitSpeaking: emit(({ context }, params: { on: boolean }) => ({
      type: params.on ? ('audio:speaking:on' as const) : ('audio:speaking:off' as const),
      body: { leg_id: context.legId },
    })),
    emitMediaUp: emit(({ context }) => memberMedia(context, true)),
    emitMediaDown: emit(({ context }) => memberMedia(context, false)),
    endByClient: assign({ endedBy: 'client' as const }),
    emitHangup: emit(({ context }) => ({ type: 'rtc:hangup' as const, body: { leg_id: context.legId } })),
    endByGateway: assign((_, params: { reason: string }) => ({ endedBy: 'gateway' as const, endReason: fitReason(params.reason) })),
    /** Runs after endByGateway, whose fitted reason it announces. */
    emitTerminate: emit(({ context }) => ({
      type: 'rtc:terminate' as const,
      body: { leg_id: context.legId, reason: context.endReason ?? 'terminated' },
    })),
  },
  guards: {
    turnsOn: ({ event }) => 'on' in event && event.on,
    turnsOff: ({ event }) => 'on' in event && !event.on,
    iceUp: ({ event }) => event.type === 'ENDPOINT_STATUS' && event.kind === 'ice' && (event.state === 'connected' || event.state === 'completed'),
    iceDisconnected: ({ event }) => event.type === 'ENDPOINT_STATUS' && event.kind === 'ice' && event.state === 'disconnected',
    /** mediasoup has no ice 'failed': a dead transport shows as ice closed or dtls failed/closed. */
    endpointDead: ({ event }) =>
      event.type === 'ENDPOINT_STATUS' &&
      ((event.kind === 'dtls' && (event.state === 'failed' || event.state === 'closed')) || (event.kind === 'ice' && event.state === 'closed')),
  },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    disconnectGrace: ({ context }) => context.disconnectGraceMs,
  },
}).createMachine({
  id: 'webrtcLeg',
  context: ({ input }) => ({ ...input, hasVideo: false, renegotiate: false, muted: false, earmuffed: false, videoMuted: false, speaking: false }),
  initial: 'answering',
  states: {
    answering: {
      tags: 'answering',
      entry: 'emitOffer',
      invoke: {
        id: 'createEndpoint',
        src: 'createEndpoint',
        input: ({ context }) => ({ legId: context.legId, offerSdp: context.offerSdp, effects: context.effects }),
        onDone: {
          target: 'connecting',
          actions: [assign({ answerSdp: ({ event }) => event.output.answerSdp, hasVideo: ({ event }) => event.output.hasVideo }), 'emitAnswer'],
        },
        onError: {
          target: 'ending',
          actions: [
            // The error itself is kept, code and all, for whoever waits for the answer.
            assign({ endError: ({ event }) => event.error }),
            { type: 'endByGateway', params: ({ event }) => ({ reason: `answer failed: ${messageOf(event.error)}` }) },
            'emitTerminate',
          ],
        },
      },
      on: {
        ENDPOINT_STATUS: { actions: 'emitStatus' },
        HANGUP: { target: 'ending', actions: ['endByClient', 'emitHangup'] },
        TERMINATE: { target: 'ending', actions: [{ type: 'endByGateway', params: ({ event }) => ({ reason: event.reason }) }, 'emitTerminate'] },
      },
    },
    connecting: {
      tags: 'connecting',
      after: {
        connectTimeout: { target: 'ending', actions: [{ type: 'endByGateway', params: { reason: 'ice timeout' } }, 'emitTerminate'] },
      },
      on: {
        ENDPOINT_STATUS: [
          { guard: 'iceUp', target: 'connected', actions: 'emitStatus' },
          {
            guard: 'endpointDead',
            target: 'ending',
            actions: ['emitStatus', { type: 'endByGateway', params: ({ event }) => ({ reason: deadReason(event.kind, event.state) }) }, 'emitTerminate'],
          },
          { actions: 'emitStatus' },
        ],
        HANGUP: { target: 'ending', actions: ['endByClient', 'emitHangup'] },
        TERMINATE: { target: 'ending', actions: [{ type: 'endByGateway', params: ({ event }) => ({ reason: event.reason }) }, 'emitTerminate'] },
      },
    },
    connected: {
      type: 'parallel',
      tags: 'connected',
      // Media up: the peer's video joins the conversation's forwarding, and it is announced.
      entry: ['joinVideo', 'emitMediaUp'],
      on: {
        // Media going down is announced after the terminal event, so it is a transition action, not an exit action.
        ENDPOINT_STATUS: [
          {
            guard: 'endpointDead',
            target: 'ending',
            actions: [
              'emitStatus',
              { type: 'endByGateway', params: ({ event }) => ({ reason: deadReason(event.kind, event.state) }) },
              'emitTerminate',
              'emitMediaDown',
            ],
          },
          // Anything else (ice 'disconnected' included, which the ice region below handles) is only reported.
          { actions: 'emitStatus' },
        ],
        HANGUP: { target: 'ending', actions: ['endByClient', 'emitHangup', 'emitMediaDown'] },
        // Media carries on untouched (the service has moved it); the leg announces the move and its new member's media.
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
        TERMINATE: {
          target: 'ending',
          actions: [{ type: 'endByGateway', params: ({ event }) => ({ reason: event.reason }) }, 'emitTerminate', 'emitMediaDown'],
        },
      },
      states: {
        audio: toggleRegion(MUTE),
        earmuff: toggleRegion(EARMUFF),
        video: toggleRegion(VIDEO_MUTE),
        signaling: {
          initial: 'stable',
          states: {
            stable: {
              on: { RENEGOTIATE: 'offering' },
            },
            offering: {
              entry: [assign({ renegotiate: false }), 'sendOffer', 'emitOffer'],
              on: {
                RENEGOTIATE: { actions: assign({ renegotiate: true }) },
                ANSWER: [
                  {
                    guard: ({ context }) => context.renegotiate,
                    target: 'offering',
                    reenter: true,
                    actions: [{ type: 'applyAnswer', params: ({ event }) => ({ sdp: event.sdp }) }, 'emitAnswer'],
                  },
                  { target: 'stable', actions: [{ type: 'applyAnswer', params: ({ event }) => ({ sdp: event.sdp }) }, 'emitAnswer'] },
                ],
              },
            },
          },
        },
        // mediasoup says ICE 'disconnected' once the peer's consent checks stop (its iceConsentTimeout):
        // a peer gone without a word (machine off, network lost). A network change can bring ICE back,
        // so the leg waits out a grace period before ending as the gateway ends legs. xstate gives an
        // event a region takes to that region alone, so these transitions report the status themselves;
        // any other ENDPOINT_STATUS (dtls closed while waiting, say) falls through to `connected`.
        ice: {
          initial: 'up',
          states: {
            up: {
              on: { ENDPOINT_STATUS: { guard: 'iceDisconnected', target: 'disconnected', actions: 'emitStatus' } },
            },
            disconnected: {
              after: {
                disconnectGrace: {
                  target: '#webrtcLeg.ending',
                  actions: [{ type: 'endByGateway', params: { reason: 'media timeout: ICE disconnected' } }, 'emitTerminate', 'emitMediaDown'],
                },
              },
              on: { ENDPOINT_STATUS: { guard: 'iceUp', target: 'up', actions: 'emitStatus' } },
            },
          },
        },
        // Speech comes from the media engine, not a client command, so a repeat is simply dropped.
        speech: {
          initial: 'silent',
          states: {
            silent: {
              on: {
                SPEAKING: {
                  guard: 'turnsOn',
                  target: 'speaking',
                  actions: [assign({ speaking: true }), { type: 'emitSpeaking', params: { on: true } }],
                },
              },
            },
            speaking: {
              on: {
                SPEAKING: {
                  guard: 'turnsOff',
                  target: 'silent',
                  actions: [assign({ speaking: false }), { type: 'emitSpeaking', params: { on: false } }],
                },
              },
            },
          },
        },
      },
    },
    ending: {
      tags: 'ending',
      invoke: {
        id: 'closeEndpoint',
        src: 'closeEndpoint',
        input: ({ context }) => ({ legId: context.legId, effects: context.effects }),
        // A failed close still ends the leg: there is nothing left to retry it for.
        onDone: 'ended',
        onError: 'ended',
      },
      on: {
        ENDPOINT_STATUS: { actions: 'emitStatus' },
      },
    },
    ended: { type: 'final', tags: 'ended' },
  },
});
