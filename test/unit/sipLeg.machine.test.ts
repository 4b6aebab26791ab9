import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, initialTransition, SimulatedClock, transition, waitFor, type AnyEventObject, type SnapshotFrom } from 'xstate';
import { sipLegMachine, type SipLegEvent, type SipLegInput } from '../../machines/sipLeg.machine.js';
import { parseEventBody } from '../../src/events/catalogue.js';

type Snapshot = SnapshotFrom<typeof sipLegMachine>;
type Action = { type: string; params?: unknown };

const LEG = randomUUID();
const MEMBER = `MEM-${randomUUID()}`;
const inbound: SipLegInput = { legId: LEG, memberId: MEMBER, direction: 'inbound', answerTimeoutMs: 32_000 };
const outbound: SipLegInput = { ...inbound, direction: 'outbound', answerTimeoutMs: 60_000 };

const emittedBy = (actions: readonly Action[]): AnyEventObject[] =>
  actions.flatMap((a) => (a.type === 'xstate.emit' ? [(a.params as { event: AnyEventObject }).event] : []));
/** The effects src/ provides that a transition asked for (not xstate's own actions, nor `accept`, which does nothing). */
const effects = (actions: readonly Action[]): string[] => actions.filter((a) => !a.type.startsWith('xstate.') && a.type !== 'accept').map((a) => a.type);

function run(from: Snapshot, ...events: SipLegEvent[]): [Snapshot, AnyEventObject[], string[]] {
  let snapshot = from;
  const emitted: AnyEventObject[] = [];
  const done: string[] = [];
  for (const event of events) {
    const [next, actions] = transition(sipLegMachine, snapshot, event);
    snapshot = next;
    emitted.push(...emittedBy(actions));
    done.push(...effects(actions));
  }
  return [snapshot, emitted, done];
}

const start = (input: SipLegInput): [Snapshot, AnyEventObject[], string[]] => {
  const [snapshot, actions] = initialTransition(sipLegMachine, input);
  return [snapshot, emittedBy(actions), effects(actions)];
};
const types = (events: AnyEventObject[]) => events.map((e) => e.type);
const media = (audio: boolean, muted = false, earmuffed = false) => ({
  type: 'member:media',
  body: { member_id: MEMBER, leg_id: LEG, media: { audio, video: false, muted, earmuffed } },
});
const connectedIn = () => run(start(inbound)[0], { type: 'ANSWERED' })[0];
const connectedOut = () => run(start(outbound)[0], { type: 'RINGING', code: 180 }, { type: 'ANSWERED' })[0];
const expectCatalogued = (events: AnyEventObject[]) => {
  for (const e of events) expect(parseEventBody(e.type, e.body), e.type).toMatchObject({ ok: true });
};

describe('sipLeg machine: inbound', () => {
  it('rings, answers, and waits for the ACK', () => {
    const [snapshot, emitted, done] = start(inbound);
    expect(snapshot.value).toBe('awaitingAck');
    expect(done).toEqual(['sendRinging', 'sendAnswer']);
    expect(emitted).toEqual([
      { type: 'sip:status', body: { leg_id: LEG, code: 180, reason: 'Ringing', direction: 'inbound' } },
      { type: 'sip:ringing', body: { leg_id: LEG, code: 180 } },
      { type: 'sip:status', body: { leg_id: LEG, code: 200, reason: 'OK', direction: 'inbound' } },
    ]);
    expectCatalogued(emitted);
  });

  it("the route's mute (initialMute) is applied as the media comes up: muted at once, audio:mute:on, then unmute works", () => {
    const [awaiting] = start({ ...inbound, initialMute: true });
    const [connected, emitted, done] = run(awaiting, { type: 'ANSWERED' });
    expect(connected.matches('connected')).toBe(true);
    expect(connected.context.muted).toBe(true);
    expect(done).toContain('applyMute');
    expect(types(emitted)).toEqual(['sip:answered', 'member:media', 'audio:mute:on', 'member:media']);
    expect(emitted.at(-1)).toEqual(media(true, true));
    expectCatalogued(emitted);
    const [unmuted, after] = run(connected, { type: 'MUTE', on: false, initiator: 'operator' });
    expect(unmuted.context.muted).toBe(false);
    expect(types(after)).toEqual(['audio:mute:off', 'member:media']);
  });

  it('the ACK connects it: sip:answered and media up', () => {
    const [snapshot, emitted] = run(start(inbound)[0], { type: 'ANSWERED' });
    expect(snapshot.matches('connected')).toBe(true);
    expect(emitted).toEqual([{ type: 'sip:answered', body: { leg_id: LEG, direction: 'inbound' } }, media(true)]);
  });

  it('a 200 never ACKed is ended with BYE', () => {
    const timedOut = { type: 'xstate.after.answerTimeout.sipLeg.awaitingAck' } as unknown as SipLegEvent;
    const [snapshot, emitted, done] = run(start(inbound)[0], timedOut);
    expect(snapshot.value).toBe('ending');
    expect(done).toContain('sendBye');
    expect(emitted).toEqual([{ type: 'sip:hangup', body: { leg_id: LEG, cause: 'no ACK', by: 'system' } }]);
  });

  it('the caller hanging up ends it once, with media down after the hangup', () => {
    const [snapshot, emitted, done] = run(connectedIn(), { type: 'REMOTE_HANGUP' }, { type: 'REMOTE_HANGUP' }, { type: 'HANGUP', reason: 'x', by: 'local' });
    expect(snapshot.value).toBe('ending');
    expect(done).not.toContain('sendBye');
    expect(emitted).toEqual([{ type: 'sip:hangup', body: { leg_id: LEG, cause: 'remote hung up', by: 'remote' } }, media(false)]);
  });
});

