import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { createActor, fromPromise, initialTransition, SimulatedClock, transition, waitFor, type Actor, type AnyEventObject, type SnapshotFrom } from 'xstate';
import { webrtcLegMachine, type WebRtcLegEmitted, type WebRtcLegEvent, type WebRtcLegInput } from '../../machines/webrtcLeg.machine.js';
import { parseEventBody, type EventBody, type EventType } from '../../src/events/catalogue.js';

type Snapshot = SnapshotFrom<typeof webrtcLegMachine>;
// Loosely typed: xstate's action types name emits after their setup() key, but at run time they are 'xstate.emit'.
type Action = { type: string; params?: unknown };

const LEG = randomUUID();
const MEMBER = `MEM-${randomUUID()}`;
const INPUT: WebRtcLegInput = { legId: LEG, memberId: MEMBER, offerSdp: 'v=0 offer', connectTimeoutMs: 5000, disconnectGraceMs: 10_000 };

const media = (audio: boolean, muted = false, earmuffed = false) => ({
  type: 'member:media',
  body: { member_id: MEMBER, leg_id: LEG, media: { audio, video: false, muted, earmuffed } },
});
const onLeg = (type: string, extra: Record<string, unknown> = {}) => ({ type, body: { leg_id: LEG, ...extra } });
const status = (kind: 'ice' | 'dtls', state: string) => onLeg('rtc:status', { status: state, kind });

const ice = (state: string): WebRtcLegEvent => ({ type: 'ENDPOINT_STATUS', kind: 'ice', state });
const dtls = (state: string): WebRtcLegEvent => ({ type: 'ENDPOINT_STATUS', kind: 'dtls', state });
// Events xstate itself sends when an invoked actor settles or a delay fires.
const answered = { type: 'xstate.done.actor.createEndpoint', output: { answerSdp: 'v=0 answer', hasVideo: false } } as unknown as WebRtcLegEvent;
const answerFailed = { type: 'xstate.error.actor.createEndpoint', error: new Error('no router') } as unknown as WebRtcLegEvent;
const closed = { type: 'xstate.done.actor.closeEndpoint', output: undefined } as unknown as WebRtcLegEvent;
const timedOut = { type: 'xstate.after.connectTimeout.webrtcLeg.connecting' } as unknown as WebRtcLegEvent;
const GRACE_EXPIRED = 'xstate.after.disconnectGrace.webrtcLeg.connected.ice.disconnected';
const graceExpired = { type: GRACE_EXPIRED } as unknown as WebRtcLegEvent;
/** A dead endpoint's reports, each with the reason it ends a leg with. */
const DEAD = [
  [dtls('failed'), 'dtls', 'failed', 'DTLS failed'],
  [dtls('closed'), 'dtls', 'closed', 'media closed by the peer'],
  [ice('closed'), 'ice', 'closed', 'ice closed'],
] as const;

/** The catalogue events among the actions a pure transition returned. */
function emittedBy(actions: readonly Action[]): AnyEventObject[] {
  return actions.flatMap((a) => (a.type === 'xstate.emit' ? [(a.params as { event: AnyEventObject }).event] : []));
}

/** Applies events one after another from `from`, returning the last snapshot and the events emitted on the way. */
function run(from: Snapshot, ...events: WebRtcLegEvent[]): [Snapshot, AnyEventObject[]] {
  let snapshot = from;
  const emitted: AnyEventObject[] = [];
  for (const event of events) {
    const [next, actions] = transition(webrtcLegMachine, snapshot, event);
    snapshot = next;
    emitted.push(...emittedBy(actions));
  }
  return [snapshot, emitted];
}

const initial = (): Snapshot => initialTransition(webrtcLegMachine, INPUT)[0];
const STATES = {
  answering: () => initial(),
  connecting: () => run(initial(), answered)[0],
  connected: () => run(initial(), answered, ice('connected'))[0],
  ending: () => run(initial(), answered, ice('connected'), { type: 'HANGUP' })[0],
  ended: () => run(initial(), answered, ice('connected'), { type: 'HANGUP' }, closed)[0],
} as const;

const COMMANDS: WebRtcLegEvent[] = [
  { type: 'MUTE', on: true },
  { type: 'EARMUFF', on: true },
  { type: 'VIDEO_MUTE', on: true },
];

