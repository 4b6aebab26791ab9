/**
 * Placing an outbound SIP call (`POST /v1/calls`): everything the request says is checked before
 * anything is allocated or stored; then the call object (RTP), the invited member, the leg and its
 * runner, and the INVITE. Ringing, answer, busy, no answer and failure become the leg's events; a
 * 200 that crosses our CANCEL is ACKed and BYEd (RFC 3261 §15).
 */
import { Grammar, type Core } from 'sip.js';
import { LegwayError } from '../../domain/errors.js';
import { newLegId } from '../../lib/ids.js';
import { detectAnsweringMachine } from '../../legs/machineDetection.js';
import { sdpBody } from '../../legs/sipDialog.js';
import { SipLegRunner, type SipSignalling } from '../../legs/sipLegRunner.js';
import { ringbackCadence } from '../../media/audio/ringback.js';
import { Player } from '../../media/bridge/sources.js';
import { negotiate, readRemoteAudio, remoteMedia, writeOffer } from '../../sip/sdp/audioSdp.js';
import type { SipServer } from '../../sip/sipServer.js';
import type { Leg } from '../../store/legsRepo.js';
import type { SipCallContext } from './sipCallContext.js';
import { sipUserName } from './sipNames.js';
import { sipPartyUserName } from '../../domain/gatewayUsers.js';

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

/** The parts of a dial request, checked: nothing is allocated for a request that fails here. */
interface Dial {
  target: Core.URI;
  from: Core.URI;
  callee: string;
}

/** Checks a dial request (`ValidationFailed` for a bad URI or From). */
export function checkDial(request: OutboundCall, advertisedAddress: string): Dial {
  const target = Grammar.URIParse(request.uri);
  if (target?.scheme !== 'sip' || !target.host) throw new LegwayError('ValidationFailed', 'to.uri must be a sip: URI with a host');
  const callee = sipUserName(target.user ?? target.host, target.host, 'to.uri');
  const fromUser = sipUserName(request.from, 'legway', 'from');
  const from = Grammar.URIParse(`sip:${fromUser}@${advertisedAddress}`);
  if (!from) throw new LegwayError('ValidationFailed', 'from must be a SIP user name');
  return { target, from, callee };
}

/** Dials `dial` into the conversation; the call is tracked (its admission released when it ends). */
export async function placeOutboundCall(
  c: SipCallContext,
  server: SipServer,
  conversationId: string,
  request: OutboundCall,
  dial: Dial,
  ringback: (legId: string) => Player | undefined,
): Promise<Leg> {
  const legId = newLegId();
  const { target, callee } = dial;
  // The callee's host, when dialled by address: its media may come from there whatever its SDP says.
  const call = await c.openCall(legId, conversationId, 'outbound', target.host);
  try {
    const channel = { type: 'sip' as const, to: target.user ?? target.host };
    const memberName = sipPartyUserName(callee);
    const member = c.members.inviteCallee(conversationId, memberName, channel, 'application');
    const leg = c.insertLeg(legId, conversationId, member.id, 'outbound');
    const rtp = call.rtp;
    const bridge = c.legs.bridgeFor(conversationId);
    const message = server.core.makeOutgoingRequestMessage(
      'INVITE',
      target,
      dial.from,
      target,
      {},
      [`Contact: ${server.contact}`],
      sdpBody(writeOffer(call.local, c.codecs)),
    );
    const signalling: SipSignalling = {
      ringing: () => undefined,
      answer: () => undefined,
      cancel: () => call.outgoing?.cancel(),
      reject: () => undefined,
      bye: () => call.bye(),
    };
    const runner = new SipLegRunner(leg, {
      store: c.ctx.store,
      log: c.ctx.log,
      clock: c.ctx.clock,
      logger: c.ctx.logger,
      bridge,
      rtp,
      audio: undefined,
      signalling,
      direction: 'outbound',
      answerTimeoutMs: request.ringingTimeoutS * 1000,
      ringback: {
        start: () => {
          const player = ringback(legId);
          if (player) call.startRingback(c.legs.liveBridge(conversationId) ?? bridge, player);
        },
        stop: () => call.stopRingback(),
      },
    });
    call.runner = runner;
    rtp.on('dtmf', (press) => runner.dtmf(press.digit, press.durationMs, 'rfc4733'));
    rtp.on('failed', (reason) => runner.hangup('gateway', reason));
    rtp.on('inactive', () => {
      // Before the answer, silence is normal (no early media).
      if (runner.state.status === 'connected') runner.send({ type: 'MEDIA_TIMEOUT' });
    });
    c.track(call, runner);
    runner.start();

    call.outgoing = server.core.invite(message, {
      onProgress: (response) => {
        const code = response.message.statusCode;
        if (code === 180 || code === 183) runner.send({ type: 'RINGING', code });
      },
      onAccept: (response) => {
        call.outgoing = undefined;
        // Given up meanwhile (no answer, hung up while ringing): the callee must not keep a dead call.
        if (runner.state.status === 'ending' || runner.state.status === 'ended') {
          call.refuseLateAnswer(response);
          return;
        }
        call.session = response.session;
        try {
          const remote = readRemoteAudio(response.message.body);
          const codec = negotiate(remote, c.codecs, true);
          rtp.configure(codec);
          if (!remote.nullAddress) rtp.setRemote(remoteMedia(remote));
          call.telephoneEvents = codec.telephoneEventPt !== undefined;
          response.ack();
          call.ackReceived();
          response.session.delegate = c.dialog(call, codec);
          c.members.admit(conversationId, memberName, 'application', channel);
          runner.attachAudio(rtp.legAudio(codec.telephoneEventPt === undefined ? (press) => runner.dtmf(press.digit, press.durationMs, 'inband') : undefined));
          runner.send({ type: 'ANSWERED' });
          if (request.machineDetection) detectAnsweringMachine(call, bridge, runner, request.machineDetection, c.ctx.logger);
        } catch (err) {
          // An answer we cannot use: acknowledge it and hang up at once.
          response.ack();
          call.ackReceived();
          c.ctx.logger.info({ err, leg_id: legId }, 'unusable answer to an outbound call');
          runner.send({ type: 'ANSWERED' });
          runner.hangup('gateway', 'no common codec in the answer');
        }
      },
      onReject: (response) => {
        call.outgoing = undefined;
        runner.send({
          type: 'REJECTED',
          code: response.message.statusCode ?? 500,
          reason: (response.message.reasonPhrase ?? 'Failed').slice(0, 200) || 'Failed',
        });
      },
    });
    return runner.state;
  } catch (err) {
    await call.close();
    throw err;
  }
}

/** A ringback player for a leg, or none when ringback is off. */
export function ringbackPlayer(kind: 'us' | 'eu' | 'off', legId: string): Player | undefined {
  if (kind === 'off') return undefined;
  return new Player(`ringback-${legId}`, ringbackCadence(kind), { loop: 0, level: 0 }, () => undefined);
}
