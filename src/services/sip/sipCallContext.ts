import type { Core } from 'sip.js';
import type { SipCall } from '../../legs/sipCall.js';
import type { SipLegRunner } from '../../legs/sipLegRunner.js';
import type { SipCodecName } from '../../media/codecs/sipCodecs.js';
import type { RtpCodecConfig } from '../../media/rtp/rtpEndpoint.js';
import type { Leg } from '../../store/legsRepo.js';
import type { ServiceContext } from '../context.js';
import type { ConversationService } from '../conversationService.js';
import type { LegService } from '../legService.js';
import type { MemberService } from '../memberService.js';
import type { SipRouter } from '../sipRouter.js';

/** What setting up a SIP call (in or out) needs from the SIP leg service. */
export interface SipCallContext {
  ctx: ServiceContext;
  members: MemberService;
  conversations: ConversationService;
  legs: LegService;
  router: SipRouter;
  codecs: readonly SipCodecName[];
  /** How long our 200 waits for its ACK (RFC 3261 64·T1). */
  ackTimeoutMs: number;
  /** How long an inbound call rings before it is answered. */
  answerDelayMs: number;
  /** Opens a call's RTP (the call owns it from here on). */
  openCall(legId: string, conversationId: string, direction: 'inbound' | 'outbound', signallingSource: string | undefined): Promise<SipCall>;
  /** Stores a new SIP leg, answering (being set up). */
  insertLeg(id: string, conversationId: string, memberId: string, direction: 'inbound' | 'outbound'): Leg;
  /** The in-dialog handling of a call. */
  dialog(call: SipCall, settled: RtpCodecConfig): Core.SessionDelegate;
  /** A session refresh (RFC 4028) with this interval, in seconds: the leg's timer starts again. */
  refreshSession(runner: SipLegRunner, interval: number): void;
  /** Runs a started call with the others; its admission slot is released when it ends. */
  track(call: SipCall, runner: SipLegRunner): void;
  /**
   * In a cluster: the SIP `host:port` of the node that owns the conversation's media, when that is
   * another node (the call is redirected there); undefined when the call is taken here.
   */
  ownerElsewhere?: (conversationId: string) => string | undefined;
}
