import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { Core, URI } from 'sip.js';
import type { Config } from '../config/schema.js';
import { ACCEPT_HEADER, ALLOW_HEADER, methodSupport, SUPPORTED_OPTION_TAGS, unsupportedRequirements } from './methods.js';
import { callIdHash, sipjsLoggerFactory } from './sipjsLogger.js';
import { CallerScreen } from './callerScreen.js';
import { DialogPeers } from './dialogPeers.js';
import { deferTrying } from './deferredTrying.js';
import { DigestChallenger, type DigestUsers } from './digestChallenge.js';
import { outgoingHeaderRewriter } from './outgoingHeaders.js';
import { SipTransport, type SipTransportOptions } from './transport/sipTransport.js';
import type { SipSource } from './transport/types.js';
import { hostForHeader } from './transport/via.js';
import { trustedSourceCheck } from './trustedSource.js';

/**
 * The SIP signalling endpoint: sip.js's `UserAgentCore` (transactions, dialogs, UAS/UAC rules) over
 * the gateway's UDP/TCP transport. In front of the core it applies what the core leaves to its
 * user: requests inside a transaction or dialog only from its peer (403), the trunk allowlist and
 * digest authentication (403/401), method support (405/501), Require (420) and OPTIONS; INVITEs go
 * to the owner's handler, which answers through sip.js's `IncomingInviteRequest`.
 */

/** An INVITE outside any dialog, handed to the owner (the SIP leg service). */
export interface InboundInvite {
  /**
   * sip.js's INVITE server transaction: `progress({ statusCode: 180 })`, `accept({ statusCode: 200,
   * body })` (its `session` then carries the dialog), `reject({ statusCode })`. The server sends 100
   * Trying only if none of these has been called 100 ms after it arrived (`deferredTrying.ts`). Keep
   * `request.delegate` as set: the server answers CANCEL through it.
   */
  readonly request: Core.IncomingInviteRequest;
  readonly source: SipSource;
  /** Aborted when the caller cancels before a final response; the server has then answered 487. */
  readonly cancelled: AbortSignal;
  /** Digest of the Call-ID, for log lines. */
  readonly callIdHash: string;
}

export type InviteHandler = (invite: InboundInvite) => void;

export interface SipServerOptions {
  /** Bind address (`LEGWAY_SIP_HOST`). */
  readonly host: string;
  /** UDP and TCP port (`LEGWAY_SIP_PORT`), 0 for any. */
  readonly port: number;
  /** CIDRs allowed to send requests (`LEGWAY_SIP_TRUNKS`); others get 403. */
  readonly trunks: readonly string[];
  /** The parent logger; the server logs through its child `{ component: 'sip' }`. */
  readonly logger: Logger;
  /** Host written into Contact and Via: by default the bind address, or the first external IPv4 when bound to all. */
  readonly advertisedHost?: string;
  /** User-Agent / Server header value. */
  readonly userAgent?: string;
  /** Callers outside the trunks who may call with digest authentication (401 challenges); none: 403. */
  readonly callers?: DigestUsers | undefined;
  /** Digest credentials our requests (outbound calls) answer a trunk's challenges with. */
  readonly credentials?: { username: string; password: string } | undefined;
  /** Receives INVITEs; by default every INVITE is answered 486 Busy Here. */
  readonly onInvite?: InviteHandler;
  /** Transport tuning (message size limit, TCP idle timeout, retransmission timing). */
  readonly transport?: Pick<
    SipTransportOptions,
    | 'maxMessageBytes'
    | 'tcpIdleTimeoutMs'
    | 'tcpConnectTimeoutMs'
    | 'maxTcpConnections'
    | 'maxTcpConnectionsPerIp'
    | 'maxOutboundTcpConnections'
    | 'tcpMessageDeadlineMs'
    | 'retransmitTiming'
  >;
}

/** Server options from the configuration (`LEGWAY_SIP_HOST`, `LEGWAY_SIP_PORT`, `LEGWAY_SIP_TRUNKS`). */
export function sipServerOptions(
  config: Pick<Config, 'sipHost' | 'sipPort' | 'sipTrunks' | 'sipCredentials' | 'sipCallers'>,
  logger: Logger,
): SipServerOptions {
  return { host: config.sipHost, port: config.sipPort, trunks: config.sipTrunks, logger, credentials: config.sipCredentials, callers: config.sipCallers };
}

/** Seconds a prober is asked to wait before it tries a draining node again. */
const DRAINING_RETRY_AFTER_S = 30;

