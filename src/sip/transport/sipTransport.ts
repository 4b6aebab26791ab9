import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { isIP, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Core } from 'sip.js';
import { TypedEmitter } from '../../lib/typedEmitter.js';
import { arrivalKey, Arrivals, topViaOf, udpResponseTarget, type Arrival } from './arrivals.js';
import { frameDatagram, type Frame } from './framing.js';
import { normalizeIncoming } from './incoming.js';
import { requestHop, resolveHost } from './nextHop.js';
import { rawErrorResponse } from './rawResponse.js';
import { headerValue, headOf, parseRequestLine, readHead, rewriteTopViaTransport, type MessageHead } from './sipText.js';
import { bindUdpAndTcp, UDP_RECV_BUFFER_BYTES, type BoundSockets } from './sockets.js';
import { TcpConnections, type TcpConnection } from './tcpConnections.js';
import { UdpRetransmitter, type RetransmitTiming } from './udpRetransmitter.js';
import { T1_MS, type SipDestination, type SipProtocol, type SipSource } from './types.js';
import { normalizeAddress, responseRoute, viaBranch, type Via } from './via.js';

/**
 * SIP over UDP and TCP on one port number, adapted to sip.js's `Transport` interface.
 *
 * sip.js's core calls `send(text)` with a finished message and no destination (its transports are
 * one WebSocket each). This transport reads the destination back out of the text. A response goes
 * back the way its request came (RFC 3261 §18.2.2; `arrivals.ts`): on the request's TCP connection
 * while it is open, as a UDP datagram to `received`/`rport`/sent-by port for a UDP request —
 * whatever transport the Via names, and never on a connection opened for it. A request of ours goes
 * to its first Route or Request-URI (§18.1.1; `transport=tcp` selects TCP); sip.js writes
 * `SIP/2.0/UDP` into the Via of every request it makes (from `protocol`), and a request routed over
 * TCP has that token rewritten before it leaves. Outgoing text passes `rewriteOutgoing` last.
 *
 * Incoming, every datagram or framed stream message is read by `normalizeIncoming`, its source and
 * arrival recorded, then handed to the listener. Anything unreadable is counted and dropped, or
 * answered 400/505/513 when it is a request readable enough to address a response; nothing here
 * throws into the socket handlers.
 */

export interface SipTransportOptions {
  /** Address to bind (an IP address; `0.0.0.0` or `::` for all). */
  readonly host: string;
  /** Port for both UDP and TCP; 0 picks a free port number free on both. */
  readonly port: number;
  readonly logger: Logger;
  /** sip.js's logger factory, for its parser's complaints. */
  readonly loggerFactory: Core.LoggerFactory;
  /** Largest message accepted, in bytes (default 65535). */
  readonly maxMessageBytes?: number;
  /** A TCP connection without traffic for this long is closed (default 120 s). */
  readonly tcpIdleTimeoutMs?: number;
  readonly tcpConnectTimeoutMs?: number;
  /** TCP connections accepted at once, in all (default 1024). */
  readonly maxTcpConnections?: number;
  /** TCP connections one remote IP may hold at once (default 32). */
  readonly maxTcpConnectionsPerIp?: number;
  /** TCP connections we open ourselves at once, for our requests (default 256). */
  readonly maxOutboundTcpConnections?: number;
  /** How long a TCP message may take to arrive whole, from its first byte or the connection (default 10 s). */
  readonly tcpMessageDeadlineMs?: number;
  readonly retransmitTiming?: RetransmitTiming;
}

export interface SipTransportEvents extends Record<string, unknown[]> {
  request: [message: Core.IncomingRequestMessage, source: SipSource];
  response: [message: Core.IncomingResponseMessage, source: SipSource];
  /** A request of ours left for a destination (its Call-ID, to know who a dialog's peer is). */
  requestSent: [callId: string, method: string, destination: SipDestination];
}

/** What the transport saw go wrong, for metrics and tests. */
export interface SipTransportCounters {
  received: number;
  sent: number;
  /** Unparseable, invalid or incomplete messages. */
  malformed: number;
  /** Messages over the size limit. */
  oversized: number;
  /** 400/505/513 answers the transport gave itself. */
  refused: number;
  /** Sends that failed (no route, DNS, connection, socket). */
  sendFailures: number;
  /** TCP connections refused (over their IP's limit) or closed for a message that did not arrive in time. */
  tcpRefused: number;
}

