/**
 * One SIP call, inbound or outbound: the single owner of everything the call opened — its RTP
 * endpoint, its sip.js dialog (or the INVITE still in flight), the ringback it
 * plays, its answering-machine tap — and one idempotent `close()` that frees them all, whatever
 * ended the call (BYE, CANCEL, timeout, error, shutdown). The service keeps admission, routing and
 * a registry of these; the leg's runner drives its machine.
 */
import type { Logger } from 'pino';
import type { Core } from 'sip.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import type { Player, Tap } from '../media/bridge/sources.js';
import { RtpEndpoint, type RtpEndpointOptions } from '../media/rtp/rtpEndpoint.js';
import type { SipRtp } from '../media/rtp/sipRtp.js';
import type { MediaThreads } from '../media/threads/mediaThreads.js';
import { ThreadRtp } from '../media/threads/threadRtp.js';
import type { LocalAudio } from '../sip/sdp/audioSdp.js';
import type { SipLegRunner } from './sipLegRunner.js';

export interface SipCallOptions {
  legId: string;
  direction: 'inbound' | 'outbound';
  advertisedAddress: string;
  rtp: Omit<RtpEndpointOptions, 'logger'>;
  logger: Logger;
  /** How long a BYE waits for the caller's ACK to our 200 before it goes anyway (RFC 3261's 64·T1). */
  ackTimeoutMs: number;
  /** The media threads, and the conversation whose thread the call's RTP runs on; in this process without them. */
  threads?: { threads: MediaThreads; conversationId: string } | undefined;
}

export class SipCall {
  readonly legId: string;
  readonly direction: 'inbound' | 'outbound';
  readonly local: LocalAudio;
  runner: SipLegRunner | undefined;
  /** The dialog, once our 200 went out (inbound) or the callee's 200 came (outbound). */
  session: Core.Session | undefined;
  /** Outbound: the INVITE in flight, until its final response. */
  outgoing: Core.OutgoingInviteRequest | undefined;
  /** The codec settled on telephone-event: DTMF to this call goes as RFC 4733. */
  telephoneEvents = false;
  private acked = false;
  /** When our 200 went out (inbound), from which the wait for its ACK is counted. */
  private answeredAt = 0;
  private byePending = false;
  private byeTimer: NodeJS.Timeout | undefined;
  private ringback: Player | undefined;
  private amdTap: Tap | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    options: SipCallOptions,
    readonly rtp: SipRtp,
    private readonly logger: Logger,
    private readonly ackTimeoutMs: number,
  ) {
    this.legId = options.legId;
    this.direction = options.direction;
    this.local = { address: options.advertisedAddress, port: rtp.port, sessionId: 1 + Math.floor(Math.random() * 2 ** 47), version: 1 };
  }

  /** Opens the call's RTP endpoint (ports from the shared range); `Unavailable` when none is free. */
  static async open(options: SipCallOptions): Promise<SipCall> {
    const on = options.threads;
    const rtp = on
      ? await ThreadRtp.open(on.threads, on.conversationId, options.rtp, (err) => options.logger.error({ err }, 'rtp endpoint listener failed'))
      : await RtpEndpoint.open({ ...options.rtp, logger: options.logger });
    return new SipCall(options, rtp, options.logger, options.ackTimeoutMs);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Inbound: our 200 went out and made this dialog. */
  answered(session: Core.Session): void {
    this.session = session;
    this.answeredAt = Date.now();
  }

  /** Inbound: the caller's ACK to our 200 came; a BYE that waited for it goes now. */
  ackReceived(): void {
    this.acked = true;
    if (this.byePending) this.sendBye();
  }

  /**
   * Ends the dialog with BYE. Before the caller has ACKed our 200, RFC 3261 §15 forbids it: the BYE
   * then goes when the ACK comes, or once the ACK can no longer come (64·T1). Never throws.
   */
  bye(): void {
    if (this.session === undefined || this.byePending) return;
    if (this.direction === 'inbound' && !this.acked) {
      this.byePending = true;
      // Until the ACK can no longer come: 64·T1 after our 200 (a little after, so that sip.js's own
      // transaction has ended and lets the BYE go).
      const wait = Math.max(0, this.answeredAt + this.ackTimeoutMs - Date.now()) + 500;
      this.byeTimer = setTimeout(() => this.sendBye(), wait);
      this.byeTimer.unref();
      return;
    }
    this.sendBye();
  }

  /**
   * Outbound: a 200 that crossed our CANCEL (or came after the call was given up) is a dialog we do
   * not want: ACK it and BYE it at once (RFC 3261 §15 leaves that to us).
   */
  refuseLateAnswer(response: Core.AckableIncomingResponseWithSession): void {
    try {
      response.ack();
    } catch (err) {
      this.logger.debug({ err }, 'could not ACK a late 200');
    }
    this.session = response.session;
    this.acked = true;
    this.sendBye();
  }

  /** Plays ringback into the conversation while the callee rings (one at a time). */
  startRingback(bridge: ConversationBridge, player: Player): void {
    if (this.ringback || this.closed) return;
    this.ringback = player;
    bridge.play(player);
  }

  stopRingback(): void {
    this.ringback?.end('stopped');
    this.ringback = undefined;
  }

  /** Listens to the callee's audio for answering-machine detection (ended by `close`). */
  attachTap(bridge: ConversationBridge, tap: Tap): void {
    if (this.closed) return;
    this.amdTap = tap;
    bridge.tap(tap);
  }

  /** Frees everything the call holds: timers, ringback, tap, RTP ports, the dialog. Harmless twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopRingback();
      this.amdTap?.end('stopped');
      this.amdTap = undefined;
      // A BYE still waiting for its ACK keeps its timer: the dialog must still be ended.
      await this.rtp.close();
    })();
    return this.closing;
  }

  /**
   * Disposes the dialog and lets go of its delegate. sip.js keeps an ended dialog until its INVITE
   * transaction's last timer (RFC 6026's Timer L, 32 s on), and through the delegate this whole
   * call with its leg runner and machine: about 26 KiB per call, 250 MB held at 300 calls/s. A
   * disposed dialog gets no more requests, so the delegate has nothing left to do.
   */
  disposeDialog(): void {
    const session = this.session;
    if (session === undefined) return;
    session.delegate = undefined;
    session.dispose();
  }

  private sendBye(): void {
    clearTimeout(this.byeTimer);
    this.byePending = false;
    const session = this.session;
    if (session === undefined) return;
    try {
      session.bye({ onAccept: () => this.disposeDialog(), onReject: () => this.disposeDialog() });
    } catch (err) {
      // The dialog is already gone (the far end ended it, or it was never confirmed).
      this.logger.debug({ err }, 'BYE not sent');
      this.disposeDialog();
    }
  }
}
