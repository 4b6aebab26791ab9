import type { Logger } from 'pino';
import type { Core } from 'sip.js';
import { toLegwayError } from '../domain/errors.js';
import type { DtmfPress } from '../media/rtp/dtmf.js';
import type { RtpCodecConfig } from '../media/rtp/rtpEndpoint.js';
import { dtmfFromInfo } from '../sip/infoDtmf.js';
import { answerDirection, isHold, negotiate, readRemoteAudio, remoteMedia, writeAnswer } from '../sip/sdp/audioSdp.js';
import type { SipCodecName } from '../media/codecs/sipCodecs.js';
import { MIN_SE, readSessionTimer, sessionTimerHeaders } from '../sip/sessionTimer.js';
import type { SipCall } from './sipCall.js';
import type { SipLegRunner } from './sipLegRunner.js';

/** A SIP answer to a failure: the code that tells the caller why, never a hang. */
export function sipCodeOf(err: unknown): number {
  const e = toLegwayError(err);
  switch (e.code) {
    // SDP that cannot be used (no codec in common, no address).
    case 'BadRequest':
      return 488;
    // The request itself: an unusable caller or dialled name.
    case 'ValidationFailed':
      return 400;
    case 'UnsupportedMediaType':
      return 415;
    case 'ConversationNotFound':
    case 'NotFound':
      return 404;
    case 'Forbidden':
      return 403;
    // The conversation is full (LEGWAY_MAX_MEMBERS_PER_CONVERSATION): busy there, not a gateway out of capacity.
    case 'LimitReached':
      return 486;
    default:
      return 503;
  }
}

/** What a call's in-dialog handling needs beyond the call itself. */
export interface DialogOptions {
  /** The codec the call settled on, offered again in a refresh without SDP. */
  settled: RtpCodecConfig;
  /** Codecs the gateway takes, in preference order. */
  codecs: readonly SipCodecName[];
  logger: Logger;
  /** A (re-)INVITE asked for session timers with this interval. */
  onRefresh: (runner: SipLegRunner, interval: number) => void;
}

/**
 * The dialog's requests after our 200: ACK, BYE, re-INVITE (hold, refresh), INFO (DTMF). A class,
 * so that a call's delegate is one object and not a closure per request kind.
 */
class SipDialogDelegate implements Core.SessionDelegate {
  constructor(
    private readonly call: SipCall,
    private readonly options: DialogOptions,
  ) {}

  onAck(ack: Core.IncomingAckRequest): void {
    const { call, options } = this;
    const runner = call.runner;
    call.ackReceived();
    // An INVITE without SDP: the ACK carries the caller's answer to our offer, which settles the codec.
    if (runner && ack.message.body.length > 0) {
      try {
        const rtp = call.rtp;
        const remote = readRemoteAudio(ack.message.body);
        // The ACK answers our offer: its first codec is the choice.
        const codec = negotiate(remote, options.codecs, true);
        rtp.configure(codec);
        if (!remote.nullAddress) rtp.setRemote(remoteMedia(remote));
        call.telephoneEvents = codec.telephoneEventPt !== undefined;
        const inband = codec.telephoneEventPt === undefined ? (press: DtmfPress) => runner.dtmf(press.digit, press.durationMs, 'inband') : undefined;
        runner.attachAudio(rtp.legAudio(inband));
      } catch (err) {
        options.logger.info({ err, leg_id: runner.id }, 'unusable SDP in ACK; hanging up');
        runner.send({ type: 'ANSWERED' });
        runner.hangup('gateway', 'no usable answer in the ACK');
        return;
      }
    }
    runner?.send({ type: 'ANSWERED' });
  }

  /**
   * Our 200 was never ACKed and its INVITE transaction has ended (64·T1). Without this, sip.js would
   * send a BYE of its own here, and the leg a second one when its own wait for the ACK runs out (or
   * its hang-up's BYE, held for the ACK, falls due): the call gets exactly one BYE, the leg's.
   */
  onAckTimeout(): void {
    // Nothing to do: the leg's machine ends the call ('no ACK') and its BYE follows.
  }

  onBye(bye: Core.IncomingByeRequest): void {
    const call = this.call;
    bye.accept();
    call.disposeDialog();
    call.runner?.send({ type: 'REMOTE_HANGUP' });
  }

  onInfo(info: Core.IncomingInfoRequest): void {
    const digit = dtmfFromInfo(info.message.getHeader('content-type'), info.message.body);
    if (!digit) {
      info.reject({ statusCode: 415 });
      return;
    }
    info.accept();
    this.call.runner?.dtmf(digit.digit, digit.durationMs, 'sip-info');
  }

  onInvite(reInvite: Core.IncomingInviteRequest): void {
    const { call, options } = this;
    const { rtp, local } = call;
    try {
      const runner = call.runner;
      const timer = readSessionTimer(reInvite.message.getHeader('session-expires'), reInvite.message.getHeaders('supported'));
      if (timer.kind === 'too-small') {
        reInvite.reject({ statusCode: 422, extraHeaders: [`Min-SE: ${String(MIN_SE)}`] });
        return;
      }
      // A refresh (any re-INVITE) restarts the session timer.
      if (runner && timer.kind === 'timer') options.onRefresh(runner, timer.interval);
      const timerHeaders = timer.kind === 'timer' ? sessionTimerHeaders(timer.interval) : [];
      if (reInvite.message.body.length === 0) {
        // A refresh without an offer: our current SDP is the offer, and the ACK answers it.
        reInvite.accept({ statusCode: 200, body: sdpBody(writeAnswer(local, rtp.codec ?? options.settled, 'sendrecv')), extraHeaders: timerHeaders });
        return;
      }
      const remote = readRemoteAudio(reInvite.message.body);
      const ours = answerDirection(remote.direction);
      // Settled before anything changes: an offer with nothing in common is refused (488) and changes nothing.
      const codec = negotiate(remote, options.codecs);
      if (!remote.nullAddress) rtp.setRemote(remoteMedia(remote));
      rtp.configure(codec);
      call.telephoneEvents = codec.telephoneEventPt !== undefined;
      rtp.hold(remote.nullAddress ? 'inactive' : ours);
      local.version++;
      reInvite.accept({ statusCode: 200, body: sdpBody(writeAnswer(local, codec, remote.nullAddress ? 'inactive' : ours)), extraHeaders: timerHeaders });
      runner?.send({ type: 'REMOTE_HOLD', on: isHold(remote) });
    } catch (err) {
      reInvite.reject({ statusCode: sipCodeOf(err) });
    }
  }
}

/** The dialog's requests after our 200: ACK, BYE, re-INVITE (hold, refresh), INFO (DTMF). */
export function sipDialogDelegate(call: SipCall, options: DialogOptions): Core.SessionDelegate {
  return new SipDialogDelegate(call, options);
}

/** An SDP body for sip.js. */
export function sdpBody(content: string): Core.Body {
  return { contentDisposition: 'session', contentType: 'application/sdp', content };
}
