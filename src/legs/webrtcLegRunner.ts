import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor, type SnapshotFrom } from 'xstate';
import { webrtcLegMachine, type WebRtcLegEffects, type WebRtcLegEmitted, type WebRtcLegEvent } from '../../machines/webrtcLeg.machine.js';
import type { EventLog } from '../events/eventLog.js';
import type { Clock } from '../lib/clock.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import type { IceCandidateInit, MediaEngine, WebRtcEndpoint } from '../media/engine.js';
import type { VideoSfu } from '../media/video/videoSfu.js';
import { recordLegEvent } from './legEvents.js';
import type { RunningLeg, ToggleKind, TransferTarget } from './runningLeg.js';
import type { Leg, LegStatus } from '../store/legsRepo.js';
import type { Store } from '../store/store.js';
import { fail, LegwayError } from '../domain/errors.js';

export interface RunnerDeps {
  store: Store;
  log: EventLog;
  clock: Clock;
  engine: MediaEngine;
  bridge: ConversationBridge;
  video: VideoSfu;
  /** Delivers the gateway's SDP offer (renegotiation) to the client that owns the leg. */
  sendOffer: (sdp: string) => void;
  logger: Logger;
  connectTimeoutMs: number;
  /** How long a connected leg's ICE may stay disconnected (the peer gone silent) before the leg is ended. */
  disconnectGraceMs: number;
  /** Called once, when the leg has reached its final state and freed its media. */
  onEnded: (leg: Leg) => void;
}

/** A leg's effects, from its context or its actor's input; a leg started without them fails loudly. */
function effectsOf(holder: { effects?: WebRtcLegEffects | undefined }): WebRtcLegEffects {
  if (!holder.effects) throw new Error('WebRTC leg started without its effects');
  return holder.effects;
}

/**
 * The leg machine with its effects provided, built once for every leg (`provide()` builds a whole
 * new machine): each implementation calls the effects that came with its leg's input.
 */
const providedWebRtcLegMachine = webrtcLegMachine.provide({
  actors: {
    createEndpoint: fromPromise<{ answerSdp: string; hasVideo: boolean }, { legId: string; offerSdp: string; effects?: WebRtcLegEffects | undefined }>(
      ({ input, signal }) => effectsOf(input).createEndpoint(signal),
    ),
    closeEndpoint: fromPromise<undefined, { legId: string; effects?: WebRtcLegEffects | undefined }>(async ({ input }) => {
      await effectsOf(input).closeEndpoint();
      return undefined;
    }),
  },
  actions: {
    applyMute: ({ context }, params: { on: boolean }) => effectsOf(context).setMuted(params.on),
    applyEarmuff: ({ context }, params: { on: boolean }) => effectsOf(context).setEarmuffed(params.on),
    joinVideo: ({ context }) => effectsOf(context).joinVideo(),
    applyVideoMute: ({ context }, params: { on: boolean }) => effectsOf(context).setVideoMuted(params.on),
    sendOffer: ({ context }) => effectsOf(context).sendOffer(),
    applyAnswer: ({ context }, params: { sdp: string }) => effectsOf(context).applyAnswer(params.sdp),
  },
});

type LegActor = Actor<typeof providedWebRtcLegMachine>;
type LegSnapshot = SnapshotFrom<typeof providedWebRtcLegMachine>;

/** The leg's status: the tag of the state the machine is in. */
function statusOf(snapshot: LegSnapshot): LegStatus {
  if (snapshot.status === 'done') return 'ended';
  for (const s of ['answering', 'connecting', 'connected', 'ending'] as const) if (snapshot.hasTag(s)) return s;
  return 'ended';
}

/**
 * Runs one WebRTC leg: its actor, with the media effects provided, and the bookkeeping around
 * it — each emitted catalogue event appended to the conversation's log (from the leg's member),
 * the leg row kept in step with the machine, the member's media state updated.
 */
export class WebRtcLegRunner implements RunningLeg {
  private readonly actor: LegActor;
  private endpoint: WebRtcEndpoint | undefined;
  /** The gateway's offer that the client has not answered yet (sent again to a reconnected client). */
  private unanswered: string | undefined;
  private leg: Leg;
  readonly done: Promise<void>;