const DEFAULT_MAX_MESSAGE_BYTES = 65_535;
export class SipTransport implements Core.Transport {
  /** The Via transport token sip.js writes into the requests it builds; TCP-routed requests get theirs rewritten. */
  readonly protocol = 'UDP';
  readonly counters: SipTransportCounters = { received: 0, sent: 0, malformed: 0, oversized: 0, refused: 0, sendFailures: 0, tcpRefused: 0 };
  /** Whether a transaction id names an INVITE server transaction waiting for the ACK to its rejection: only those rejections are resent on Timer G (not stateless answers). */
  isServerTransaction: (transactionId: string) => boolean = () => false;
  /** The last change to every message that leaves, knowing the transport it leaves on (the server's Contact and Allow). */
  rewriteOutgoing: (text: string, protocol: SipProtocol) => string = (text) => text;

  private readonly events: TypedEmitter<SipTransportEvents>;
  /** `isServerTransaction` as the reader of incoming messages asks it (made once, not per message). */
  private readonly awaitsAck = (id: string): boolean => this.isServerTransaction(id);
  private readonly sources = new WeakMap<object, SipSource>();
  private readonly arrivals: Arrivals;
  private readonly connections: TcpConnections;
  private readonly retransmitter: UdpRetransmitter;
  private readonly maxMessageBytes: number;
  private readonly parserLogger: Core.Logger;
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private closing: Promise<void> | undefined;
  /** The bound port number (UDP and TCP). */
  readonly port: number;

  private constructor(
    private readonly options: SipTransportOptions,
    sockets: BoundSockets,
    private readonly family: 4 | 6,
  ) {
    const { logger } = options;
    const { udp, tcp } = sockets;
    this.udp = udp;
    this.tcp = tcp;
    this.port = sockets.port;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.parserLogger = options.loggerFactory.getLogger('sip.parser');
    this.retransmitter = new UdpRetransmitter(options.retransmitTiming);
    this.arrivals = Arrivals.forTransport(options.retransmitTiming?.t1 ?? T1_MS);
    this.events = new TypedEmitter((err, event) => logger.error({ err, event }, 'SIP transport listener failed'));
    this.connections = new TcpConnections({
      maxMessageBytes: this.maxMessageBytes,
      idleTimeoutMs: options.tcpIdleTimeoutMs ?? 120_000,
      connectTimeoutMs: options.tcpConnectTimeoutMs ?? 5000,
      ...(options.maxTcpConnectionsPerIp !== undefined && { maxConnectionsPerIp: options.maxTcpConnectionsPerIp }),
      ...(options.maxOutboundTcpConnections !== undefined && { maxOutboundConnections: options.maxOutboundTcpConnections }),
      ...(options.tcpMessageDeadlineMs !== undefined && { messageDeadlineMs: options.tcpMessageDeadlineMs }),
      onFrame: (frame, connection) => this.onFrame(frame, { protocol: 'TCP', address: connection.remoteAddress, port: connection.remotePort }, connection),
      onError: (err) => logger.debug({ err: err.message }, 'SIP TCP connection error'),
      onRefused: (reason) => {
        this.counters.tcpRefused++;
        logger.debug({ reason }, 'SIP TCP connection refused or closed');
      },
    });
    udp.on('message', (data: Buffer, remote: RemoteInfo) => this.onDatagram(data, remote));
    udp.on('error', (err) => logger.warn({ err: err.message }, 'SIP UDP socket error'));
    tcp.on('connection', (socket: Socket) => this.connections.adopt(socket));
    tcp.on('error', (err) => logger.warn({ err: err.message }, 'SIP TCP listener error'));
  }

  /** Binds UDP and TCP on the same port number (a free one when `port` is 0). */
  static async listen(options: SipTransportOptions): Promise<SipTransport> {
    const family = isIP(options.host);
    if (family === 0) throw new Error(`SIP host must be an IP address, got ${options.host}`);
    const sockets = await bindUdpAndTcp(options.host, options.port, family === 6 ? 6 : 4);
    sockets.tcp.maxConnections = options.maxTcpConnections ?? 1024;
    const granted = { udp_receive_buffer_bytes: sockets.udpReceiveBufferBytes, wanted_bytes: UDP_RECV_BUFFER_BYTES };
    if (granted.udp_receive_buffer_bytes < UDP_RECV_BUFFER_BYTES)
      options.logger.warn(granted, 'SIP UDP receive buffer is smaller than wanted: a burst of calls may lose datagrams; raise net.core.rmem_max');
    return new SipTransport(options, sockets, family === 6 ? 6 : 4);
  }

  /** Open TCP connections. */
  get tcpConnectionCount(): number {
    return this.connections.size;
  }

  /** Requests whose arrival is remembered for their responses: those in progress, and INVITEs answered in the last 64·T1. */
  get rememberedRequests(): number {
    return this.arrivals.size;
  }

  /** UDP messages being retransmitted (Timers A, E, G). */
  get pendingRetransmissions(): number {
    return this.retransmitter.size;
  }

