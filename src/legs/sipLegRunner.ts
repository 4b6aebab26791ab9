import type { Logger } from 'pino';
import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import { sipLegMachine, type SipLegEffects, type SipLegEmitted, type SipLegEvent, type SipLegStatus } from '../../machines/sipLeg.machine.js';
import { fail } from '../domain/errors.js';
import type { EventLog } from '../events/eventLog.js';
import type { Clock } from '../lib/clock.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import type { SipLegAudio, SipRtp } from '../media/rtp/sipRtp.js';
import type { Leg, LegStatus } from '../store/legsRepo.js';
import type { Store } from '../store/store.js';
import { recordLegEvent } from './legEvents.js';
import { sipMediaStats, type SipMediaStats } from './sipMediaStats.js';
import type { RunningLeg, ToggleKind, TransferTarget } from './runningLeg.js';

/** The SIP messages a leg's machine asks for; the SIP leg service sends them with sip.js. */
export interface SipSignalling {
  /** Inbound: 180 Ringing. */
  ringing(): void;
  /** Inbound: 200 OK with our SDP. */
  answer(): void;
  /** Outbound: CANCEL the INVITE. */
  cancel(): void;
  /** Inbound, before our 200: refuse the INVITE (480). */
  reject(): void;
  /** BYE, then forget the dialog. */
  bye(): void;
}

export interface SipRunnerDeps {
  store: Store;
  log: EventLog;
  clock: Clock;
  /** The gateway's logger: the runner names the leg and its conversation in each line. */
  logger: Logger;
  bridge: ConversationBridge;
  rtp: SipRtp;
  /** The leg's audio, when its codec is known (inbound: at once; outbound: `attachAudio` on answer). */
  audio: SipLegAudio | undefined;
  signalling: SipSignalling;
  direction: 'inbound' | 'outbound';
  answerTimeoutMs: number;
  /** Inbound: ring this long before answering. */
  answerDelayMs?: number;
  /** Outbound: ringback into the conversation while the callee rings (the machine starts and stops it). */
  ringback?: { start(): void; stop(): void };
  /** The route's mute (NCCO `mute`), applied as the media comes up. */
  initialMute?: boolean;
  /** Session timer (RFC 4028) the caller asked for: the leg ends unless refreshed within this many ms. */
  sessionExpiryMs?: number;
  /** The route's audience (NCCO `canHear`/`canSpeak`), applied whenever the leg's audio joins the bridge. */
  audience?: { canHear?: string[] | undefined; canSpeak?: string[] | undefined } | undefined;
}

const STATUSES: readonly SipLegStatus[] = ['ended', 'ending', 'connected', 'connecting', 'ringing', 'answering'];

/** A leg's effects, from its context or its actor's input; a leg started without them fails loudly. */
function effectsOf(holder: { effects?: SipLegEffects | undefined }): SipLegEffects {
  if (!holder.effects) throw new Error('SIP leg started without its effects');
  return holder.effects;
}

/**
 * The leg machine with its effects provided, built once for every leg (`provide()` builds a whole
 * new machine): each implementation calls the effects that came with its leg's input.
 */
const providedSipLegMachine = sipLegMachine.provide({
  actions: {
    closeMedia: ({ context, self }) => {
      // Done or failed, the leg has ended (a stopped actor is told nothing).
      const closed = (): void => {
        if (self.getSnapshot().status === 'active') self.send({ type: 'MEDIA_CLOSED' });
      };
      effectsOf(context).closeMedia().then(closed, closed);
    },
    sendRinging: ({ context }) => effectsOf(context).ringing(),
    sendAnswer: ({ context }) => effectsOf(context).answer(),
    sendCancel: ({ context }) => effectsOf(context).cancel(),
    sendReject: ({ context }) => effectsOf(context).reject(),
    sendBye: ({ context }) => effectsOf(context).bye(),
    startRingback: ({ context }) => effectsOf(context).startRingback(),
    stopRingback: ({ context }) => effectsOf(context).stopRingback(),
    applyMute: ({ context }, params: { on: boolean }) => effectsOf(context).setMuted(params.on),
    applyEarmuff: ({ context }, params: { on: boolean }) => effectsOf(context).setEarmuffed(params.on),
    applyHold: ({ context }, params: { on: boolean }) => effectsOf(context).setHeld(params.on),
  },
});