  /** The conversation's media the leg is in now (a transfer changes them). */
  private bridge: ConversationBridge;
  private video: VideoSfu;

  constructor(
    leg: Leg,
    offerSdp: string,
    private readonly deps: RunnerDeps,
  ) {
    this.leg = leg;
    this.bridge = deps.bridge;
    this.video = deps.video;
    const log = deps.logger;
    const effects: WebRtcLegEffects = {
      createEndpoint: async (signal) => {
        const endpoint = await deps.engine.createWebRtcEndpoint({ conversationId: leg.conversation_id, legId: leg.id, offerSdp });
        // The leg ended while the endpoint was being made (member left, conversation deleted):
        // closeEndpoint has already run and found nothing, so this one must be closed here.
        if (signal.aborted) {
          await endpoint.close();
          throw new Error('leg ended while its media was being set up');
        }
        this.endpoint = endpoint;
        endpoint.on('status', (s) => this.send({ type: 'ENDPOINT_STATUS', kind: s.kind, state: s.state }));
        endpoint.on('closed', (reason) => this.send({ type: 'TERMINATE', reason }));
        this.bridge.add(leg.id, endpoint);
        return { answerSdp: endpoint.answer, hasVideo: endpoint.sendsVideo };
      },
      closeEndpoint: async () => {
        this.video.remove(leg.id);
        this.bridge.remove(leg.id);
        await this.endpoint?.close();
      },
      setMuted: (on) => this.bridge.setMuted(leg.id, on),
      setEarmuffed: (on) => this.bridge.setEarmuffed(leg.id, on),
      joinVideo: () => {
        if (this.endpoint) void this.video.add(leg.id, this.endpoint, () => this.send({ type: 'RENEGOTIATE' }));
      },
      setVideoMuted: (on) => {
        this.endpoint?.setVideoPaused(on).catch((err: unknown) => log.warn({ err, leg_id: leg.id }, 'could not change video mute'));
      },
      sendOffer: () => {
        if (!this.endpoint) return;
        this.unanswered = this.endpoint.createOffer();
        deps.sendOffer(this.unanswered);
      },
      applyAnswer: (sdp) => {
        this.unanswered = undefined;
        this.endpoint?.applyAnswer(sdp).catch((err: unknown) => log.warn({ err, leg_id: leg.id }, 'could not apply the answer'));
      },
    };
    this.actor = createActor(providedWebRtcLegMachine, {
      input: {
        effects,
        legId: leg.id,
        memberId: leg.member_id,
        offerSdp,
        connectTimeoutMs: deps.connectTimeoutMs,
        disconnectGraceMs: deps.disconnectGraceMs,
      },
    });
    this.actor.on('*', (emitted) => this.record(emitted));
    this.done = new Promise((resolve) => {
      this.actor.subscribe({
        next: (snapshot) => this.track(snapshot),
        error: (err: unknown) => {
          log.error({ err, leg_id: leg.id }, 'leg machine failed');
          resolve();
        },
        complete: () => resolve(),
      });
    });
    void this.done.then(() => deps.onEnded(this.leg));
  }

  get id(): string {
    return this.leg.id;
  }

  get state(): Leg {
    return this.leg;
  }

  /** Starts the leg; resolves with the SDP answer, or rejects with why the leg ended first. */
  start(): Promise<string> {
    return new Promise((resolve, reject) => {
      const sub = this.actor.subscribe((snapshot) => {
        if (snapshot.context.answerSdp !== undefined) {
          sub.unsubscribe();
          resolve(snapshot.context.answerSdp);
        } else if (snapshot.status === 'done' || snapshot.matches('ending')) {
          sub.unsubscribe();
          const { endError, endReason } = snapshot.context;
          // The endpoint's own coded error (a bad offer is BadRequest) crosses the machine intact.
          reject(endError instanceof LegwayError ? endError : fail('Unavailable', endReason ?? 'leg ended', { cause: endError }));
        }
      });
      this.actor.start();
    });
  }