describe('webrtcLeg machine: pure transitions', () => {
  it('starts answering: announces the offer and asks for an endpoint with the offer SDP', () => {
    const [snapshot, actions] = initialTransition(webrtcLegMachine, INPUT);
    expect(snapshot.value).toBe('answering');
    expect(snapshot.context).toEqual({ ...INPUT, hasVideo: false, renegotiate: false, muted: false, earmuffed: false, videoMuted: false, speaking: false });
    expect(emittedBy(actions)).toEqual([onLeg('rtc:offer')]);
    const spawn = actions.find((a) => a.type === 'xstate.spawnChild');
    expect(spawn?.params).toMatchObject({ src: 'createEndpoint', input: { legId: LEG, offerSdp: 'v=0 offer' } });
  });

  it('answering → connecting on the answer: keeps the SDP out of the event and arms the connect timeout', () => {
    const [snapshot, actions] = transition(webrtcLegMachine, initial(), answered);
    expect(snapshot.value).toBe('connecting');
    expect(snapshot.context.answerSdp).toBe('v=0 answer');
    expect(emittedBy(actions)).toEqual([onLeg('rtc:answer')]);
    expect(actions.find((a) => a.type === 'xstate.raise')?.params).toMatchObject({ delay: 5000 });
  });

  it('answering → ending when the endpoint cannot be made', () => {
    const [snapshot, emitted] = run(initial(), answerFailed);
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: 'answer failed: no router' });
    expect(emitted).toEqual([onLeg('rtc:terminate', { reason: 'answer failed: no router' })]);
  });

  it.each(['answering', 'connecting'] as const)('refuses media commands and speech while %s', (state) => {
    const snapshot = STATES[state]();
    for (const command of [...COMMANDS, { type: 'SPEAKING', on: true } as const]) expect(snapshot.can(command)).toBe(false);
    expect(snapshot.can({ type: 'HANGUP' })).toBe(true);
    expect(snapshot.can({ type: 'TERMINATE', reason: 'x' })).toBe(true);
  });

  it.each(['connected', 'completed'])('connecting → connected on ice %s, announcing audio', (state) => {
    const [snapshot, emitted] = run(STATES.connecting(), ice(state));
    expect(snapshot.value).toEqual({ connected: { audio: 'unmuted', earmuff: 'off', video: 'unmuted', speech: 'silent', signaling: 'stable', ice: 'up' } });
    expect(emitted).toEqual([status('ice', state), media(true)]);
  });

  it('connecting reports progress without moving', () => {
    const [snapshot, emitted] = run(STATES.connecting(), ice('new'), dtls('connecting'));
    expect(snapshot.value).toBe('connecting');
    expect(emitted).toEqual([status('ice', 'new'), status('dtls', 'connecting')]);
  });

  it.each(DEAD)('connecting → ending on %o (%s %s): %s', (event, kind, state, reason) => {
    const [snapshot, emitted] = run(STATES.connecting(), event);
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: reason });
    expect(emitted).toEqual([status(kind, state), onLeg('rtc:terminate', { reason })]);
  });

  it('connecting → ending when the connect timeout fires', () => {
    const [snapshot, emitted] = run(STATES.connecting(), timedOut);
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: 'ice timeout' });
    expect(emitted).toEqual([onLeg('rtc:terminate', { reason: 'ice timeout' })]);
  });

  it('accepts media commands in connected, including ones that change nothing', () => {
    const fresh = STATES.connected();
    const [muted] = run(fresh, { type: 'MUTE', on: true });
    for (const command of COMMANDS) expect(fresh.can(command)).toBe(true);
    expect(fresh.can({ type: 'MUTE', on: false })).toBe(true);
    expect(muted.can({ type: 'MUTE', on: true })).toBe(true);
  });

  it.each([
    ['MUTE', 'audio', 'muted', 'audio:mute', [true, false]],
    ['EARMUFF', 'earmuff', 'earmuffed', 'audio:earmuff', [false, true]],
    ['VIDEO_MUTE', 'video', 'videoMuted', 'video:mute', [false, false]],
  ] as const)('%s toggles its region, context and events; a repeat does nothing', (type, region, flag, prefix, [m, e]) => {
    const [on, onEmitted] = run(STATES.connected(), { type, on: true, initiator: 'USR-x' });
    expect(on.context[flag]).toBe(true);
    expect((on.value as Record<string, Record<string, string>>)['connected']![region]).toBe(region === 'earmuff' ? 'on' : 'muted');
    expect(onEmitted).toEqual([onLeg(`${prefix}:on`, { initiator: 'USR-x' }), media(true, m, e)]);

    const [again, actions] = transition(webrtcLegMachine, on, { type, on: true });
    expect(again.value).toEqual(on.value);
    expect(actions).toEqual([]);

    const [off, offEmitted] = run(on, { type, on: false });
    expect(off.context[flag]).toBe(false);
    expect(offEmitted).toEqual([onLeg(`${prefix}:off`), media(true)]);
    expect(run(off, { type, on: false })[1]).toEqual([]);
  });

  it('asks for the media effect with the new value only on a change', () => {
    const [, actions] = transition(webrtcLegMachine, STATES.connected(), { type: 'EARMUFF', on: true });
    expect(actions.filter((a) => !a.type.startsWith('xstate.')).map((a) => [a.type, a.params])).toEqual([['applyEarmuff', { on: true }]]);
  });

  it('reports speech only when it changes', () => {
    const speaking = (on: boolean): WebRtcLegEvent => ({ type: 'SPEAKING', on });
    const [snapshot, emitted] = run(STATES.connected(), speaking(true), speaking(true), speaking(false), speaking(false));
    expect(snapshot.context.speaking).toBe(false);
    expect(emitted).toEqual([onLeg('audio:speaking:on'), onLeg('audio:speaking:off')]);
  });

  it('offers a changed session once connected, one offer at a time, and applies the answer', () => {
    const renegotiate: WebRtcLegEvent = { type: 'RENEGOTIATE' };
    const answer = (sdp: string): WebRtcLegEvent => ({ type: 'ANSWER', sdp });
    expect(STATES.connecting().can(renegotiate)).toBe(false);
    expect(STATES.connected().can(answer('v=0 early'))).toBe(false);

    const [offering, actions] = transition(webrtcLegMachine, STATES.connected(), renegotiate);
    expect((offering.value as Record<string, Record<string, string>>)['connected']!['signaling']).toBe('offering');
    expect(actions.some((a) => a.type === 'sendOffer')).toBe(true);
    expect(emittedBy(actions)).toEqual([onLeg('rtc:offer')]);

    const [stable, answerActions] = transition(webrtcLegMachine, offering, answer('v=0 a1'));
    expect(stable.matches({ connected: { signaling: 'stable' } })).toBe(true);
    expect(answerActions.filter((a) => a.type === 'applyAnswer').map((a) => a.params)).toEqual([{ sdp: 'v=0 a1' }]);
    expect(emittedBy(answerActions)).toEqual([onLeg('rtc:answer')]);
  });

  it('a change while an offer is out is offered right after the answer', () => {
    const [waiting, queued] = run(STATES.connected(), { type: 'RENEGOTIATE' }, { type: 'RENEGOTIATE' }, { type: 'RENEGOTIATE' });
    expect(queued).toEqual([onLeg('rtc:offer')]);
    expect(waiting.context.renegotiate).toBe(true);
    const [again, actions] = transition(webrtcLegMachine, waiting, { type: 'ANSWER', sdp: 'v=0 a1' });
    expect(again.matches({ connected: { signaling: 'offering' } })).toBe(true);
    expect(again.context.renegotiate).toBe(false);
    expect(actions.filter((a) => a.type === 'applyAnswer' || a.type === 'sendOffer').map((a) => a.type)).toEqual(['applyAnswer', 'sendOffer']);
    expect(emittedBy(actions)).toEqual([onLeg('rtc:answer'), onLeg('rtc:offer')]);
    const [done] = run(again, { type: 'ANSWER', sdp: 'v=0 a2' });
    expect(done.matches({ connected: { signaling: 'stable' } })).toBe(true);
  });

  it('reports video in member:media while the peer sends it and it is not muted', () => {
    const withVideo = { ...(answered as unknown as Record<string, unknown>), output: { answerSdp: 'v=0 answer', hasVideo: true } } as unknown as WebRtcLegEvent;
    const [connected, up] = run(initial(), withVideo, ice('connected'));
    const video = (on: boolean) => ({
      type: 'member:media',
      body: { member_id: MEMBER, leg_id: LEG, media: { audio: true, video: on, muted: false, earmuffed: false } },
    });
    expect(up.at(-1)).toEqual(video(true));
    const [muted, mutedEmitted] = run(connected, { type: 'VIDEO_MUTE', on: true });
    expect(mutedEmitted).toEqual([onLeg('video:mute:on'), video(false)]);
    expect(run(muted, { type: 'VIDEO_MUTE', on: false })[1]).toEqual([onLeg('video:mute:off'), video(true)]);
  });

  it('ice disconnected on a connected leg is reported and arms the disconnect grace from the input', () => {
    const [snapshot, actions] = transition(webrtcLegMachine, STATES.connected(), ice('disconnected'));
    expect(snapshot.matches({ connected: { ice: 'disconnected' } })).toBe(true);
    expect(emittedBy(actions)).toEqual([status('ice', 'disconnected')]);
    const raise = actions.find((a) => a.type === 'xstate.raise');
    expect(raise?.params).toMatchObject({ delay: 10_000, event: { type: GRACE_EXPIRED } });
    // Still a working leg while it waits: commands are taken.
    for (const command of COMMANDS) expect(snapshot.can(command)).toBe(true);
  });

  it('connected → ending when the disconnect grace runs out: rtc:terminate with the reason, then media down', () => {
    const [snapshot, emitted] = run(STATES.connected(), ice('disconnected'), graceExpired);
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: 'media timeout: ICE disconnected' });
    expect(emitted).toEqual([status('ice', 'disconnected'), onLeg('rtc:terminate', { reason: 'media timeout: ICE disconnected' }), media(false)]);
    expect(emitted.every((e) => parseEventBody(e.type, e.body).ok)).toBe(true);
  });

  it.each(['connected', 'completed'])('ice %s within the grace cancels it: the leg stays connected', (state) => {
    const [disconnected] = run(STATES.connected(), ice('disconnected'));
    const [back, actions] = transition(webrtcLegMachine, disconnected, ice(state));
    expect(back.matches({ connected: { ice: 'up' } })).toBe(true);
    expect(emittedBy(actions)).toEqual([status('ice', state)]);
    expect((actions as readonly Action[]).some((a) => a.type === 'xstate.cancel')).toBe(true);
    // A grace event that raced the cancel finds no transition: nothing ends.
    const [after, late] = run(back, graceExpired);
    expect(after.matches({ connected: { ice: 'up' } })).toBe(true);
    expect(late).toEqual([]);
  });

  it('a repeated ice disconnected keeps the grace already running', () => {
    const [disconnected] = run(STATES.connected(), ice('disconnected'));
    const [again, actions] = transition(webrtcLegMachine, disconnected, ice('disconnected'));
    expect(again.matches({ connected: { ice: 'disconnected' } })).toBe(true);
    expect(emittedBy(actions)).toEqual([status('ice', 'disconnected')]);
    expect((actions as readonly Action[]).some((a) => a.type === 'xstate.raise' || a.type === 'xstate.cancel')).toBe(false);
  });

  it.each(DEAD)('%o while ICE is disconnected ends the leg at once, without waiting for the grace', (event, kind, state, reason) => {
    const [snapshot, emitted] = run(STATES.connected(), ice('disconnected'), event);
    expect(snapshot.value).toBe('ending');
    expect(emitted.slice(1)).toEqual([status(kind, state), onLeg('rtc:terminate', { reason }), media(false)]);
  });

  it.each(DEAD)('connected → ending at once on %o (%s %s): %s, taking media down after the terminal event', (event, kind, state, reason) => {
    const [snapshot, emitted] = run(STATES.connected(), { type: 'MUTE', on: true }, { type: 'SPEAKING', on: true }, event);
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: reason });
    expect(emitted.slice(3)).toEqual([status(kind, state), onLeg('rtc:terminate', { reason }), media(false)]);
  });

  it.each(['answering', 'connecting', 'connected'] as const)('HANGUP in %s: the client ended it', (state) => {
    const [snapshot, emitted] = run(STATES[state](), { type: 'HANGUP' });
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context.endedBy).toBe('client');
    expect(emitted).toEqual(state === 'connected' ? [onLeg('rtc:hangup'), media(false)] : [onLeg('rtc:hangup')]);
  });

  it.each(['answering', 'connecting', 'connected'] as const)('TERMINATE in %s: the gateway ended it', (state) => {
    const [snapshot, emitted] = run(STATES[state](), { type: 'TERMINATE', reason: 'conversation deleted' });
    expect(snapshot.value).toBe('ending');
    expect(snapshot.context).toMatchObject({ endedBy: 'gateway', endReason: 'conversation deleted' });
    const terminate = onLeg('rtc:terminate', { reason: 'conversation deleted' });
    expect(emitted).toEqual(state === 'connected' ? [terminate, media(false)] : [terminate]);
  });

  it('fits an over-long or empty reason to what rtc:terminate accepts', () => {
    const [long] = run(STATES.connecting(), { type: 'TERMINATE', reason: 'x'.repeat(500) });
    expect(long.context.endReason).toHaveLength(200);
    const [empty, emitted] = run(STATES.connecting(), { type: 'TERMINATE', reason: '' });
    expect(empty.context.endReason).toBe('terminated');
    expect(emitted.every((e) => parseEventBody(e.type, e.body).ok)).toBe(true);
  });

  it('ending closes the endpoint, refuses commands, still reports status, and ends either way', () => {
    const [ending, actions] = transition(webrtcLegMachine, STATES.connected(), { type: 'HANGUP' });
    expect(actions.find((a) => a.type === 'xstate.spawnChild')?.params).toMatchObject({ src: 'closeEndpoint', input: { legId: LEG } });
    for (const command of [...COMMANDS, { type: 'HANGUP' } as const, { type: 'TERMINATE', reason: 'x' } as const]) {
      expect(ending.can(command)).toBe(false);
    }
    expect(run(ending, ice('closed'))).toEqual([expect.objectContaining({ value: 'ending' }), [status('ice', 'closed')]]);
    const closeFailed = { type: 'xstate.error.actor.closeEndpoint', error: new Error('gone') } as unknown as WebRtcLegEvent;
    for (const settled of [closed, closeFailed]) {
      const [ended] = run(ending, settled);
      expect(ended.value).toBe('ended');
      expect(ended.status).toBe('done');
    }
  });

  it('ended accepts nothing', () => {
    const ended = STATES.ended();
    const everything: WebRtcLegEvent[] = [...COMMANDS, { type: 'HANGUP' }, { type: 'TERMINATE', reason: 'x' }, ice('closed'), { type: 'SPEAKING', on: true }];
    for (const event of everything) {
      expect(ended.can(event)).toBe(false);
      expect(run(ended, event)[1]).toEqual([]);
    }
  });
});

