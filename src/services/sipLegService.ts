/**
 * SIP legs as a service: admission (a slot reserved before the first await, released on every way
 * out), routing, and the registry of running calls. Setting a call up lives in ./sip/inboundCall.ts
 * and ./sip/outboundCall.ts; each call is a `SipCall` that owns its resources.
 */
import type { MediaThreads } from '../media/threads/mediaThreads.js';
import type { Admission } from './admission.js';
import type { Core } from 'sip.js';
import type { Principal } from '../auth/principal.js';
import { LegwayError, toLegwayError } from '../domain/errors.js';
import { SipCall } from '../legs/sipCall.js';
import { sipCodeOf, sipDialogDelegate } from '../legs/sipDialog.js';
import type { SipLegRunner } from '../legs/sipLegRunner.js';
import { addStats, emptyTotals } from '../legs/sipMediaStats.js';
import type { SipCodecName } from '../media/codecs/sipCodecs.js';
import type { RtpCodecConfig } from '../media/rtp/rtpEndpoint.js';
import type { SipMediaTotals } from '../observability/metrics.js';
import { expiryMs } from '../sip/sessionTimer.js';
import type { InboundInvite, SipServer } from '../sip/sipServer.js';
import type { Leg } from '../store/legsRepo.js';
import type { Access } from './access.js';
import type { ServiceContext } from './context.js';
import type { ConversationService } from './conversationService.js';
import type { LegService } from './legService.js';
import type { MemberService } from './memberService.js';
import { answerInboundCall } from './sip/inboundCall.js';
import { checkDial, placeOutboundCall, ringbackPlayer, type OutboundCall } from './sip/outboundCall.js';
import type { SipCallContext } from './sip/sipCallContext.js';
import { SipRouter } from './sipRouter.js';

export type { OutboundCall } from './sip/outboundCall.js';

export interface SipLegOptions {
  /** Address RTP binds to, and the one written into SDP. */
  rtpIp: string;
  advertisedAddress: string;
  rtpPorts: { min: number; max: number };
  routes: readonly { user: string; conversation: string }[];
  answerUrl: string | undefined;
  /** Asks `answerUrl` (HTTP POST, JSON) where a call goes; resolves with the parsed JSON answer. */
  askAnswerUrl: (url: string, body: object, signal: AbortSignal) => Promise<unknown>;
  rtpTimeoutMs: number;
  /** How long our 200 waits for its ACK (RFC 3261 64*T1). */
  ackTimeoutMs: number;
  ringback: 'us' | 'eu' | 'off';
  /** How long an inbound call rings before it is answered (the caller may cancel meanwhile). */
  answerDelayMs: number;
  /** SIP calls at once, being set up or running; more get 503. */
  maxCalls: number;
  /** Refuses new calls past the gateway's capacity (legs or load). */
  admission?: Admission | undefined;
  /** Codecs offered and accepted, in preference order. */
  codecs: readonly SipCodecName[];
  /** Mean interval of each leg's RTCP reports. */
  rtcpIntervalMs: number;
  /** The media threads the calls' RTP runs on (with their conversations' bridges); in this process when undefined. */
  threads?: MediaThreads | undefined;
}

/** Seconds a caller refused for capacity or shutdown is asked to wait (`Retry-After`). */
const RETRY_AFTER_S = 5;