  on<K extends keyof SipTransportEvents>(event: K, listener: (...args: SipTransportEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Where a message this transport delivered came from. */
  sourceOf(message: Core.IncomingMessage): SipSource | undefined {
    return this.sources.get(message);
  }

  /** sip.js's entry point: sends a finished request or response to where its headers say. */
  async send(message: string): Promise<void> {
    if (this.closing) throw new Error('SIP transport closed');
    try {
      if (message.startsWith('SIP/2.0 ')) await this.sendResponse(message);
      else await this.sendRequest(message);
      this.counters.sent++;
    } catch (err) {
      this.counters.sendFailures++;
      this.options.logger.debug({ err: (err as Error).message }, 'SIP send failed');
      throw err;
    }
  }

  /** Stops listening, closes every connection and retransmission; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.retransmitter.clear();
      this.connections.closeAll();
      this.arrivals.clear();
      await Promise.all([
        new Promise<void>((resolve) => this.tcp.close(() => resolve())),
        new Promise<void>((resolve) => {
          try {
            this.udp.close(() => resolve());
          } catch {
            resolve();
          }
        }),
      ]);
    })();
    return this.closing;
  }

  // ---- incoming ----

  private onDatagram(data: Buffer, remote: RemoteInfo): void {
    try {
      this.onFrame(frameDatagram(data, this.maxMessageBytes), { protocol: 'UDP', address: normalizeAddress(remote.address), port: remote.port }, undefined);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'SIP datagram handling failed');
    }
  }

  private onFrame(frame: Frame | undefined, source: SipSource, connection: TcpConnection | undefined): void {
    if (!frame || this.closing) return;
    try {
      switch (frame.kind) {
        case 'message':
          this.receive(frame.data, source, connection, frame.head);
          return;
        case 'too-large':
          this.counters.oversized++;
          if (frame.head) this.refuse(frame.head.toString('utf8'), 513, source, connection);
          connection?.end();
          return;
        case 'bad-length':
          this.counters.malformed++;
          this.refuse(frame.head.toString('utf8'), 400, source, connection);
          connection?.end();
          return;
        case 'truncated':
          this.counters.malformed++;
          this.refuse(frame.head.toString('utf8'), 400, source, connection);
          return;
        case 'malformed':
          this.counters.malformed++;
          this.refuse(frame.data.toString('utf8'), 400, source, connection);
          return;
      }
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'SIP message handling failed');
    }
  }

  private receive(data: Buffer, source: SipSource, connection: TcpConnection | undefined, head: MessageHead | undefined): void {
    this.counters.received++;
    const text = data.toString('utf8');
    const outcome = normalizeIncoming(text, source, this.parserLogger, this.awaitsAck, head);
    if (outcome.kind === 'refuse') {
      this.counters.malformed++;
      this.refuse(headOf(text), outcome.status, source, connection, outcome.reason);
      return;
    }
    if (outcome.kind === 'drop') {
      this.counters.malformed++;
      this.options.logger.debug({ reason: outcome.reason, protocol: source.protocol }, 'SIP message dropped');
      return;
    }
    const { message, topVia } = outcome;
    this.sources.set(message, source);
    if (outcome.kind === 'request') {
      const request = outcome.message;
      if (request.method === 'ACK') {
        // Timer G stops only for an ACK from where its INVITE came.
        const invite = this.arrivals.find(arrivalKey(outcome.topViaText, request.callId, request.cseq, 'INVITE'));
        if (invite?.source.address === source.address) this.retransmitter.ackReceived(request.viaBranch);
      } else {
        const key = arrivalKey(outcome.topViaText, request.callId, request.cseq, request.method);
        this.arrivals.remember(key, { source, connection, transactionId: request.viaBranch, topVia });
      }
      this.events.emit('request', request, source);
    } else {
      const status = outcome.message.statusCode;
      if (status !== undefined) this.retransmitter.responseReceived(viaBranch(topVia) ?? '', outcome.message.method, status);
      this.events.emit('response', outcome.message, source);
    }
  }

  /** Answers a request sip.js will never see (400, 505, 513), when its head is readable enough to address one. */
  private refuse(headText: string, status: number, source: SipSource, connection: TcpConnection | undefined, reason?: string): void {
    const response = rawErrorResponse(headText, status, source, reason, { onConnection: connection !== undefined });
    const target = response && !connection && response.topVia ? udpResponseTarget(response.topVia) : undefined;
    if (!response || (!connection && !target)) {
      this.options.logger.debug({ status, protocol: source.protocol }, 'SIP garbage dropped');
      return;
    }
    this.counters.refused++;
    this.options.logger.debug({ status, protocol: source.protocol }, 'SIP request refused by transport');
    const bytes = Buffer.from(this.finish(response.text, source.protocol), 'utf8');
    const sent = connection ? connection.write(bytes) : target ? this.udpSend(bytes, target.address, target.port) : Promise.resolve();
    sent.catch((err: unknown) => this.options.logger.debug({ err: (err as Error).message }, 'SIP refusal not sent'));
  }

  // ---- outgoing ----

  private async sendResponse(text: string): Promise<void> {
    const route = this.arrivals.routeOf(text);
    try {
      await this.sendResponseVia(text, route.status, route.method, route.arrival, route.via);
    } finally {
      // A final response: the request's record is kept only as long as its responses may still need it.
      if (route.key !== undefined && route.status >= 200) this.arrivals.settle(route.key, route.method);
    }
  }

  /** Sends a response by its request's arrival, or else by its top Via. */
  private async sendResponseVia(text: string, status: number, method: string | undefined, arrival: Arrival | undefined, via: Via): Promise<void> {
    if (arrival ? arrival.source.protocol === 'TCP' : via.transport === 'TCP') {
      await this.sendOnConnection(text, arrival, via);
      return;
    }
    if (!arrival && via.transport !== 'UDP') throw new Error(`unsupported Via transport ${via.transport}`);
    // A UDP request's responses are datagrams, whatever transport its Via names.
    const target = udpResponseTarget(via);
    if (!target) throw new Error('no address for a UDP response');
    const bytes = Buffer.from(this.finish(text, 'UDP'), 'utf8');
    const id = arrival?.transactionId;
    if (status >= 300 && id !== undefined && method === 'INVITE' && this.isServerTransaction(id)) {
      // Armed before the packet leaves, so that even an immediate ACK finds it to stop.
      this.retransmitter.inviteRejectionSent(id, () => this.udpSendQuietly(bytes, target));
    }
    await this.udpSend(bytes, target.address, target.port);
  }

  /** A response to a TCP request: on its connection while open (or the one `received`/`rport` name), never on a new one. */
  private async sendOnConnection(text: string, arrival: Arrival | undefined, via: Via): Promise<void> {
    let connection = arrival?.connection;
    if (!arrival) {
      const named = responseRoute(via).connection;
      connection = named ? this.connections.get(named.address, named.port) : undefined;
    }
    if (!connection?.open) throw new Error("the request's connection is closed");
    await connection.write(Buffer.from(this.finish(text, 'TCP'), 'utf8'));
  }

  private async sendRequest(text: string): Promise<void> {
    const head = readHead(text);
    const requestLine = parseRequestLine(head.startLine);
    if (!requestLine) throw new Error('request without a readable request line');
    const hop = requestHop(head, requestLine.uri);
    if ('error' in hop) throw new Error(hop.error);
    const address = await this.resolve(hop.host);
    const callId = headerValue(head, 'call-id');
    if (callId !== undefined)
      this.events.emit('requestSent', callId, requestLine.method, { protocol: hop.protocol, address: normalizeAddress(address), port: hop.port });
    if (hop.protocol === 'TCP') {
      const connection = await this.connections.connectTo(address, hop.port);
      await connection.write(Buffer.from(this.finish(rewriteTopViaTransport(text, 'TCP'), 'TCP'), 'utf8'));
      return;
    }
    const bytes = Buffer.from(this.finish(text, 'UDP'), 'utf8');
    const via = topViaOf(head);
    const branch = via ? viaBranch(via) : undefined;
    // Armed before the packet leaves, so that even an immediate response finds it to stop.
    if (branch !== undefined) this.retransmitter.requestSent(branch, requestLine.method, () => this.udpSendQuietly(bytes, { address, port: hop.port }));
    await this.udpSend(bytes, address, hop.port);
  }

  private finish(text: string, protocol: SipProtocol): string {
    return this.rewriteOutgoing(text, protocol);
  }

  private resolve(host: string): Promise<string> {
    return resolveHost(host, this.family === 4 ? 4 : 0);
  }

  private udpSend(bytes: Buffer, address: string, port: number): Promise<void> {
    const target = this.family === 6 && isIP(address) === 4 ? `::ffff:${address}` : address;
    return new Promise((resolve, reject) => {
      this.udp.send(bytes, port, target, (err) => (err ? reject(err) : resolve()));
    });
  }

  private udpSendQuietly(bytes: Buffer, destination: { address: string; port: number }): void {
    if (this.closing) return;
    this.udpSend(bytes, destination.address, destination.port).catch((err: unknown) =>
      this.options.logger.debug({ err: (err as Error).message }, 'SIP retransmission failed'),
    );
  }
}