describe('sipLeg machine: inbound with an answer delay', () => {
  const delayed: SipLegInput = { ...inbound, answerDelayMs: 2000 };

  it('rings first, and answers when the delay is over', () => {
    const [ringing, emitted, done] = start(delayed);
    expect(ringing.value).toBe('offering');
    expect(done).toEqual(['sendRinging']);
    expect(types(emitted)).toEqual(['sip:status', 'sip:ringing']);
    const delayOver = { type: 'xstate.after.answerDelay.sipLeg.offering' } as unknown as SipLegEvent;
    const [answered, , answeredDone] = run(ringing, delayOver);
    expect(answered.value).toBe('awaitingAck');
    expect(answeredDone).toEqual(['sendAnswer']);
  });

  it('a caller who cancels while it rings ends it: 487 and sip:hangup cancelled by remote', () => {
    const [snapshot, emitted, done] = run(start(delayed)[0], { type: 'REMOTE_HANGUP', cancelled: true });
    expect(snapshot.value).toBe('ending');
    expect(done).toEqual(['closeMedia']);
    expect(emitted).toEqual([
      { type: 'sip:status', body: { leg_id: LEG, code: 487, reason: 'Request Terminated', direction: 'inbound' } },
      { type: 'sip:hangup', body: { leg_id: LEG, cause: 'cancelled', by: 'remote', code: 487 } },
    ]);
    expectCatalogued(emitted);
  });

  it('the gateway ending it before the answer refuses the INVITE', () => {
    const [snapshot, emitted, done] = run(start(delayed)[0], { type: 'HANGUP', reason: 'conversation deleted', by: 'system' });
    expect(snapshot.value).toBe('ending');
    expect(done).toEqual(['sendReject', 'closeMedia']);
    expect(emitted).toEqual([{ type: 'sip:hangup', body: { leg_id: LEG, cause: 'conversation deleted', by: 'system', code: 480 } }]);
  });
});