/** How often the peers of ended dialogs are forgotten. */
const PEER_SWEEP_MS = 30_000;

/** The owner used until one is set: every call is busy. */
export const busyEverywhere: InviteHandler = ({ request }) => {
  request.reject({ statusCode: 486 });
};

export class SipServer {
  /** sip.js's core: send requests (`invite`, `request`, `makeOutgoingRequestMessage`) and find dialogs through it. */
  readonly core: Core.UserAgentCore;
  /** Contact header value for messages the owner builds (`<sip:host:port>`). */
  readonly contact: string;
  private inviteHandler: InviteHandler;
  /**
   * Set while this node drains (`legway cluster drain`): OPTIONS outside a dialog are answered 503,
   * so that a proxy probing its nodes (Kamailio's dispatcher) sends new calls elsewhere.
   */
  draining = false;
  private readonly log: Logger;
  private readonly screen: CallerScreen;
  /** The core accepts a request only for its AOR's user; see `dispatch`. */
  private readonly aor: URI;
  /** Who each dialog's other end is: requests inside it come from there only. */
  private readonly peers = new DialogPeers();
  private readonly sweeper: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly transport: SipTransport,
    options: SipServerOptions,
    log: Logger,
    loggerFactory: Core.LoggerFactory,
    isTrusted: (address: string) => boolean,
  ) {
    this.log = log;
    this.screen = new CallerScreen(isTrusted, options.callers && options.callers.users.size > 0 ? new DigestChallenger(options.callers) : undefined);
    this.inviteHandler = options.onInvite ?? busyEverywhere;
    const host = options.advertisedHost ?? advertisedHostFor(options.host);
    const contactUri = new URI('sip', '', hostForHeader(host), transport.port);
    this.contact = `<${contactUri.toString()}>`;
    this.aor = new URI('sip', '', hostForHeader(host), transport.port);
    const contact: Core.Contact = {
      pubGruu: undefined,
      tempGruu: undefined,
      uri: contactUri,
      toString: () => this.contact,
    };
    this.core = new Core.UserAgentCore(
      {
        aor: this.aor,
        contact,
        displayName: '',
        loggerFactory,
        hackViaTcp: false,
        routeSet: [],
        sipjsId: randomBytes(4).toString('hex'),
        // The gateway never refreshes a session itself (it lets callers do it, `sessionTimer.ts`): its
        // requests must not say `Supported: timer`, or a callee could make it the refresher (RFC 4028 §7).
        supportedOptionTags: [],
        supportedOptionTagsResponse: [...SUPPORTED_OPTION_TAGS],
        userAgentHeaderFieldValue: options.userAgent ?? 'legway',
        viaForceRport: true,
        viaHost: `${hostForHeader(host)}:${transport.port}`,
        // Our outgoing requests answer 401/407 challenges with these credentials (RFC 3261 22.2).
        authenticationFactory: () =>
          options.credentials ? new Core.DigestAuthentication(loggerFactory, undefined, options.credentials.username, options.credentials.password) : undefined,
        transportAccessor: () => transport,
      },
      { onInvite: (request) => this.handleInvite(request) },
    );
    transport.isServerTransaction = (id) => this.core.userAgentServers.get(id)?.transaction.state === Core.TransactionState.Completed;
    transport.rewriteOutgoing = outgoingHeaderRewriter(contactUri.toString());
    transport.on('request', (message, source) => this.onRequest(message, source));
    transport.on('response', (message, source) => this.onResponse(message, source));
    transport.on('requestSent', (callId, method, destination) => {
      if (method === 'INVITE') this.peers.noteSent(callId, destination.address);
    });
    this.sweeper = setInterval(() => this.peers.sweep((id) => this.core.dialogs.has(id)), PEER_SWEEP_MS);
    this.sweeper.unref();
  }

  /** Starts listening on UDP and TCP. */
  static async start(options: SipServerOptions): Promise<SipServer> {
    const log = options.logger.child({ component: 'sip' });
    const isTrusted = trustedSourceCheck(options.trunks);
    const loggerFactory = sipjsLoggerFactory(log);
    const transport = await SipTransport.listen({ ...options.transport, host: options.host, port: options.port, logger: log, loggerFactory });
    const server = new SipServer(transport, options, log, loggerFactory, isTrusted);
    log.info({ host: options.host, port: transport.port, trunks: options.trunks.length }, 'SIP listening on UDP and TCP');
    return server;
  }

  /** The bound port (UDP and TCP). */
  get port(): number {
    return this.transport.port;
  }

  /** Sets who receives INVITEs (the SIP leg service, once built). */
  setInviteHandler(handler: InviteHandler): void {
    this.inviteHandler = handler;
  }

  /** Stops listening, closes TCP connections, ends sip.js's transactions and dialogs; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      await this.transport.close();
      this.core.dispose();
      this.peers.clear();
      this.log.info('SIP stopped');
    })();
    return this.closing;
  }

  private onRequest(message: Core.IncomingRequestMessage, source: SipSource): void {
    if (this.closing) return;
    const method = message.method;
    try {
      const belongs = this.peerVerdict(message, source);
      if (belongs === 'stranger') {
        // Call-ID and tags are no secret: inside a transaction or dialog only its peer is heard.
        this.log.info({ ...logFields(message, source), address: source.address }, 'SIP request from outside its dialog refused');
        if (method !== 'ACK') this.replyStateless(message, 403);
        return;
      }
      // A retransmission, a CANCEL, the ACK of a rejection: the transaction's business, screened when it began.
      if (belongs === 'transaction') {
        this.dispatch(message);
        return;
      }
      // Requests inside a dialog the gateway is in (a call it placed to a host outside the trunks,
      // say) belong to that call; only requests that would start something are screened.
      const refusal = belongs === 'none' ? this.screen.refusal(message, source) : undefined;
      if (refusal) {
        // Failed credentials are worth an operator's notice; the rest is routine.
        const level = refusal.reason === 'wrong' || refusal.reason === 'replayed' ? 'info' : 'debug';
        if (this.log.isLevelEnabled(level))
          this.log[level]({ ...logFields(message, source), address: source.address, reason: refusal.reason }, 'SIP request refused');
        if (method !== 'ACK') this.replyStateless(message, refusal.status, [...refusal.headers]);
        return;
      }
      const support = methodSupport(method);
      if (support !== 'allowed') {
        if (this.log.isLevelEnabled('debug')) this.log.debug({ ...logFields(message, source), support }, 'SIP method refused');
        if (support === 'unknown') this.replyStateless(message, 501);
        else this.replyStateless(message, 405, [ALLOW_HEADER]);
        return;
      }
      if (method !== 'ACK' && method !== 'CANCEL') {
        const unsupported = unsupportedRequirements(message.getHeaders('require'));
        if (unsupported.length > 0) {
          this.replyStateless(message, 420, [`Unsupported: ${unsupported.join(', ')}`]);
          return;
        }
      }
      if (method === 'OPTIONS') {
        this.answerOptions(message);
        return;
      }
      this.dispatch(message);
    } catch (err) {
      this.log.warn({ ...logFields(message, source), err: (err as Error).message }, 'SIP request handling failed');
      if (method !== 'ACK') this.tryReplyStateless(message, 500);
    }
  }

  /**
   * Whether a request belongs to something under way, and comes from its peer: a server
   * transaction (retransmission, CANCEL, ACK of a non-2xx) from where the transaction's request
   * came; a dialog (RFC 3261 §12.2.2) from the dialog's peer. `none`: it starts something new.
   */
  private peerVerdict(message: Core.IncomingRequestMessage, source: SipSource): 'transaction' | 'dialog' | 'stranger' | 'none' {
    const uas = this.core.userAgentServers.get(message.viaBranch);
    if (uas) return this.transport.sourceOf(uas.transaction.request)?.address === source.address ? 'transaction' : 'stranger';
    if (this.inKnownDialog(message)) return this.peers.allows(dialogIdOf(message), source.address) ? 'dialog' : 'stranger';
    return 'none';
  }

  /** Whether a request carries the id of a dialog the core holds (RFC 3261 §12.2.2). */
  private inKnownDialog(message: Core.IncomingRequestMessage): boolean {
    return Boolean(message.toTag) && this.core.dialogs.has(dialogIdOf(message));
  }

  /** Hands a request to sip.js's core. */
  private dispatch(message: Core.IncomingRequestMessage): void {
    // The core answers 404 unless the Request-URI's user is its AOR's (a phone's check). The gateway
    // takes every user part (numbers are routed above, by the owner): the AOR's user is set to the
    // request's own, just before the core reads it, synchronously, here.
    this.aor.user = message.ruri?.user;
    this.core.receiveIncomingRequestFromTransport(message);
  }

  private onResponse(message: Core.IncomingResponseMessage, source: SipSource): void {
    if (this.closing) return;
    try {
      this.core.receiveIncomingResponseFromTransport(message);
      // A response to our INVITE that made (or belongs to) a dialog: the dialog's peer includes where it came from.
      const id = message.callId + message.fromTag + message.toTag;
      if (message.method === 'INVITE' && message.toTag && this.core.dialogs.has(id)) this.peers.learnPlaced(id, message.callId, source.address);
    } catch (err) {
      this.log.warn({ status: message.statusCode, err: (err as Error).message }, 'SIP response handling failed');
    }
  }

  /** OPTIONS (RFC 3261 §11.2): what an INVITE would get, with Allow, Accept and Supported. */
  private answerOptions(message: Core.IncomingRequestMessage): void {
    // Inside a dialog the answer must be what an INVITE would get there: 481 for an unknown dialog.
    if (message.toTag && !this.inKnownDialog(message)) {
      this.replyStateless(message, 481);
      return;
    }
    if (this.draining) {
      this.replyStateless(message, 503, [`Retry-After: ${String(DRAINING_RETRY_AFTER_S)}`]);
      return;
    }
    this.replyStateless(message, 200, [ALLOW_HEADER, ACCEPT_HEADER, 'Accept-Encoding: identity', 'Accept-Language: en']);
  }

  private handleInvite(request: Core.IncomingInviteRequest): void {
    const message = request.message;
    const source = this.transport.sourceOf(message) ?? { protocol: 'UDP', address: '', port: 0 };
    const controller = new AbortController();
    // The Call-ID's digest is for log lines: made only when one is written.
    let hash: string | undefined;
    const hashOf = (): string => (hash ??= callIdHash(message.callId));
    this.learnPeerOnAnswer(request, source);
    request.delegate = {
      onCancel: () => {
        if (this.log.isLevelEnabled('debug')) this.log.debug({ callIdHash: hashOf() }, 'SIP INVITE cancelled');
        try {
          request.reject({ statusCode: 487 });
        } catch {
          // A final response went out first; the CANCEL has no effect (RFC 3261 §9.2).
        }
        controller.abort();
      },
      onTransportError: (err) => this.log.debug({ callIdHash: hashOf(), err: err.message }, 'SIP response to INVITE not sent'),
    };
    deferTrying(request);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ callIdHash: hashOf(), protocol: source.protocol }, 'SIP INVITE received');
    try {
      this.inviteHandler({
        request,
        source,
        cancelled: controller.signal,
        get callIdHash() {
          return hashOf();
        },
      });
    } catch (err) {
      this.log.warn({ callIdHash: hashOf(), err: (err as Error).message }, 'SIP INVITE handler failed');
      try {
        request.reject({ statusCode: 500 });
      } catch {
        // The handler answered before failing.
      }
    }
  }

  /**
   * The dialog an INVITE makes (with its first 1xx with a tag, or its 2xx) has as peer the address
   * the INVITE came from: learned as the owner answers, before anything can arrive inside it.
   */
  private learnPeerOnAnswer(request: Core.IncomingInviteRequest, source: SipSource): void {
    const progress = request.progress.bind(request);
    const accept = request.accept.bind(request);
    request.progress = (options) => {
      const response = progress(options);
      this.peers.learn(response.session.id, source.address);
      return response;
    };
    request.accept = (options) => {
      const response = accept(options);
      this.peers.learn(response.session.id, source.address);
      return response;
    };
  }

  private replyStateless(message: Core.IncomingRequestMessage, statusCode: number, extraHeaders: string[] = []): void {
    if (this.log.isLevelEnabled('debug'))
      this.log.debug({ method: message.method, status: statusCode, callIdHash: callIdHash(message.callId) }, 'SIP stateless reply');
    this.core.replyStateless(message, { statusCode, extraHeaders });
  }

  private tryReplyStateless(message: Core.IncomingRequestMessage, statusCode: number): void {
    try {
      this.replyStateless(message, statusCode);
    } catch {
      // Nothing more can be said to this request.
    }
  }
}

/** What a log line about a request says of it: its method, the digest of its Call-ID and its transport. */
function logFields(message: Core.IncomingRequestMessage, source: SipSource): { method: string; callIdHash: string; protocol: string } {
  return { method: message.method, callIdHash: callIdHash(message.callId), protocol: source.protocol };
}

/** The id of the dialog a request names, as sip.js keys its dialogs (Call-ID, our tag, theirs). */
function dialogIdOf(message: Core.IncomingRequestMessage): string {
  return message.callId + message.toTag + message.fromTag;
}

/** The address peers should reach: the bind address, or for a wildcard bind the first external IPv4 (loopback if none). */
export function advertisedHostFor(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (external) return external.address;
  }
  return '127.0.0.1';
}