export class SipLegService {
  /** Running calls, by leg id. */
  private readonly calls = new Map<string, SipCall>();
  /** Calls admitted: being set up or running. */
  private admitted = 0;
  /** Set-ups in flight, awaited by `close`. */
  private readonly settingUp = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  private server: SipServer | undefined;
  private readonly router: SipRouter;
  /** Media counters of the SIP legs that ended. */
  private readonly ended: SipMediaTotals = emptyTotals();
  private readonly context: SipCallContext;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    conversations: ConversationService,
    members: MemberService,
    private readonly legs: LegService,
    private readonly options: SipLegOptions,
  ) {
    this.router = new SipRouter(options);
    this.context = {
      ctx,
      members,
      conversations,
      legs,
      router: this.router,
      codecs: options.codecs,
      ackTimeoutMs: options.ackTimeoutMs,
      answerDelayMs: options.answerDelayMs,
      openCall: (legId, conversationId, direction, signallingSource) => this.openCall(legId, conversationId, direction, signallingSource),
      insertLeg: (id, conversationId, memberId, direction) => this.insertLeg(id, conversationId, memberId, direction),
      dialog: (call, settled) => this.dialog(call, settled),
      refreshSession: (runner, interval) => runner.send({ type: 'SESSION_REFRESH', expiryMs: expiryMs(interval) }),
      track: (call, runner) => this.track(call, runner),
    };
  }

  /** The SIP server's INVITE handler: never throws, every failure is a SIP response. */
  onInvite(invite: InboundInvite): void {
    let release: (() => void) | undefined;
    const setup = (async () => {
      release = this.admit();
      // A call that runs takes a slot of its own in `track`; this one covers the set-up only.
      await answerInboundCall(this.context, invite, this.shutdown.signal);
    })()
      .catch((err: unknown) => {
        const code = sipCodeOf(err);
        if (code === 503) this.ctx.logger.warn({ reason: toLegwayError(err).message, call: invite.callIdHash }, 'inbound SIP call not taken');
        else this.ctx.logger.info({ code, reason: toLegwayError(err).message, call: invite.callIdHash }, 'inbound SIP call refused');
        try {
          invite.request.reject({ statusCode: code, ...(code === 503 && { extraHeaders: [`Retry-After: ${String(RETRY_AFTER_S)}`] }) });
        } catch {
          // Already answered (cancelled meanwhile): nothing more to say.
        }
      })
      .finally(() => {
        release?.();
        this.settingUp.delete(setup);
      });
    this.settingUp.add(setup);
  }

  /** Joins a cluster: an inbound call for a conversation owned by another node is redirected to that node's SIP address. */
  joinCluster(ownerElsewhere: (conversationId: string) => string | undefined): void {
    this.context.ownerElsewhere = ownerElsewhere;
  }

  /** The SIP server outbound calls go through (set once it listens). */
  attach(server: SipServer): void {
    this.server = server;
  }

  /**
   * Dials a SIP URI into a conversation (`POST /v1/calls`): the callee is an invited member that
   * joins when it answers; ringing, answer, busy, no answer and failure are logged as events.
   */
  async call(request: OutboundCall, p: Principal): Promise<Leg> {
    this.access.requireApplication(p, 'placing a call');
    const server = this.server;
    if (!server) throw new LegwayError('Unavailable', 'SIP is off on this gateway');
    const conversation = this.access.conversation(request.conversationId);
    const dial = checkDial(request, this.options.advertisedAddress);
    const release = this.admit();
    try {
      return await placeOutboundCall(this.context, server, conversation.id, request, dial, (legId) => ringbackPlayer(this.options.ringback, legId));
    } finally {
      // A placed call holds a slot of its own from `track` on.
      release();
    }
  }

  /**
   * Sends DTMF to a SIP leg as RFC 4733 events when its call negotiated telephone-event; false
   * otherwise (not a SIP leg, or no telephone-event: the caller plays tones in band instead).
   */
  sendDtmf(legId: string, digits: string): boolean {
    const call = this.calls.get(legId);
    if (!call?.telephoneEvents) return false;
    // Pauses are a dial-string notion; RFC 4733 events go out back to back with their gaps.
    call.rtp.sendDtmf(digits.replace(/p/gi, '')).catch((err: unknown) => this.ctx.logger.warn({ err, leg_id: legId }, 'could not send DTMF'));
    return true;
  }

  /** SIP media summed over the running legs and those that ended, for `/metrics`. */
  mediaTotals(): SipMediaTotals {
    const totals: SipMediaTotals = { ...this.ended, legsByCodec: {} };
    for (const call of this.calls.values()) {
      const stats = call.runner?.mediaStats();
      if (!stats) continue;
      addStats(totals, stats);
      const codec = stats.codec ?? 'none';
      totals.legsByCodec[codec] = (totals.legsByCodec[codec] ?? 0) + 1;
      totals.maxJitterSeconds = Math.max(totals.maxJitterSeconds, stats.jitter_ms / 1000);
    }
    return totals;
  }

  /** Number of SIP legs running now. */
  get active(): number {
    return this.calls.size;
  }

  /** Calls admitted now: being set up or running. */
  get admittedCalls(): number {
    return this.admitted;
  }

  /**
   * Shutdown, first part: no new calls, set-ups in flight given up (their `answer_url` requests
   * aborted, their ports freed, their callers answered 503). Running calls are ended by the leg
   * service's close, which follows.
   */
  async close(): Promise<void> {
    this.shutdown.abort();
    await Promise.allSettled([...this.settingUp]);
  }

  /**
   * Takes a slot for a call, synchronously (before any await, so a burst cannot pass the limit);
   * `Unavailable` when full or shutting down. The returned release is idempotent.
   */
  private admit(): () => void {
    if (this.shutdown.signal.aborted || this.legs.shuttingDown) throw new LegwayError('Unavailable', 'the gateway is shutting down');
    if (this.admitted >= this.options.maxCalls) throw new LegwayError('Unavailable', 'too many SIP calls');
    this.options.admission?.check('SIP call');
    this.admitted++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.admitted--;
    };
  }

  /** Opens RTP endpoints on the media threads ahead of the calls, so that each call is answered at once. */
  async prepareMedia(): Promise<void> {
    await this.options.threads?.keepSpares(this.rtpOptions());
  }

  private rtpOptions(): { ip: string; portRange: { min: number; max: number }; inactivityTimeoutMs: number; rtcpIntervalMs: number } {
    const { rtpIp: ip, rtpPorts: portRange, rtpTimeoutMs: inactivityTimeoutMs, rtcpIntervalMs } = this.options;
    return { ip, portRange, inactivityTimeoutMs, rtcpIntervalMs };
  }

  private openCall(legId: string, conversationId: string, direction: 'inbound' | 'outbound', signallingSource: string | undefined): Promise<SipCall> {
    const logger = this.ctx.logger.child({ leg_id: legId });
    return SipCall.open({
      legId,
      direction,
      advertisedAddress: this.options.advertisedAddress,
      logger,
      ackTimeoutMs: this.options.ackTimeoutMs,
      ...(this.options.threads && { threads: { threads: this.options.threads, conversationId } }),
      rtp: { ...this.rtpOptions(), ...(signallingSource !== undefined && { signallingSource }) },
    });
  }

  /** The in-dialog handling of a call. */
  private dialog(call: SipCall, settled: RtpCodecConfig): Core.SessionDelegate {
    return sipDialogDelegate(call, {
      settled,
      codecs: this.options.codecs,
      logger: this.ctx.logger,
      onRefresh: (runner, interval) => this.context.refreshSession(runner, interval),
    });
  }

  /** Stores a new SIP leg, answering (being set up). */
  private insertLeg(id: string, conversationId: string, memberId: string, direction: 'inbound' | 'outbound'): Leg {
    const leg: Leg = {
      id,
      conversation_id: conversationId,
      member_id: memberId,
      type: 'sip',
      direction,
      status: 'answering',
      media: { muted: false, earmuffed: false, video_muted: false },
      timestamp: { created: this.ctx.clock.now().toISOString() },
    };
    this.ctx.store.legs.insert(leg);
    return leg;
  }

  /**
   * Runs a SIP call with the others: the leg service drives its runner; when it ends, the call
   * frees what it holds, its slot is released, and its member leaves with its last call.
   */
  private track(call: SipCall, runner: SipLegRunner): void {
    this.calls.set(call.legId, call);
    this.legs.adopt(runner);
    // The running call's own slot (its set-up's is released when the set-up returns).
    this.admitted++;
    void runner.done.then(async () => {
      addStats(this.ended, runner.mediaStats());
      this.calls.delete(call.legId);
      this.admitted--;
      await call.close();
      // The SIP member's membership is the call: when its last call ends, the member leaves (calls
      // that share a caller id share the member; one hanging up must not end the others).
      try {
        if (!this.legs.memberHasLegs(runner.state.member_id)) this.context.members.leaveMember(runner.state.member_id, 'sip', 'call ended');
      } catch (err) {
        this.ctx.logger.error({ err, leg_id: runner.id }, 'could not end the SIP member');
      }
    });
  }
}