type SipLegSnapshot = SnapshotFrom<typeof providedSipLegMachine>;

/** The leg's status: the tag of the state the machine is in. */
function statusOf(snapshot: SipLegSnapshot): LegStatus {
  if (snapshot.status === 'done') return 'ended';
  for (const status of STATUSES) if (snapshot.hasTag(status)) return status;
  return 'answering';
}

/**
 * Runs one SIP leg: its machine with the SIP and media effects provided, each emitted catalogue
 * event appended to the conversation's log, the leg row kept in step, the member's media state
 * updated. Its audio joins the conversation's bridge as soon as the leg exists (early media).
 */
export class SipLegRunner implements RunningLeg {
  private readonly actor: Actor<typeof providedSipLegMachine>;
  private leg: Leg;
  private bridge: ConversationBridge;
  private audio: SipLegAudio | undefined;
  readonly done: Promise<void>;

  constructor(
    leg: Leg,
    private readonly deps: SipRunnerDeps,
  ) {
    this.leg = leg;
    this.bridge = deps.bridge;
    const { signalling, rtp } = deps;
    const effects: SipLegEffects = {
      ringing: () => signalling.ringing(),
      answer: () => signalling.answer(),
      cancel: () => signalling.cancel(),
      reject: () => signalling.reject(),
      bye: () => signalling.bye(),
      startRingback: () => deps.ringback?.start(),
      stopRingback: () => deps.ringback?.stop(),
      setMuted: (on) => this.bridge.setMuted(leg.id, on),
      setEarmuffed: (on) => this.bridge.setEarmuffed(leg.id, on),
      setHeld: (on) => this.bridge.setHeld(leg.id, on),
      closeMedia: async () => {
        this.bridge.remove(leg.id);
        await rtp.close();
      },
    };
    this.actor = createActor(providedSipLegMachine, {
      input: {
        effects,
        legId: leg.id,
        memberId: leg.member_id,
        direction: deps.direction,
        answerTimeoutMs: deps.answerTimeoutMs,
        ...(deps.answerDelayMs !== undefined && { answerDelayMs: deps.answerDelayMs }),
        ...(deps.initialMute === true && { initialMute: true }),
        ...(deps.sessionExpiryMs !== undefined && { sessionExpiryMs: deps.sessionExpiryMs }),
      },
    });
    this.actor.on('*', (emitted) => this.record(emitted));
    this.done = new Promise((resolve) => {
      this.actor.subscribe({
        next: (snapshot) => this.track(snapshot),
        error: (err: unknown) => {
          deps.logger.error({ err, leg_id: this.leg.id, conversation_id: this.leg.conversation_id }, 'SIP leg machine failed');
          resolve();
        },
        complete: () => resolve(),
      });
    });
  }

  get id(): string {
    return this.leg.id;
  }

  get state(): Leg {
    return this.leg;
  }

  /** The leg's media statistics now (RTP, playout, RTCP). */
  mediaStats(): SipMediaStats {
    return sipMediaStats(this.deps.rtp, this.audio);
  }

  /** Starts the machine: inbound legs ring and answer at once. */
  start(): void {
    if (this.deps.audio) this.join(this.deps.audio);
    this.actor.start();
  }

  /** Joins the leg's audio to the conversation once the codec is settled (an outbound call's answer). */
  attachAudio(audio: SipLegAudio): void {
    if (this.actor.getSnapshot().status !== 'active') {
      audio.close();
      return;
    }
    this.join(audio);
  }