// A compile-time check that every emitted body is the catalogue's body for its type.
type BodyFor<E, T> = E extends { type: infer U; body: infer B } ? (T extends U ? B : never) : never;
type Mismatched<E extends { type: string }> = {
  [T in E['type']]: T extends EventType ? ([BodyFor<E, T>] extends [never] ? T : BodyFor<E, T> extends EventBody<T> ? never : T) : T;
}[E['type']];

describe('webrtcLeg machine: emitted events', () => {
  it('are typed as catalogue events with catalogue bodies', () => {
    expectTypeOf<Mismatched<WebRtcLegEmitted>>().toEqualTypeOf<never>();
    expectTypeOf<Mismatched<{ type: 'rtc:status'; body: { leg_id: string } }>>().toEqualTypeOf<'rtc:status'>();
  });
});

/** A promise with its settle functions, to hold an actor in a state for as long as a test needs. */
function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<undefined>((res, rej) => {
    resolve = () => res(undefined);
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('webrtcLeg machine: actor with fakes', () => {
  let actor: Actor<typeof webrtcLegMachine> | undefined;
  let emitted: WebRtcLegEmitted[];
  let applied: [string, boolean][];
  let closes: string[];

  afterEach(() => {
    actor?.stop();
    actor = undefined;
  });

  /** Starts a leg with fake effects that record what they were asked to do. */
  function start(opts: { create?: () => Promise<{ answerSdp: string; hasVideo: boolean }>; close?: () => Promise<undefined>; clock?: SimulatedClock } = {}) {
    emitted = [];
    applied = [];
    closes = [];
    const machine = webrtcLegMachine.provide({
      actors: {
        createEndpoint: fromPromise<{ answerSdp: string; hasVideo: boolean }, { legId: string; offerSdp: string }>(
          opts.create ?? (() => Promise.resolve({ answerSdp: 'v=0 answer', hasVideo: false })),
        ),
        closeEndpoint: fromPromise<undefined, { legId: string }>(({ input }) => {
          closes.push(input.legId);
          return opts.close ? opts.close() : Promise.resolve(undefined);
        }),
      },
      actions: {
        applyMute: (_, params) => applied.push(['mute', params.on]),
        applyEarmuff: (_, params) => applied.push(['earmuff', params.on]),
        applyVideoMute: (_, params) => applied.push(['video', params.on]),
        joinVideo: () => applied.push(['join video', true]),
        sendOffer: () => applied.push(['offer', true]),
        applyAnswer: (_, params) => applied.push([`answer ${params.sdp}`, true]),
      },
    });
    const leg = createActor(machine, { input: INPUT, ...(opts.clock ? { clock: opts.clock } : {}) });
    leg.on('*', (e) => emitted.push(e));
    actor = leg;
    leg.start();
    return leg;
  }

  /** Every emitted body passes the catalogue's schema for its type. */
  function expectCatalogued() {
    for (const e of emitted) expect(parseEventBody(e.type, e.body), e.type).toMatchObject({ ok: true });
  }

  const types = () => emitted.map((e) => e.type);

  it('happy path: answer, connect, toggles, speech, client hangup', async () => {
    const leg = start();
    await waitFor(leg, (s) => s.matches('connecting'));
    expect(leg.getSnapshot().context.answerSdp).toBe('v=0 answer');
    leg.send(ice('checking'));
    leg.send(ice('connected'));
    leg.send({ type: 'MUTE', on: true, initiator: 'USR-a' });
    leg.send({ type: 'MUTE', on: true });
    leg.send({ type: 'MUTE', on: false });
    leg.send({ type: 'EARMUFF', on: true });
    leg.send({ type: 'EARMUFF', on: false });
    leg.send({ type: 'SPEAKING', on: true });
    leg.send({ type: 'SPEAKING', on: false });
    leg.send({ type: 'HANGUP' });
    const final = await waitFor(leg, (s) => s.status === 'done');

    expect(emitted).toEqual([
      onLeg('rtc:offer'),
      onLeg('rtc:answer'),
      status('ice', 'checking'),
      status('ice', 'connected'),
      media(true),
      onLeg('audio:mute:on', { initiator: 'USR-a' }),
      media(true, true),
      onLeg('audio:mute:off'),
      media(true),
      onLeg('audio:earmuff:on'),
      media(true, false, true),
      onLeg('audio:earmuff:off'),
      media(true),
      onLeg('audio:speaking:on'),
      onLeg('audio:speaking:off'),
      onLeg('rtc:hangup'),
      media(false),
    ]);
    // The peer's video joins forwarding as its media comes up, once.
    expect(applied).toEqual([
      ['join video', true],
      ['mute', true],
      ['mute', false],
      ['earmuff', true],
      ['earmuff', false],
    ]);
    expect(closes).toEqual([LEG]);
    expect(final.value).toBe('ended');
    expect(final.context.endedBy).toBe('client');
    expectCatalogued();
  });

  it('ends with ice timeout when ICE never connects (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const leg = start({ clock });
    await waitFor(leg, (s) => s.matches('connecting'));
    clock.increment(4999);
    expect(leg.getSnapshot().value).toBe('connecting');
    clock.increment(1);
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(types()).toEqual(['rtc:offer', 'rtc:answer', 'rtc:terminate']);
    expect(emitted.at(-1)).toEqual(onLeg('rtc:terminate', { reason: 'ice timeout' }));
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'ice timeout' });
    expectCatalogued();
  });

  it('does not time out once connected (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const leg = start({ clock });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('completed'));
    clock.increment(60_000);
    expect(leg.getSnapshot().matches('connected')).toBe(true);
  });

  it('dtls failed while connected: rtc:terminate exactly once, even as the endpoint keeps reporting', async () => {
    const close = deferred();
    const leg = start({ close: () => close.promise });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send(dtls('failed'));
    leg.send(dtls('closed'));
    leg.send(ice('closed'));
    leg.send({ type: 'TERMINATE', reason: 'again' });
    leg.send({ type: 'HANGUP' });
    close.resolve();
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(emitted.slice(4)).toEqual([
      status('dtls', 'failed'),
      onLeg('rtc:terminate', { reason: 'DTLS failed' }),
      media(false),
      status('dtls', 'closed'),
      status('ice', 'closed'),
    ]);
    expect(types().filter((t) => t === 'rtc:terminate' || t === 'rtc:hangup')).toEqual(['rtc:terminate']);
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'DTLS failed' });
    expectCatalogued();
  });

  it('a peer gone silent: ICE disconnected, the grace runs out, the leg ends and closes its media (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const leg = start({ clock });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send(ice('disconnected'));
    clock.increment(9999);
    expect(leg.getSnapshot().matches({ connected: { ice: 'disconnected' } })).toBe(true);
    expect(types()).not.toContain('rtc:terminate');
    clock.increment(1);
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(emitted.slice(4)).toEqual([status('ice', 'disconnected'), onLeg('rtc:terminate', { reason: 'media timeout: ICE disconnected' }), media(false)]);
    expect(closes).toEqual([LEG]);
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'media timeout: ICE disconnected' });
    expectCatalogued();
  });

  it('ICE back within the grace keeps the leg; a later disconnect gets a whole grace of its own (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const leg = start({ clock });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send(ice('disconnected'));
    clock.increment(9000);
    leg.send(ice('completed'));
    clock.increment(60_000);
    expect(leg.getSnapshot().matches({ connected: { ice: 'up' } })).toBe(true);
    expect(types()).not.toContain('rtc:terminate');

    leg.send(ice('disconnected'));
    clock.increment(9999);
    expect(leg.getSnapshot().matches('connected')).toBe(true);
    clock.increment(1);
    await waitFor(leg, (s) => s.status === 'done');
    expect(types().filter((t) => t === 'rtc:terminate' || t === 'rtc:hangup')).toEqual(['rtc:terminate']);
  });

  it("dtls closed (the peer's close alert) ends a connected leg at once, and the grace it was in never fires (simulated clock)", async () => {
    const clock = new SimulatedClock();
    const leg = start({ clock });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send(ice('disconnected'));
    leg.send(dtls('closed'));
    const final = await waitFor(leg, (s) => s.status === 'done');
    clock.increment(60_000);
    expect(emitted.slice(5)).toEqual([status('dtls', 'closed'), onLeg('rtc:terminate', { reason: 'media closed by the peer' }), media(false)]);
    expect(types().filter((t) => t === 'rtc:terminate')).toHaveLength(1);
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'media closed by the peer' });
    expectCatalogued();
  });

  it('a rejected createEndpoint ends the leg with answer failed', async () => {
    const leg = start({ create: () => Promise.reject(new Error('worker died')) });
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(emitted).toEqual([onLeg('rtc:offer'), onLeg('rtc:terminate', { reason: 'answer failed: worker died' })]);
    expect(closes).toEqual([LEG]);
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'answer failed: worker died' });
    expectCatalogued();
  });

  it('TERMINATE from the gateway while connected', async () => {
    const leg = start();
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send({ type: 'TERMINATE', reason: 'conversation deleted' });
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(emitted.slice(-2)).toEqual([onLeg('rtc:terminate', { reason: 'conversation deleted' }), media(false)]);
    expect(final.context).toMatchObject({ endedBy: 'gateway', endReason: 'conversation deleted' });
    expectCatalogued();
  });

  it('TERMINATE while still answering stops waiting for the endpoint', async () => {
    const create = deferred();
    const leg = start({ create: () => create.promise.then(() => ({ answerSdp: 'late', hasVideo: false })) });
    leg.send({ type: 'TERMINATE', reason: 'shutting down' });
    const final = await waitFor(leg, (s) => s.status === 'done');
    create.resolve();
    await Promise.resolve();
    expect(types()).toEqual(['rtc:offer', 'rtc:terminate']);
    expect(final.context.answerSdp).toBeUndefined();
  });

  it('a failing closeEndpoint still reaches ended', async () => {
    const leg = start({ close: () => Promise.reject(new Error('already gone')) });
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send({ type: 'HANGUP' });
    const final = await waitFor(leg, (s) => s.status === 'done');
    expect(final.value).toBe('ended');
    expect(final.context.endedBy).toBe('client');
  });

  it('ignores everything after ended', async () => {
    const leg = start();
    await waitFor(leg, (s) => s.matches('connecting'));
    leg.send(ice('connected'));
    leg.send({ type: 'HANGUP' });
    const final = await waitFor(leg, (s) => s.status === 'done');
    const before = emitted.length;
    const appliedBefore = applied.length;
    // xstate's development build warns about each event sent to a finished actor; keep the output clean.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    leg.send({ type: 'MUTE', on: true });
    leg.send({ type: 'TERMINATE', reason: 'late' });
    leg.send(ice('closed'));
    warn.mockRestore();
    expect(emitted).toHaveLength(before);
    expect(leg.getSnapshot()).toBe(final);
    expect(applied).toHaveLength(appliedBefore);
  });
});
