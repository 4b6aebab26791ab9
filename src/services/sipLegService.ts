import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { Grammar, type Core } from 'sip.js';
import type { Principal } from '../auth/principal.js';
import { LegwayError, toLegwayError } from '../domain/errors.js';
import { newLegId } from '../lib/ids.js';
import { SipLegRunner, type SipSignalling } from '../legs/sipLegRunner.js';
import { hangUp, sdpBody, sipCodeOf, sipDialogDelegate, type DialogCall } from '../legs/sipDialog.js';
import { detectAnsweringMachine } from '../legs/machineDetection.js';
import { RtpLegAudio } from '../media/rtp/rtpLegAudio.js';
import { ringbackCadence } from '../media/audio/ringback.js';
import { Player } from '../media/bridge/sources.js';
import { RtpEndpoint, type RtpCodecConfig } from '../media/rtp/rtpEndpoint.js';
import { answerDirection, negotiate, offeredConfig, readRemoteAudio, remoteMedia, writeAnswer, writeOffer, type LocalAudio, type RemoteAudio } from '../sip/sdp/audioSdp.js';
import type { SipCodecName } from '../media/codecs/sipCodecs.js';
import { addStats, emptyTotals } from '../legs/sipMediaStats.js';
import type { SipMediaTotals } from '../observability/metrics.js';
import type { InboundInvite, SipServer } from '../sip/sipServer.js';
import { expiryMs, MIN_SE, readSessionTimer, sessionTimerHeaders } from '../sip/sessionTimer.js';
import type { Access } from './access.js';
import { SipRouter } from './sipRouter.js';
import type { Leg } from '../store/legsRepo.js';
import type { ServiceContext } from './context.js';
import type { ConversationService } from './conversationService.js';
import type { LegService } from './legService.js';
import type { MemberService } from './memberService.js';

export interface SipLegOptions {
  /** Address RTP binds to, and the one written into SDP. */
  rtpIp: string;
  advertisedAddress: string;
  rtpPorts: { min: number; max: number };
  routes: readonly { user: string; conversation: string }[];
  answerUrl: string | undefined;
  /** Asks `answerUrl` (HTTP POST, JSON) where a call goes; resolves with the parsed JSON answer. */
  askAnswerUrl: (url: string, body: object) => Promise<unknown>;
  rtpTimeoutMs: number;
  /** How long our 200 waits for its ACK (RFC 3261 64*T1). */
  ackTimeoutMs: number;
  ringback: 'us' | 'eu' | 'off';
  /** How long an inbound call rings before it is answered (the caller may cancel meanwhile). */
  answerDelayMs: number;
  /** SIP calls at once; more get 503. */
  maxCalls: number;
  /** Codecs offered and accepted, in preference order. */
  codecs: readonly SipCodecName[];
  /** Mean interval of each leg's RTCP reports. */
  rtcpIntervalMs: number;
}

/** `POST /v1/calls`: who to dial, into which conversation. */
export interface OutboundCall {
  conversationId: string;
  uri: string;
  /** The user part of our From. */
  from?: string | undefined;
  /** How long it may ring before it is cancelled (no answer). */
  ringingTimeoutS: number;
  /** Answering-machine detection after the answer: report it (`continue`), or also hang up on a machine. */
  machineDetection?: 'continue' | 'hangup' | undefined;
}

/** The gateway acting for SIP callers (it creates the conversations calls route to). */
const SIP_PRINCIPAL: Principal = { role: 'application', sub: 'sip', join: [] };

/**
 * Inbound SIP calls: routes each INVITE to a conversation (static routes, then `answer_url`),
 * makes the caller a member (channel sip), opens the leg's RTP, answers PCMU/PCMA, and runs the
 * leg's machine. In the dialog: ACK, BYE, re-INVITE (hold and unhold), INFO (DTMF).
 */