describe('sipLeg machine: outbound', () => {
  it('ringing announces sip:ringing, the status and the ringback; a 183 after it is only a status', () => {
    const [ringing, emitted] = run(start(outbound)[0], { type: 'RINGING', code: 180 }, { type: 'RINGING', code: 183 });
    expect(ringing.value).toBe('ringing');
    expect(types(emitted)).toEqual(['sip:ringing', 'sip:status', 'audio:ringing:start', 'sip:status']);
    expectCatalogued(emitted);
  });

  it.each([
    [486, 'Busy Here', 'busy'],
    [603, 'Decline', 'declined'],
    [404, 'Not Found', 'not found'],
    [480, 'Temporarily Unavailable', 'unavailable'],
    [503, 'Service Unavailable', 'failed'],
  ])('a %i final response ends it as %s → %s', (code, reason, cause) => {
    const [snapshot, emitted] = run(start(outbound)[0], { type: 'RINGING', code: 180 }, { type: 'REJECTED', code, reason });
    expect(snapshot.value).toBe('ending');
    expect(emitted.slice(-2)).toEqual([
      { type: 'sip:status', body: { leg_id: LEG, code, reason, direction: 'outbound' } },
      { type: 'sip:hangup', body: { leg_id: LEG, cause, by: 'remote', code, reason } },
    ]);
    expectCatalogued(emitted);
  });

  it.each(['calling', 'ringing'] as const)('no answer in time while %s: CANCEL and sip:hangup no answer', (state) => {
    const from = state === 'calling' ? start(outbound)[0] : run(start(outbound)[0], { type: 'RINGING', code: 180 })[0];
    const timedOut = { type: `xstate.after.answerTimeout.sipLeg.${state}` } as unknown as SipLegEvent;
    const [snapshot, emitted, done] = run(from, timedOut);
    expect(snapshot.value).toBe('ending');
    expect(done).toContain('sendCancel');
    expect(emitted).toEqual([{ type: 'sip:hangup', body: { leg_id: LEG, cause: 'no answer', by: 'system', code: 487 } }]);
  });

  it('the gateway hanging up before the answer cancels; after it, sends BYE', () => {
    const [, , beforeDone] = run(start(outbound)[0], { type: 'HANGUP', reason: 'hung up by operator', by: 'local' });
    expect(beforeDone).toEqual(['sendCancel', 'closeMedia']);
    const [after, emitted, afterDone] = run(connectedOut(), { type: 'HANGUP', reason: 'conversation deleted', by: 'system' });
    expect(after.value).toBe('ending');
    expect(afterDone).toEqual(['sendBye', 'closeMedia']);
    expect(emitted).toEqual([{ type: 'sip:hangup', body: { leg_id: LEG, cause: 'conversation deleted', by: 'system' } }, media(false)]);
  });

  it('reports the answering-machine verdict while connected', () => {
    const [, emitted] = run(connectedOut(), { type: 'MACHINE', verdict: 'machine', confidence: 1.7 });
    expect(emitted).toEqual([{ type: 'sip:machine', body: { leg_id: LEG, type: 'machine', confidence: 1 } }]);
    expectCatalogued(emitted);
  });
});

describe('sipLeg machine: connected', () => {
  it('mute and earmuff change the media and announce it once; a repeat does nothing', () => {
    const [, emitted, done] = run(
      connectedIn(),
      { type: 'MUTE', on: true, initiator: 'olga' },
      { type: 'MUTE', on: true },
      { type: 'EARMUFF', on: true },
      { type: 'MUTE', on: false },
    );
    expect(done).toEqual(['applyMute', 'applyEarmuff', 'applyMute']);
    expect(emitted).toEqual([
      { type: 'audio:mute:on', body: { leg_id: LEG, initiator: 'olga' } },
      media(true, true),
      { type: 'audio:earmuff:on', body: { leg_id: LEG } },
      media(true, true, true),
      { type: 'audio:mute:off', body: { leg_id: LEG } },
      media(true, false, true),
    ]);
  });

  it('hold by the far end takes its audio out (member:media audio false) and back', () => {
    const [held, emitted, done] = run(connectedIn(), { type: 'REMOTE_HOLD', on: true }, { type: 'REMOTE_HOLD', on: true });
    expect(held.context.held).toBe(true);
    expect(done).toEqual(['applyHold']);
    expect(emitted).toEqual([media(false)]);
    const [resumed, again] = run(held, { type: 'REMOTE_HOLD', on: false });
    expect(resumed.context.held).toBe(false);
    expect(again).toEqual([media(true)]);
  });

  it('ending closes the media, and the leg ends once that is over (MEDIA_CLOSED), not before', () => {
    const [ending] = run(connectedIn(), { type: 'REMOTE_HANGUP' });
    expect(ending.hasTag('ending')).toBe(true);
    const [stillEnding, emitted, done] = run(ending, { type: 'ANSWERED' });
    expect(stillEnding.value).toBe('ending');
    expect([emitted, done]).toEqual([[], []]);
    const [ended, endEmitted, endDone] = run(ending, { type: 'MEDIA_CLOSED' });
    expect(ended.status).toBe('done');
    expect(ended.hasTag('ended')).toBe(true);
    expect([endEmitted, endDone]).toEqual([[], []]);
  });

  it('no RTP for too long ends the call with BYE', () => {
    const [snapshot, emitted, done] = run(connectedIn(), { type: 'MEDIA_TIMEOUT' });
    expect(snapshot.value).toBe('ending');
    expect(done).toEqual(['sendBye', 'closeMedia']);
    expect(types(emitted)).toEqual(['sip:hangup', 'member:media']);
    expect(emitted[0]!.body).toMatchObject({ cause: 'no RTP received', by: 'system' });
  });

  it('commands are refused before the call is connected and after it ended', () => {
    const mute: SipLegEvent = { type: 'MUTE', on: true };
    expect(start(outbound)[0].can(mute)).toBe(false);
    expect(start(inbound)[0].can(mute)).toBe(false);
    expect(connectedIn().can(mute)).toBe(true);
    const [ending] = run(connectedIn(), { type: 'REMOTE_HANGUP' });
    expect(ending.can(mute)).toBe(false);
    expect(ending.can({ type: 'HANGUP', reason: 'x', by: 'local' })).toBe(false);
  });
});