  /** Puts the leg's audio in the bridge, with the route's audience if it has one. */
  private join(audio: SipLegAudio): void {
    this.audio = audio;
    this.bridge.addSip(this.leg.id, audio);
    const audience = this.deps.audience;
    if (audience && (audience.canHear ?? audience.canSpeak)) this.bridge.setAudience(this.leg.id, audience);
  }

  send(event: SipLegEvent): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send(event);
  }

  toggle(kind: ToggleKind, on: boolean, initiator: string): boolean {
    if (kind === 'VIDEO_MUTE') return false;
    const event = { type: kind, on, initiator };
    if (!this.actor.getSnapshot().can(event)) return false;
    this.send(event);
    return true;
  }

  hangup(by: 'client' | 'api' | 'gateway', reason: string): void {
    // Someone on this side chose to hang up (`local`), or the gateway did by itself (`system`).
    this.send({ type: 'HANGUP', reason, by: by === 'gateway' ? 'system' : 'local' });
  }

  speaking(on: boolean): void {
    this.send({ type: 'SPEAKING', on });
  }

  get isSpeaking(): boolean {
    return this.actor.getSnapshot().context.speaking;
  }

  transfer(to: TransferTarget): void {
    const event = { type: 'TRANSFER' as const, memberId: to.memberId, fromConversationId: this.leg.conversation_id, toConversationId: to.conversationId };
    if (!this.actor.getSnapshot().can(event)) throw fail('InvalidState', `leg is ${this.leg.status}; transfer needs a connected leg`);
    // Speaking ends where it began: the old conversation hears audio:speaking:off, the new one its own on.
    if (this.isSpeaking) this.speaking(false);
    if (!this.bridge.moveLeg(this.leg.id, to.bridge)) throw fail('InvalidState', "leg is not in its conversation's audio bridge");
    this.bridge = to.bridge;
    const now = this.deps.clock.now().toISOString();
    this.leg = { ...this.leg, conversation_id: to.conversationId, member_id: to.memberId, timestamp: { ...this.leg.timestamp, updated: now } };
    this.deps.store.legs.move(this.leg, now);
    this.send(event);
  }

  /** Logs a DTMF key the far end sent (RFC 4733, SIP INFO or in band). */
  dtmf(digit: string, durationMs: number, method: 'rfc4733' | 'sip-info' | 'inband'): void {
    const { store, log } = this.deps;
    try {
      if (store.conversations.get(this.leg.conversation_id)?.state !== 'active') return;
      log.append({
        conversation_id: this.leg.conversation_id,
        type: 'audio:dtmf',
        from: this.leg.member_id,
        body: { leg_id: this.leg.id, digit, duration: Math.max(0, Math.min(60_000, Math.round(durationMs))), method },
      });
    } catch (err) {
      this.deps.logger.error({ err, leg_id: this.leg.id, conversation_id: this.leg.conversation_id }, 'could not record a DTMF key');
    }
  }

  private record(emitted: SipLegEmitted): void {
    recordLegEvent(this.deps, this.leg, emitted);
  }

  private track(snapshot: SipLegSnapshot): void {
    const status = statusOf(snapshot);
    const { muted, earmuffed, endCause, endedBy } = snapshot.context;
    // Most snapshots change neither (timers, speech, the other regions): nothing to write.
    if (status === this.leg.status && muted === this.leg.media.muted && earmuffed === this.leg.media.earmuffed) return;
    const media = { muted, earmuffed, video_muted: false };
    const now = this.deps.clock.now().toISOString();
    const next: Leg = { ...this.leg, status, media, timestamp: { ...this.leg.timestamp, updated: now } };
    if (status === 'ended') {
      next.timestamp.ended = now;
      next.end_reason = `${endedBy ?? 'system'}: ${endCause ?? 'ended'}`.slice(0, 200);
    }
    this.leg = next;
    try {
      this.deps.store.legs.update(next, now);
    } catch (err) {
      this.deps.logger.error({ err, leg_id: next.id, conversation_id: next.conversation_id }, 'could not store leg state');
    }
  }
}