  toggle(kind: ToggleKind, on: boolean, initiator: string): boolean {
    const event = { type: kind, on, initiator };
    if (!this.can(event)) return false;
    this.send(event);
    return true;
  }

  hangup(by: 'client' | 'api' | 'gateway', reason: string): void {
    this.send(by === 'client' ? { type: 'HANGUP' } : { type: 'TERMINATE', reason });
  }

  /** Sends the unanswered offer again, if any: its first delivery went to a connection that is gone. */
  resendOffer(): void {
    if (this.unanswered !== undefined && this.actor.getSnapshot().status === 'active') this.deps.sendOffer(this.unanswered);
  }

  speaking(on: boolean): void {
    this.send({ type: 'SPEAKING', on });
  }

  get isSpeaking(): boolean {
    return this.actor.getSnapshot().context.speaking;
  }

  /** Whether the machine would take `event` now (e.g. MUTE only once connected). */
  can(event: WebRtcLegEvent): boolean {
    return this.actor.getSnapshot().can(event);
  }

  send(event: WebRtcLegEvent): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send(event);
  }

  /**
   * Moves the connected leg into another conversation: its audio from one bridge to the other
   * (same decoder, encoder and transport: no renegotiation), its video out of one SFU and into the
   * other, its row and member to the new conversation; the machine then announces `rtc:transfer`.
   */
  transfer(to: TransferTarget): void {
    const event = { type: 'TRANSFER' as const, memberId: to.memberId, fromConversationId: this.leg.conversation_id, toConversationId: to.conversationId };
    if (!this.endpoint || !this.can(event)) throw fail('InvalidState', `leg is ${this.leg.status}; transfer needs a connected leg`);
    // Speaking ends where it began: the old conversation hears audio:speaking:off, the new one its own on.
    if (this.isSpeaking) this.speaking(false);
    if (!this.bridge.moveLeg(this.leg.id, to.bridge)) throw fail('InvalidState', "leg is not in its conversation's audio bridge");
    this.video.remove(this.leg.id);
    this.bridge = to.bridge;
    this.video = to.video;
    const now = this.deps.clock.now().toISOString();
    this.leg = { ...this.leg, conversation_id: to.conversationId, member_id: to.memberId, timestamp: { ...this.leg.timestamp, updated: now } };
    this.deps.store.legs.move(this.leg, now);
    this.send(event);
    void this.video.add(this.leg.id, this.endpoint, () => this.send({ type: 'RENEGOTIATE' }));
  }

  /** The client's answer to the gateway's offer: checked against that offer, then applied by the machine. */
  answer(sdp: string): void {
    const event = { type: 'ANSWER' as const, sdp };
    if (!this.endpoint || !this.can(event)) throw fail('InvalidState', 'no offer of this leg is waiting for an answer');
    this.endpoint.checkAnswer(sdp);
    this.send(event);
  }

  addCandidate(candidate: IceCandidateInit): Promise<void> {
    return this.endpoint?.addRemoteCandidate(candidate) ?? Promise.resolve();
  }

  private record(emitted: WebRtcLegEmitted): void {
    recordLegEvent(this.deps, this.leg, emitted);
  }

  private track(snapshot: LegSnapshot): void {
    const status = statusOf(snapshot);
    const { muted, earmuffed, videoMuted, endReason, endedBy } = snapshot.context;
    const media = { muted, earmuffed, video_muted: videoMuted };
    const was = this.leg.media;
    const same = status === this.leg.status && muted === was.muted && earmuffed === was.earmuffed && videoMuted === was.video_muted;
    if (same) return;
    const now = this.deps.clock.now().toISOString();
    const next: Leg = { ...this.leg, status, media, timestamp: { ...this.leg.timestamp, updated: now } };
    if (status === 'ended') {
      next.timestamp.ended = now;
      next.end_reason = endedBy === 'client' ? 'client hung up' : (endReason ?? 'terminated');
    }
    this.leg = next;
    try {
      this.deps.store.legs.update(next, now);
    } catch (err) {
      this.deps.logger.error({ err, leg_id: next.id }, 'could not store leg state');
    }
  }
}