describe('sipLeg machine: actor with fakes', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('a session timer (RFC 4028) ends the call unless refreshed in time; each refresh starts it again', async () => {
    const done: string[] = [];
    const emitted: AnyEventObject[] = [];
    const clock = new SimulatedClock();
    const machine = sipLegMachine.provide({
      actions: {
        closeMedia: ({ self }) => queueMicrotask(() => self.send({ type: 'MEDIA_CLOSED' })),
        sendRinging: () => undefined,
        sendAnswer: () => undefined,
        sendBye: () => done.push('sendBye'),
        applyMute: () => undefined,
        applyEarmuff: () => undefined,
        applyHold: () => undefined,
      },
    });
    const actor = createActor(machine, { input: { ...inbound, sessionExpiryMs: 100_000 }, clock });
    stop = () => actor.stop();
    actor.on('*', (e) => emitted.push(e));
    actor.start();
    actor.send({ type: 'ANSWERED' });
    clock.increment(90_000);
    actor.send({ type: 'SESSION_REFRESH', expiryMs: 100_000 });
    clock.increment(99_999);
    expect(actor.getSnapshot().hasTag('connected')).toBe(true);
    expect(done).toEqual([]);
    clock.increment(1);
    const final = await waitFor(actor, (s) => s.status === 'done');
    expect(final.hasTag('ended')).toBe(true);
    expect(done).toEqual(['sendBye']);
    expect(emitted.find((e) => e.type === 'sip:hangup')?.body).toMatchObject({ cause: 'session timer expired', by: 'system' });
  });

  it('runs an outbound call to its end with the provided effects, and times out on a simulated clock', async () => {
    const done: string[] = [];
    const emitted: AnyEventObject[] = [];
    const clock = new SimulatedClock();
    const machine = sipLegMachine.provide({
      actions: {
        closeMedia: ({ self }) => {
          done.push('closeMedia');
          queueMicrotask(() => self.send({ type: 'MEDIA_CLOSED' }));
        },
        sendRinging: () => done.push('sendRinging'),
        sendAnswer: () => done.push('sendAnswer'),
        sendCancel: () => done.push('sendCancel'),
        sendReject: () => done.push('sendReject'),
        sendBye: () => done.push('sendBye'),
        applyMute: () => done.push('applyMute'),
        applyEarmuff: () => done.push('applyEarmuff'),
        applyHold: () => done.push('applyHold'),
        startRingback: () => done.push('startRingback'),
        stopRingback: () => done.push('stopRingback'),
      },
    });
    const actor = createActor(machine, { input: outbound, clock });
    stop = () => actor.stop();
    actor.on('*', (e) => emitted.push(e));
    actor.start();
    actor.send({ type: 'RINGING', code: 180 });
    clock.increment(59_999);
    expect(actor.getSnapshot().value).toBe('ringing');
    expect(actor.getSnapshot().hasTag('ringing')).toBe(true);
    clock.increment(1);
    const final = await waitFor(actor, (s) => s.status === 'done');
    expect(final.value).toBe('ended');
    // Ringback plays exactly while it rings: the machine starts it on ringing and stops it on leaving.
    expect(done).toEqual(['startRingback', 'stopRingback', 'sendCancel', 'closeMedia']);
    expect(final.hasTag('ended')).toBe(true);
    expect(types(emitted)).toEqual(['sip:ringing', 'sip:status', 'audio:ringing:start', 'sip:hangup']);
    expectCatalogued(emitted);
  });
});