export class SipLegService {
  private readonly calls = new Set<SipLegRunner>();
  private server: SipServer | undefined;
  private readonly router: SipRouter;
  /** Each running SIP leg's RTP, and whether its call negotiated telephone-event. */
  private readonly media = new Map<string, { rtp: RtpEndpoint; telephoneEvents: boolean }>();
  /** Session timers (RFC 4028) of calls whose callers asked for them, by leg. */
  private readonly sessionTimers = new Map<string, NodeJS.Timeout>();
  /** Ringback players, by the ringing leg. */
  private readonly ringbacks = new Map<string, Player>();
  /** Media counters of the SIP legs that ended. */
  private readonly ended: SipMediaTotals = emptyTotals();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly access: Access,
    private readonly conversations: ConversationService,
    private readonly members: MemberService,
    private readonly legs: LegService,
    private readonly options: SipLegOptions,
  ) {
    this.router = new SipRouter(options);
  }

  /** The SIP server's INVITE handler: never throws, every failure is a SIP response. */
  onInvite(invite: InboundInvite): void {
    this.answer(invite).catch((err: unknown) => {
      const code = sipCodeOf(err);
      if (code === 503) this.ctx.logger.error({ err, call: invite.callIdHash }, 'inbound SIP call failed');
      else this.ctx.logger.info({ code, reason: toLegwayError(err).message, call: invite.callIdHash }, 'inbound SIP call refused');
      try {
        invite.request.reject({ statusCode: code });
      } catch {
        // Already answered (cancelled meanwhile): nothing more to say.
      }
    });
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
    if (this.legs.shuttingDown) throw new LegwayError('Unavailable', 'the gateway is shutting down');
    if (this.calls.size >= this.options.maxCalls) throw new LegwayError('Unavailable', 'too many SIP calls');
    const conversation = this.access.conversation(request.conversationId);
    const target = Grammar.URIParse(request.uri);
    if (target?.scheme !== 'sip' || !target.host) throw new LegwayError('ValidationFailed', 'to.uri must be a sip: URI with a host');
    const calleeName = `sip-${target.user ?? target.host}`.slice(0, 200);
    const member = this.members.inviteCallee(conversation.id, calleeName, { type: 'sip', to: target.user ?? target.host }, 'application');
    const legId = newLegId();

    const rtp = await RtpEndpoint.open({
      ip: this.options.rtpIp,
      portRange: this.options.rtpPorts,
      logger: this.ctx.logger.child({ leg_id: legId }),
      inactivityTimeoutMs: this.options.rtpTimeoutMs,
      rtcpIntervalMs: this.options.rtcpIntervalMs,
      // The callee's host, when dialled by address: its media may come from there whatever its SDP says.
      ...(isIP(target.host) !== 0 && { signallingSource: target.host }),
    });
    const local: LocalAudio = { address: this.options.advertisedAddress, port: rtp.port, sessionId: randomInt(1, 2 ** 47), version: 1 };
    const leg = this.insertLeg(legId, conversation.id, member.id, 'outbound');

    const from = Grammar.URIParse(`sip:${request.from ?? 'legway'}@${this.options.advertisedAddress}`) ?? undefined;
    if (!from) {
      await rtp.close();
      throw new LegwayError('ValidationFailed', 'from must be a SIP user name');
    }
    const message = server.core.makeOutgoingRequestMessage('INVITE', target, from, target, {}, [`Contact: ${server.contact}`], sdpBody(writeOffer(local, this.options.codecs)));
    const call: { runner?: SipLegRunner; session?: Core.Session; outgoing?: Core.OutgoingInviteRequest } = {};
    const signalling: SipSignalling = {
      ringing: () => undefined,
      answer: () => undefined,
      cancel: () => call.outgoing?.cancel(),
      reject: () => undefined,
      bye: () => hangUp(call.session),
    };
    const runner = new SipLegRunner(leg, {
      store: this.ctx.store,
      log: this.ctx.log,
      clock: this.ctx.clock,
      logger: this.ctx.logger.child({ leg_id: legId, conversation_id: conversation.id }),
      bridge: this.legs.bridgeFor(conversation.id),
      rtp,
      audio: undefined,
      signalling,
      direction: 'outbound',
      answerTimeoutMs: request.ringingTimeoutS * 1000,
      onStatus: (status) => this.ringback(conversation.id, legId, status === 'ringing'),
    });
    call.runner = runner;
    rtp.on('dtmf', (press) => runner.dtmf(press.digit, press.durationMs, 'rfc4733'));
    rtp.on('inactive', () => {
      // Before the answer, silence is normal (no early media).
      if (runner.state.status === 'connected') runner.send({ type: 'MEDIA_TIMEOUT' });
    });
    this.track(runner);
    runner.start();

    call.outgoing = server.core.invite(message, {
      onProgress: (response) => {
        const code = response.message.statusCode;
        if (code === 180 || code === 183) runner.send({ type: 'RINGING', code });
      },
      onAccept: (response) => {
        call.session = response.session;
        try {
          const remote = readRemoteAudio(response.message.body);
          const codec = negotiate(remote, this.options.codecs, true);
          rtp.configure(codec);
          if (!remote.nullAddress) rtp.setRemote(remoteMedia(remote));
          this.media.set(legId, { rtp, telephoneEvents: codec.telephoneEventPt !== undefined });
          response.ack();
          response.session.delegate = this.dialog({ runnerOf: () => call.runner, rtp, local, sessionOf: () => call.session, settled: codec });
          this.members.admit(conversation.id, calleeName, 'application', { type: 'sip', to: target.user ?? target.host });
          runner.attachAudio(new RtpLegAudio(rtp, codec.telephoneEventPt === undefined ? (press) => runner.dtmf(press.digit, press.durationMs, 'inband') : undefined));
          runner.send({ type: 'ANSWERED' });
          if (request.machineDetection) detectAnsweringMachine(this.legs.bridgeFor(conversation.id), runner, request.machineDetection, this.ctx.logger);
        } catch (err) {
          // An answer we cannot use: acknowledge it and hang up at once.
          response.ack();
          this.ctx.logger.info({ err, leg_id: legId }, 'unusable answer to an outbound call');
          runner.send({ type: 'ANSWERED' });
          runner.hangup('gateway', 'no common codec in the answer');
        }
      },
      onReject: (response) => {
        runner.send({ type: 'REJECTED', code: response.message.statusCode ?? 500, reason: (response.message.reasonPhrase ?? 'Failed').slice(0, 200) || 'Failed' });
      },
    });
    return runner.state;
  }

  /**
   * Sends DTMF to a SIP leg as RFC 4733 events when its call negotiated telephone-event; false
   * otherwise (not a SIP leg, or no telephone-event: the caller plays tones in band instead).
   */
  sendDtmf(legId: string, digits: string): boolean {
    const media = this.media.get(legId);
    if (!media?.telephoneEvents) return false;
    // Pauses are a dial-string notion; RFC 4733 events go out back to back with their gaps.
    media.rtp.sendDtmf(digits.replace(/p/gi, '')).catch((err: unknown) => this.ctx.logger.warn({ err, leg_id: legId }, 'could not send DTMF'));
    return true;
  }

  /** SIP media summed over the running legs and those that ended, for `/metrics`. */
  mediaTotals(): SipMediaTotals {
    const totals: SipMediaTotals = { ...this.ended, legsByCodec: {} };
    for (const runner of this.calls) {
      const stats = runner.mediaStats();
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

  private async answer(invite: InboundInvite): Promise<void> {
    const { request } = invite;
    const message = request.message;
    if (this.legs.shuttingDown) throw new LegwayError('Unavailable', 'the gateway is shutting down');
    if (this.calls.size >= this.options.maxCalls) throw new LegwayError('Unavailable', 'too many SIP calls');

    // The caller's offer, or none: then we offer in our 200 and the ACK answers.
    let remote: RemoteAudio | undefined;
    let codec: RtpCodecConfig;
    if (message.body.length > 0) {
      const type = (message.getHeader('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/sdp') throw new LegwayError('UnsupportedMediaType', `body of type ${type ?? 'none'} is not SDP`);
      remote = readRemoteAudio(message.body);
      codec = negotiate(remote, this.options.codecs);
    } else {
      codec = offeredConfig(this.options.codecs);
    }

    const timer = readSessionTimer(message.getHeader('session-expires'), message.getHeaders('supported'));
    if (timer.kind === 'too-small') {
      request.reject({ statusCode: 422, extraHeaders: [`Min-SE: ${String(MIN_SE)}`] });
      return;
    }
    const dialled = message.ruri?.user ?? '';
    const caller = message.from.uri.user ?? 'anonymous';
    const legId = newLegId();
    // The application gets the real Call-ID (to match its own SIP records); logs only ever see its digest.
    const route = await this.router.route(dialled, { from: caller, to: dialled, call_id: message.callId, leg_id: legId });
    if (cancelled(invite)) return;

    let conversation = this.conversations.resolve(route.conversation);
    conversation ??= this.conversations.create({ name: route.conversation }, SIP_PRINCIPAL);
    const rtp = await RtpEndpoint.open({
      ip: this.options.rtpIp,
      portRange: this.options.rtpPorts,
      logger: this.ctx.logger.child({ leg_id: legId }),
      inactivityTimeoutMs: this.options.rtpTimeoutMs,
      rtcpIntervalMs: this.options.rtcpIntervalMs,
      // A NAT maps the caller's signalling and media to one public address: its media is expected from there.
      signallingSource: invite.source.address,
    });
    if (cancelled(invite)) {
      await rtp.close();
      return;
    }
    // From here on nothing awaits: the caller cannot cancel between its member and its leg.
    const member = this.members.admit(conversation.id, `sip-${caller}`.slice(0, 200), 'sip', { type: 'sip', from: caller, to: dialled });
    try {
      rtp.configure(codec);
      if (remote && !remote.nullAddress) rtp.setRemote(remoteMedia(remote));
      const local: LocalAudio = { address: this.options.advertisedAddress, port: rtp.port, sessionId: randomInt(1, 2 ** 47), version: 1 };
      const ourSdp = remote ? writeAnswer(local, codec, answerDirection(remote.direction)) : writeOffer(local, this.options.codecs);

      const leg = this.insertLeg(legId, conversation.id, member.id, 'inbound');

      let session: Core.Session | undefined;
      // Made below; the SIP callbacks that need it run only after it exists.
      const call: { runner?: SipLegRunner } = {};
      const signalling: SipSignalling = {
        ringing: () => {
          request.progress({ statusCode: 180 });
        },
        answer: () => {
          const extraHeaders = timer.kind === 'timer' ? sessionTimerHeaders(timer.interval) : [];
          session = request.accept({ statusCode: 200, body: sdpBody(ourSdp), extraHeaders }).session;
          session.delegate = this.dialog({ runnerOf: () => call.runner, rtp, local, sessionOf: () => session, settled: codec });
          if (timer.kind === 'timer' && call.runner) this.armSessionTimer(call.runner, timer.interval);
        },
        cancel: () => undefined,
        reject: () => {
          try {
            request.reject({ statusCode: 480 });
          } catch {
            // Already final (cancelled meanwhile).
          }
        },
        bye: () => hangUp(session),
      };
      // Without the caller's offer, the codec is known only from the answer in its ACK: the audio joins then.
      const audio = remote ? new RtpLegAudio(rtp, codec.telephoneEventPt === undefined ? (press) => call.runner?.dtmf(press.digit, press.durationMs, 'inband') : undefined) : undefined;
      const started: SipLegRunner = new SipLegRunner(leg, {
        store: this.ctx.store,
        log: this.ctx.log,
        clock: this.ctx.clock,
        logger: this.ctx.logger.child({ leg_id: legId, conversation_id: conversation.id }),
        bridge: this.legs.bridgeFor(conversation.id),
        rtp,
        audio,
        signalling,
        direction: 'inbound',
        answerTimeoutMs: this.options.ackTimeoutMs,
        answerDelayMs: this.options.answerDelayMs,
      });
      call.runner = started;
      this.media.set(legId, { rtp, telephoneEvents: codec.telephoneEventPt !== undefined && remote !== undefined });
      rtp.on('dtmf', (press) => started.dtmf(press.digit, press.durationMs, 'rfc4733'));
      rtp.on('inactive', () => started.send({ type: 'MEDIA_TIMEOUT' }));
      invite.cancelled.addEventListener('abort', () => started.send({ type: 'REMOTE_HANGUP', cancelled: true }), { once: true });
      this.track(started);
      started.start();
      if (route.mute) started.toggle('MUTE', true, 'sip');
      if (route.canHear ?? route.canSpeak) this.legs.bridgeFor(conversation.id).setAudience(legId, { canHear: route.canHear, canSpeak: route.canSpeak });
    } catch (err) {
      await rtp.close();
      throw err;
    }
  }

  /** The in-dialog handling of a call, with this service's bookkeeping. */
  private dialog(call: Pick<DialogCall, 'runnerOf' | 'rtp' | 'local' | 'sessionOf' | 'settled'>): Core.SessionDelegate {
    return sipDialogDelegate({
      ...call,
      codecs: this.options.codecs,
      logger: this.ctx.logger,
      onMediaSettled: (runner, telephoneEvents) => this.media.set(runner.id, { rtp: call.rtp, telephoneEvents }),
      onRefresh: (runner, interval) => this.armSessionTimer(runner, interval),
    });
  }

  /** (Re)starts a call's session timer: without a refresh before it runs out, the call is hung up. */
  private armSessionTimer(runner: SipLegRunner, interval: number): void {
    clearTimeout(this.sessionTimers.get(runner.id));
    const timer = setTimeout(() => {
      this.sessionTimers.delete(runner.id);
      runner.hangup('gateway', 'session timer expired');
    }, expiryMs(interval));
    timer.unref();
    this.sessionTimers.set(runner.id, timer);
  }

  /** Starts or stops the ringback the conversation hears while one of its outbound calls rings. */
  private ringback(conversationId: string, legId: string, on: boolean): void {
    const playing = this.ringbacks.get(legId);
    if (!on) {
      playing?.end('stopped');
      this.ringbacks.delete(legId);
      return;
    }
    const bridge = this.legs.liveBridge(conversationId);
    if (playing || !bridge || this.options.ringback === 'off') return;
    const player = new Player(`ringback-${legId}`, ringbackCadence(this.options.ringback), { loop: 0, level: 0 }, () => undefined);
    this.ringbacks.set(legId, player);
    bridge.play(player);
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

  /** Runs a SIP leg with the others: the leg service drives it; its member leaves when it ends. */
  private track(runner: SipLegRunner): void {
    this.calls.add(runner);
    this.legs.adopt(runner);
    void runner.done.then(() => {
      addStats(this.ended, runner.mediaStats());
      this.calls.delete(runner);
      this.media.delete(runner.id);
      clearTimeout(this.sessionTimers.get(runner.id));
      this.sessionTimers.delete(runner.id);
      // The SIP member's membership is the call: when its last call ends, the member leaves (calls
      // that share a caller id share the member; one hanging up must not end the others).
      try {
        if (!this.legs.memberHasLegs(runner.state.member_id)) this.members.leaveMember(runner.state.member_id, 'sip', 'call ended');
      } catch (err) {
        this.ctx.logger.error({ err, leg_id: runner.id }, 'could not end the SIP member');
      }
    });
  }


}

/** Whether the caller cancelled (a function: the signal changes while the call is being set up). */
function cancelled(invite: InboundInvite): boolean {
  return invite.cancelled.aborted;
}
