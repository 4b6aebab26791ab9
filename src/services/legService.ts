import { seesAll, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import { newLegId } from '../lib/ids.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import type { IceCandidateInit, MediaEngine } from '../media/engine.js';
import { WebRtcLegRunner } from '../legs/webrtcLegRunner.js';
import type { RunningLeg } from '../legs/runningLeg.js';
import type { SipMediaStats } from '../legs/sipMediaStats.js';
import type { Leg } from '../store/legsRepo.js';
import type { Access } from './access.js';
import { ConversationMedia } from './conversationMedia.js';
import type { ServiceContext } from './context.js';
import { endLegsOfNode } from './lostLegs.js';
import type { LegAction, LegCluster, LegServiceOptions, LegTermination, LiveLeg, OfferSink } from './legContracts.js';

export type { LegAction, LegCluster, LegServiceOptions, LegTermination, LiveLeg, OfferSink } from './legContracts.js';

/** Each toggle action as the leg machine's command. */
const TOGGLES = {
  mute: { type: 'MUTE', on: true },
  unmute: { type: 'MUTE', on: false },
  earmuff: { type: 'EARMUFF', on: true },
  unearmuff: { type: 'EARMUFF', on: false },
  'video-mute': { type: 'VIDEO_MUTE', on: true },
  'video-unmute': { type: 'VIDEO_MUTE', on: false },
} as const satisfies Record<Exclude<LegAction, 'hangup'>, { type: 'MUTE' | 'EARMUFF' | 'VIDEO_MUTE'; on: boolean }>;

/**
 * Media legs: creates WebRTC legs from client offers, runs one machine per leg, keeps one audio
 * bridge per conversation, and ends legs when their member leaves or their conversation goes.
 */
export class LegService implements LegTermination {
  private readonly runners = new Map<string, RunningLeg>();
  /** Each WebRTC leg's offer sink. */
  private readonly offerSinks = new Map<string, OfferSink>();
  private readonly media: ConversationMedia;
  private closing = false;
  private cluster: LegCluster | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly engine: MediaEngine | undefined,
    private readonly options: LegServiceOptions,
  ) {
    const { threads, bridgeMaxSpeakers: maxSpeakers } = options;
    this.media = new ConversationMedia(ctx.logger, (legId, on) => this.runners.get(legId)?.speaking(on), { threads, maxSpeakers });
  }

  /**
   * A client's WebRTC offer: a new leg for its joined member; resolves with the leg id and SDP
   * answer. `offers` delivers the gateway's later offers (renegotiation) to that client.
   */
  async createWebRtc(
    conversationId: string,
    offerSdp: string,
    p: Principal,
    offers?: OfferSink,
  ): Promise<{ leg_id: string; answer: { type: 'answer'; sdp: string } }> {
    if (!this.engine) throw fail('Unavailable', 'media is not available on this gateway (no mediasoup worker)');
    if (this.closing) throw fail('Unavailable', 'the gateway is shutting down');
    const { conversation, member } = this.access.readable(conversationId, p);
    if (member?.state !== 'joined') throw fail('Forbidden', 'join the conversation before starting media');
    const owner = this.cluster?.ownerOf(conversation.id);
    if (this.cluster && owner !== undefined && owner !== this.cluster.nodeId) {
      // The conversation's media is on its owner: the leg is made there, and its answer carries
      // the owner's candidates, so media flows straight between the client and the owner.
      const made = await this.cluster.request(owner, 'legs.createWebRtc', {
        conversation_id: conversation.id,
        offer_sdp: offerSdp,
        principal: p,
        ...(offers?.socketId !== undefined && { socket_id: offers.socketId }),
      });
      return made as { leg_id: string; answer: { type: 'answer'; sdp: string } };
    }
    this.options.limits?.check(this.runners.values(), conversation.id, member.id);
    this.options.admission?.check('WebRTC leg');
    const now = this.ctx.clock.now().toISOString();
    const leg: Leg = {
      id: newLegId(),
      conversation_id: conversation.id,
      member_id: member.id,
      type: 'webrtc',
      direction: 'inbound',
      status: 'answering',
      media: { muted: false, earmuffed: false, video_muted: false },
      timestamp: { created: now },
    };
    this.ctx.store.legs.insert(leg);
    if (offers) this.offerSinks.set(leg.id, offers);
    const runner = new WebRtcLegRunner(leg, offerSdp, {
      store: this.ctx.store,
      log: this.ctx.log,
      clock: this.ctx.clock,
      engine: this.engine,
      bridge: this.media.bridgeFor(conversation.id),
      video: this.media.videoOf(conversation.id),
      sendOffer: (sdp) => this.offerSinks.get(leg.id)?.send(leg.id, sdp),
      logger: this.ctx.logger.child({ leg_id: leg.id, conversation_id: conversation.id }),
      connectTimeoutMs: this.options.connectTimeoutMs,
      disconnectGraceMs: this.options.disconnectGraceMs,
      onEnded: (ended) => this.forget(ended),
    });
    this.runners.set(leg.id, runner);
    // The runner rejects with a coded error (the endpoint's own, or Unavailable): no guessing from text.
    const sdp = await runner.start();
    return { leg_id: leg.id, answer: { type: 'answer', sdp } };
  }

  /**
   * Runs a leg made elsewhere (a SIP leg) alongside the WebRTC ones, so that leg actions,
   * terminations, speaking and shutdown reach it; it is forgotten when it ends.
   */
  adopt(runner: RunningLeg): void {
    this.runners.set(runner.id, runner);
    void runner.done.then(() => this.forget(runner.state));
  }

  /** Brings the media statistics up to date (the media threads' snapshots), before they are read. */
  async refreshStats(): Promise<void> {
    await this.options.threads?.snapshots();
  }

  /** Whether the gateway is shutting down (no new legs). */
  get shuttingDown(): boolean {
    return this.closing;
  }

  /** A leg as stored, live state and media statistics (SIP) included while it runs. */
  get(legId: string, p: Principal): Leg & { stats?: SipMediaStats } {
    const leg = this.ctx.store.legs.get(legId);
    if (!leg) throw fail('LegNotFound', `leg ${legId} not found`);
    this.access.readable(leg.conversation_id, p);
    const runner = this.runners.get(legId);
    if (!runner) return leg;
    const stats = runner.mediaStats?.();
    return stats ? { ...runner.state, stats } : runner.state;
  }

  list(conversationId: string, p: Principal): Leg[] {
    this.access.readable(conversationId, p);
    return this.ctx.store.legs.listByConversation(conversationId).map((leg) => this.runners.get(leg.id)?.state ?? leg);
  }

  /** Legs running now (not ended), in every conversation or in one; operators and the application only. */
  listLive(p: Principal, conversationId?: string): LiveLeg[] {
    if (!seesAll(p)) throw fail('Forbidden', 'listing live legs needs an operator or application token');
    if (conversationId !== undefined) this.access.conversation(conversationId);
    const live: LiveLeg[] = [];
    for (const runner of this.runners.values()) {
      const leg = runner.state;
      if (leg.status !== 'ended' && (conversationId === undefined || leg.conversation_id === conversationId)) {
        const stats = runner.mediaStats?.();
        live.push({ ...leg, speaking: runner.isSpeaking, ...(stats && { stats }) });
      }
    }
    return live;
  }

  /**
   * A member's client is back on a new connection (it joined the conversation again): the member's
   * WebRTC legs whose offer connection is gone send their offers there now, starting with one that
   * went unanswered. Legs still served by an open connection (the same user in another tab) keep it.
   */
  redirectOffers(conversationId: string, memberId: string, offers: OfferSink): void {
    for (const runner of this.runners.values()) {
      const { conversation_id, member_id, type } = runner.state;
      if (type !== 'webrtc' || conversation_id !== conversationId || member_id !== memberId) continue;
      if (this.offerSinks.get(runner.id)?.open === true || !(runner instanceof WebRtcLegRunner)) continue;
      this.offerSinks.set(runner.id, offers);
      runner.resendOffer();
    }
  }

  /** Runs a leg action. Users act on their own legs only; operators and the application on any. */
  async act(legId: string, action: LegAction, p: Principal, initiator: string): Promise<Leg> {
    const node = this.remoteNode(legId);
    if (node !== undefined) return (await this.cluster?.request(node, 'legs.act', { leg_id: legId, action, principal: p, initiator })) as Leg;
    const runner = this.ownRunner(legId, p);
    if (action === 'hangup') {
      runner.hangup(p.role === 'user' ? 'client' : 'api', `hung up by ${p.role}`);
      return runner.state;
    }
    const { type, on } = TOGGLES[action];
    if (!runner.toggle(type, on, initiator)) throw fail('InvalidState', `leg is ${runner.state.status}; ${action} needs a connected leg`);
    return runner.state;
  }

  /**
   * DTMF a client sends on its own connected leg (socket `leg:dtmf`): each key is logged as
   * `audio:dtmf` from the leg's member, method `api`, for the application and operators.
   */
  async clientDtmf(legId: string, digits: string, p: Principal): Promise<void> {
    const node = this.remoteNode(legId);
    if (node !== undefined) {
      await this.cluster?.request(node, 'legs.clientDtmf', { leg_id: legId, digits, principal: p });
      return;
    }
    const runner = this.ownRunner(legId, p);
    if (runner.state.status !== 'connected') throw fail('InvalidState', `leg is ${runner.state.status}; DTMF needs a connected leg`);
    const { store, log } = this.ctx;
    const leg = runner.state;
    store.transaction(() => {
      for (const key of digits.replace(/p/gi, '')) {
        log.append({
          conversation_id: leg.conversation_id,
          type: 'audio:dtmf',
          from: leg.member_id,
          body: { leg_id: leg.id, digit: key.toUpperCase(), duration: 100, method: 'api' },
        });
      }
    });
  }

  /** The client's answer to the gateway's last offer for its own leg. */
  async answer(legId: string, sdp: string, p: Principal): Promise<void> {
    const node = this.remoteNode(legId);
    if (node !== undefined) {
      await this.cluster?.request(node, 'legs.answer', { leg_id: legId, sdp, principal: p });
      return;
    }
    this.ownWebRtc(legId, p).answer(sdp);
  }

  /**
   * Moves a connected leg to another conversation (its member there being `memberId`), keeping
   * its media up: the member service calls this inside the transfer's transaction.
   */
  moveLeg(legId: string, toConversationId: string, memberId: string): void {
    const runner = this.runners.get(legId);
    if (!runner) throw fail('InvalidState', `leg ${legId} has ended`);
    const from = runner.state.conversation_id;
    runner.transfer({
      conversationId: toConversationId,
      memberId,
      bridge: this.media.bridgeFor(toConversationId),
      video: this.media.videoOf(toConversationId),
    });
    // The last leg gone from there: its bridge closes (and its players and recorders end) as when that leg hangs up.
    if (this.media.release(from)) this.cluster?.release(from);
  }

  /** Whether a member has a leg running (in any state but ended). */
  memberHasLegs(memberId: string): boolean {
    for (const runner of this.runners.values()) if (runner.state.member_id === memberId && runner.state.status !== 'ended') return true;
    return false;
  }

  /** The connected legs of a member (what a transfer moves; others end when it leaves). */
  legsOfMember(memberId: string): string[] {
    return [...this.runners.values()].filter((r) => r.state.member_id === memberId && r.state.status === 'connected').map((r) => r.id);
  }

  /** The audio bridge of a conversation with media, if it has any legs now. */
  liveBridge(conversationId: string): ConversationBridge | undefined {
    return this.media.liveBridge(conversationId);
  }

  /**
   * Where audio is played or recorded: a connected leg (`legId`) or a conversation with media;
   * operators and the application only. Returns the conversation, the leg and the live bridge.
   */
  mediaTarget(
    target: { conversationId: string } | { legId: string },
    p: Principal,
  ): { conversationId: string; legId: string | undefined; bridge: ConversationBridge } {
    if (!seesAll(p)) throw fail('Forbidden', 'playing or recording audio in calls needs an operator or application token');
    let conversationId: string;
    let legId: string | undefined;
    if ('legId' in target) {
      const leg = this.get(target.legId, p);
      if (leg.status !== 'connected') throw fail('InvalidState', `leg is ${leg.status}; it must be connected`);
      conversationId = leg.conversation_id;
      legId = leg.id;
    } else {
      conversationId = this.access.conversation(target.conversationId).id;
    }
    const bridge = this.liveBridge(conversationId);
    if (!bridge) throw fail('InvalidState', 'the conversation has no media (no connected legs)');
    if (legId !== undefined && !bridge.has(legId)) throw fail('InvalidState', 'the leg has no audio');
    return { conversationId, legId, bridge };
  }

  /** A trickled ICE candidate from the client for its own leg. */
  async addCandidate(legId: string, candidate: IceCandidateInit, p: Principal): Promise<void> {
    const node = this.remoteNode(legId);
    if (node !== undefined) {
      await this.cluster?.request(node, 'legs.addCandidate', { leg_id: legId, candidate, principal: p });
      return;
    }
    await this.ownWebRtc(legId, p).addCandidate(candidate);
  }

  /** Joins a cluster: legs of conversations owned elsewhere are made, and acted on, on their node. */
  joinCluster(cluster: LegCluster): void {
    this.cluster = cluster;
  }

  /** The other node that runs `legId`, when it is not here (in a cluster). */
  private remoteNode(legId: string): string | undefined {
    if (!this.cluster || this.runners.has(legId)) return undefined;
    return this.cluster.remoteNodeOf(legId);
  }

  /** Ends every leg of a conversation (deleted) with `rtc:terminate`. */
  terminateConversation(conversationId: string, reason: string): void {
    for (const runner of this.runners.values()) if (runner.state.conversation_id === conversationId) runner.hangup('gateway', reason);
  }

  /** Ends every leg of a member (it left). */
  terminateMember(memberId: string, reason: string): void {
    for (const runner of this.runners.values()) if (runner.state.member_id === memberId) runner.hangup('gateway', reason);
  }

  /** Number of legs running now. */
  get active(): number {
    return this.runners.size;
  }

  /** Number of WebRTC legs running now (SIP calls are counted by their own service, set-ups included). */
  get activeWebRtc(): number {
    let n = 0;
    for (const runner of this.runners.values()) if (runner.state.type === 'webrtc') n++;
    return n;
  }

  /** Shutdown: ends every leg and waits until each has freed its media. */
  async close(): Promise<void> {
    this.closing = true;
    const runners = [...this.runners.values()];
    for (const runner of runners) runner.hangup('gateway', 'gateway shutting down');
    await Promise.all(runners.map((r) => r.done));
  }

  /** A running WebRTC leg of the principal (ICE and SDP requests are WebRTC only). */
  private ownWebRtc(legId: string, p: Principal): WebRtcLegRunner {
    const runner = this.ownRunner(legId, p);
    if (!(runner instanceof WebRtcLegRunner)) throw fail('InvalidState', `leg ${legId} is not a WebRTC leg`);
    return runner;
  }

  private ownRunner(legId: string, p: Principal): RunningLeg {
    const leg = this.get(legId, p);
    if (!seesAll(p)) {
      const member = this.access.memberOf(leg.conversation_id, p);
      if (member?.id !== leg.member_id) throw fail('Forbidden', 'not your leg');
    }
    const runner = this.runners.get(legId);
    if (!runner) throw fail('InvalidState', `leg ${legId} has ended`);
    return runner;
  }

  /** The audio bridge of a conversation, made on first use (for legs made elsewhere too). */
  bridgeFor(conversationId: string): ConversationBridge {
    return this.media.bridgeFor(conversationId);
  }

  private forget(leg: Leg): void {
    this.runners.delete(leg.id);
    this.offerSinks.delete(leg.id);
    // Nothing of the conversation's media is left here: the next leg may make another node its owner.
    if (this.media.release(leg.conversation_id)) this.cluster?.release(leg.conversation_id);
  }

  /**
   * Ends the legs that were up when the gateway last stopped (they cannot have survived it), each
   * with its kind's terminal event. Returns them, so that their members can leave.
   */
  recoverLostLegs(): Leg[] {
    return endLegsOfNode(this.ctx, undefined, 'gateway restarted');
  }

  /** Ends the legs that node `nodeId` was running when it was lost, with `reason` in their terminal events. Returns them. */
  endLegsOfNode(nodeId: string | undefined, reason: string): Leg[] {
    return endLegsOfNode(this.ctx, nodeId, reason);
  }
}
