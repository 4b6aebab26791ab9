/**
 * Setting up an inbound SIP call, from an admitted INVITE to a running leg: SDP and names checked
 * before anything is allocated, the route (static or `answer_url`), the conversation and member,
 * then the call object (RTP) and the leg's runner. Everything after the RTP is opened runs without
 * an await and is undone by the call's `close()` if it throws, so a failing call never leaks ports.
 */
import { URI } from 'sip.js';
import type { Principal } from '../../auth/principal.js';
import { LegwayError } from '../../domain/errors.js';
import { newLegId } from '../../lib/ids.js';
import { sdpBody } from '../../legs/sipDialog.js';
import { SipLegRunner, type SipSignalling } from '../../legs/sipLegRunner.js';
import type { RtpCodecConfig } from '../../media/rtp/rtpEndpoint.js';
import { answerDirection, negotiate, offeredConfig, readRemoteAudio, remoteMedia, writeAnswer, writeOffer, type RemoteAudio } from '../../sip/sdp/audioSdp.js';
import { expiryMs, MIN_SE, readSessionTimer, sessionTimerHeaders } from '../../sip/sessionTimer.js';
import type { InboundInvite } from '../../sip/sipServer.js';
import type { SipCallContext } from './sipCallContext.js';
import { sipUserName } from './sipNames.js';
import { sipPartyUserName } from '../../domain/gatewayUsers.js';

/** The gateway acting for SIP callers (it creates the conversations calls route to). */
const SIP_PRINCIPAL: Principal = { role: 'application', sub: 'sip', join: [] };

/**
 * Answers one admitted INVITE (the caller holds an admission slot); resolves once the call runs
 * (`true`) or was given up because the caller cancelled (`false`); throws a coded error for a SIP
 * failure response. `signal` aborts the set-up (shutdown).
 */
export async function answerInboundCall(c: SipCallContext, invite: InboundInvite, signal: AbortSignal): Promise<boolean> {
  const { request } = invite;
  const message = request.message;
  // A function, not a value: the caller may cancel, or the gateway shut down, at every await. A
  // caller that cancelled has had its 487; one the gateway gives up on for shutdown is told so (503).
  const givenUp = (): boolean => {
    if (invite.cancelled.aborted) return true;
    if (signal.aborted) throw new LegwayError('Unavailable', 'the gateway is shutting down');
    return false;
  };

  // The caller's offer, or none: then we offer in our 200 and the ACK answers.
  let remote: RemoteAudio | undefined;
  let codec: RtpCodecConfig;
  if (message.body.length > 0) {
    const type = (message.getHeader('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/sdp') throw new LegwayError('UnsupportedMediaType', `body of type ${type ?? 'none'} is not SDP`);
    remote = readRemoteAudio(message.body);
    codec = negotiate(remote, c.codecs);
  } else {
    codec = offeredConfig(c.codecs);
  }
  const timer = readSessionTimer(message.getHeader('session-expires'), message.getHeaders('supported'));
  if (timer.kind === 'too-small') {
    request.reject({ statusCode: 422, extraHeaders: [`Min-SE: ${String(MIN_SE)}`] });
    return false;
  }
  const dialled = sipUserName(message.ruri?.user, '', 'the dialled user');
  const caller = sipUserName(message.from.uri.user, 'anonymous', 'the caller');
  const legId = newLegId();

  // The application gets the real Call-ID (to match its own SIP records); logs only ever see its digest.
  const route = await c.router.route(dialled, { from: caller, to: dialled, call_id: message.callId, leg_id: legId }, signal);
  if (givenUp()) return false;
  let conversation = c.conversations.resolve(route.conversation);
  conversation ??= c.conversations.create({ name: route.conversation }, SIP_PRINCIPAL);
  const owner = c.ownerElsewhere?.(conversation.id);
  if (owner !== undefined) {
    // The conversation's media is on another node: the caller is sent there (302), which the
    // proxy in front of the nodes follows, so the call is mixed where the conversation is.
    const at = owner.lastIndexOf(':');
    request.redirect([new URI('sip', dialled, owner.slice(0, at).replace(/^\[|\]$/g, ''), Number(owner.slice(at + 1)))], { statusCode: 302 });
    return false;
  }

  const call = await c.openCall(legId, conversation.id, 'inbound', invite.source.address);
  try {
    if (givenUp()) {
      await call.close();
      return false;
    }
    // From here on nothing awaits: the caller cannot cancel between its member and its leg.
    const rtp = call.rtp;
    rtp.configure(codec);
    if (remote && !remote.nullAddress) rtp.setRemote(remoteMedia(remote));
    call.telephoneEvents = codec.telephoneEventPt !== undefined && remote !== undefined;
    const ourSdp = remote ? writeAnswer(call.local, codec, answerDirection(remote.direction)) : writeOffer(call.local, c.codecs);
    const member = c.members.admit(conversation.id, sipPartyUserName(caller), 'sip', { type: 'sip', from: caller, to: dialled });
    const leg = c.insertLeg(legId, conversation.id, member.id, 'inbound');

    const signalling: SipSignalling = {
      ringing: () => {
        request.progress({ statusCode: 180 });
      },
      answer: () => {
        const extraHeaders = timer.kind === 'timer' ? sessionTimerHeaders(timer.interval) : [];
        const session = request.accept({ statusCode: 200, body: sdpBody(ourSdp), extraHeaders }).session;
        call.answered(session);
        session.delegate = c.dialog(call, codec);
      },
      cancel: () => undefined,
      reject: () => {
        try {
          request.reject({ statusCode: 480 });
        } catch {
          // Already final (cancelled meanwhile).
        }
      },
      bye: () => call.bye(),
    };
    // Without the caller's offer, the codec is known only from the answer in its ACK: the audio joins then.
    const inband =
      codec.telephoneEventPt === undefined
        ? (press: { digit: string; durationMs: number }) => call.runner?.dtmf(press.digit, press.durationMs, 'inband')
        : undefined;
    const audio = remote ? rtp.legAudio(inband) : undefined;
    const runner = new SipLegRunner(leg, {
      store: c.ctx.store,
      log: c.ctx.log,
      clock: c.ctx.clock,
      logger: c.ctx.logger,
      bridge: c.legs.bridgeFor(conversation.id),
      rtp,
      audio,
      signalling,
      direction: 'inbound',
      answerTimeoutMs: c.ackTimeoutMs,
      answerDelayMs: c.answerDelayMs,
      initialMute: route.mute,
      ...(timer.kind === 'timer' && { sessionExpiryMs: expiryMs(timer.interval) }),
      audience: { canHear: route.canHear, canSpeak: route.canSpeak },
    });
    call.runner = runner;
    rtp.on('dtmf', (press) => runner.dtmf(press.digit, press.durationMs, 'rfc4733'));
    rtp.on('inactive', () => runner.send({ type: 'MEDIA_TIMEOUT' }));
    rtp.on('failed', (reason) => runner.hangup('gateway', reason));
    const onCancel = (): void => runner.send({ type: 'REMOTE_HANGUP', cancelled: true });
    invite.cancelled.addEventListener('abort', onCancel, { once: true });
    // sip.js keeps the INVITE's delegate, and so this listener, until the transaction's last timer
    // (32 s after the call): an ended call lets go of it, so that it does not hold the runner that long.
    void runner.done.then(() => invite.cancelled.removeEventListener('abort', onCancel));
    c.track(call, runner);
    runner.start();
    return true;
  } catch (err) {
    await call.close();
    throw err;
  }
}
