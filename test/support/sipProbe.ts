/**
 * A bare SIP user agent on one UDP socket, for probing the gateway with many calls at once (where
 * SIPp's one-scenario-per-run and sip.js's bookkeeping get in the way): it sends INVITEs written
 * by hand, keeps every response by Call-ID, and behaves as a caller must so that the gateway is
 * not left retransmitting — a non-2xx final is ACKed in its transaction, a 2xx gets an ACK of its
 * own (unless told to hold it back), and a request from the gateway in a call (BYE) is answered
 * 200. An INVITE is retransmitted every 500 ms until anything answers it (RFC 3261 Timer A, flat).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

/** One SIP message as received. */
export interface SipMessage {
  /** The first line. */
  readonly startLine: string;
  /** Status code of a response, undefined for a request. */
  readonly status: number | undefined;
  /** Method of a request, undefined for a response. */
  readonly method: string | undefined;
  readonly text: string;
  /** The first value of a header (case-insensitive, compact forms understood). */
  header(name: string): string | undefined;
  /** The body, after the blank line. */
  readonly body: string;
}

const COMPACT: Record<string, string> = { i: 'call-id', v: 'via', f: 'from', t: 'to', m: 'contact', l: 'content-length', c: 'content-type' };

export function parseSip(text: string): SipMessage | undefined {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 4);
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const raw = line.slice(0, colon).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    const list = headers.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(name, list);
  }
  const response = /^SIP\/2\.0 (\d{3}) /.exec(startLine);
  const request = /^([A-Z]+) \S+ SIP\/2\.0$/.exec(startLine);
  if (!response && !request) return undefined;
  return {
    startLine,
    status: response ? Number(response[1]) : undefined,
    method: request?.[1],
    text,
    body,
    header: (name) => headers.get(COMPACT[name.toLowerCase()] ?? name.toLowerCase())?.[0],
  };
}

/** An SDP offer of PCMU (and telephone-event) on `port` of 127.0.0.1. */
export function pcmuOffer(port: number): string {
  return [
    'v=0',
    'o=probe 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export interface InviteOptions {
  /** The dialled user (Request-URI and To). */
  user: string;
  /** The From user; `probe` by default. */
  fromUser?: string;
  /** The SDP offer; `pcmuOffer(9)` by default (the discard port: nothing listens), `null` for none. */
  sdp?: string | null;
  /** Whether a 200 gets its ACK at once; true by default. */
  ackOn200?: boolean;
}

/** One INVITE sent by the probe, and everything it got back. */
export class ProbeCall {
  readonly responses: SipMessage[] = [];
  /** Requests the gateway sent in this call's dialog (BYE…), each answered 200. */
  readonly requests: SipMessage[] = [];
  acked = false;
  private retransmit: NodeJS.Timeout | undefined;
  private ackedTo: string | undefined;

  constructor(
    private readonly probe: SipProbe,
    readonly callId: string,
    readonly branch: string,
    readonly fromTag: string,
    readonly options: InviteOptions,
    readonly invite: string,
  ) {}

  /** The first final response (200–699), if any came. */
  get final(): SipMessage | undefined {
    return this.responses.find((r) => (r.status ?? 0) >= 200);
  }

  /** Whether anything (a provisional or final response) answered the INVITE. */
  get answered(): boolean {
    return this.responses.length > 0;
  }

  /** ACKs the 2xx (a new transaction in the dialog); harmless twice. */
  ack(): void {
    const ok = this.final;
    if (!ok || ok.status !== 200 || this.acked) return;
    this.acked = true;
    this.ackedTo = ok.header('to');
    this.probe.send(this.inDialog('ACK', 1, `z9hG4bK-${randomBytes(6).toString('hex')}`, ok));
  }

  /** Sends BYE in the dialog of its 2xx (after ACKing it, if not yet). */
  bye(): void {
    const ok = this.final;
    if (!ok || ok.status !== 200) return;
    this.ack();
    this.probe.send(this.inDialog('BYE', 2, `z9hG4bK-${randomBytes(6).toString('hex')}`, ok));
  }

  /** Sends CANCEL for the INVITE (same branch, as RFC 3261 §9.1 says). */
  cancel(): void {
    const { user } = this.options;
    this.probe.send(
      [
        `CANCEL ${this.probe.requestUri(user)} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.probe.port};branch=${this.branch};rport`,
        `From: <sip:${this.options.fromUser ?? 'probe'}@127.0.0.1>;tag=${this.fromTag}`,
        `To: <${this.probe.requestUri(user)}>`,
        `Call-ID: ${this.callId}`,
        'CSeq: 1 CANCEL',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  }

  /** @internal */
  startRetransmitting(): void {
    let left = 6;
    const again = (): void => {
      if (this.answered || left-- <= 0 || this.probe.closed) return;
      this.probe.send(this.invite);
      this.retransmit = setTimeout(again, 500);
    };
    this.retransmit = setTimeout(again, 500);
  }

  /** @internal */
  receiveResponse(message: SipMessage): void {
    clearTimeout(this.retransmit);
    const cseq = message.header('cseq') ?? '';
    if (!cseq.endsWith('INVITE')) {
      this.responses.push(message);
      return;
    }
    this.responses.push(message);
    const status = message.status ?? 0;
    if (status >= 300) {
      // ACK of a non-2xx final: same branch, the response's To (with its tag), CSeq 1 ACK.
      this.probe.send(
        [
          `ACK ${this.probe.requestUri(this.options.user)} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${this.probe.port};branch=${this.branch};rport`,
          `From: <sip:${this.options.fromUser ?? 'probe'}@127.0.0.1>;tag=${this.fromTag}`,
          `To: ${message.header('to') ?? ''}`,
          `Call-ID: ${this.callId}`,
          'CSeq: 1 ACK',
          'Max-Forwards: 70',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    } else if (status === 200) {
      // A retransmitted 200 gets the same ACK again.
      if (this.acked && this.ackedTo === message.header('to')) {
        this.acked = false;
        this.ack();
      } else if (this.options.ackOn200 ?? true) {
        this.ack();
      }
    }
  }

  private inDialog(method: 'ACK' | 'BYE', cseq: number, branch: string, ok: SipMessage): string {
    const contact = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? this.probe.requestUri(this.options.user);
    return [
      `${method} ${contact} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.probe.port};branch=${branch};rport`,
      `From: <sip:${this.options.fromUser ?? 'probe'}@127.0.0.1>;tag=${this.fromTag}`,
      `To: ${ok.header('to') ?? ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }
}

/** The probe: one UDP socket on 127.0.0.1 talking to the gateway's SIP port. */
export class SipProbe {
  readonly calls = new Map<string, ProbeCall>();
  /** Datagrams that were not SIP. */
  garbage = 0;
  closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly gateway: { address: string; port: number },
  ) {
    socket.on('message', (data) => this.receive(data.toString('utf8')));
    // ICMP errors and the like: a probe only counts what it receives.
    socket.on('error', () => undefined);
  }

  static async open(gateway: { address: string; port: number }): Promise<SipProbe> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new SipProbe(socket, gateway);
  }

  get port(): number {
    return this.socket.address().port;
  }

  requestUri(user: string): string {
    return `sip:${user}@${this.gateway.address}:${this.gateway.port}`;
  }

  /** Sends an INVITE (retransmitted until answered); the call collects what comes back. */
  invite(options: InviteOptions): ProbeCall {
    const id = randomBytes(8).toString('hex');
    const callId = `probe-${id}@127.0.0.1`;
    const branch = `z9hG4bK-${id}`;
    const fromTag = `t${id}`;
    const sdp = options.sdp === undefined ? pcmuOffer(9) : options.sdp;
    const body = sdp ?? '';
    const text = [
      `INVITE ${this.requestUri(options.user)} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      `From: <sip:${options.fromUser ?? 'probe'}@127.0.0.1>;tag=${fromTag}`,
      `To: <${this.requestUri(options.user)}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:${options.fromUser ?? 'probe'}@127.0.0.1:${this.port}>`,
      'Max-Forwards: 70',
      ...(sdp === null ? [] : ['Content-Type: application/sdp']),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    const call = new ProbeCall(this, callId, branch, fromTag, options, text);
    this.calls.set(callId, call);
    this.send(text);
    call.startRetransmitting();
    return call;
  }

  /**
   * Sends `count` INVITEs made by `make(i)`: `perTick` of them every `tickMs`, and never more than
   * `maxOutstanding` (when given) still waiting for their final response — a flood the gateway
   * can take, rather than one that only fills its socket buffer. Resolves once all are sent.
   */
  async inviteMany(
    count: number,
    make: (i: number) => InviteOptions,
    pace: { perTick: number; tickMs: number; maxOutstanding?: number },
  ): Promise<ProbeCall[]> {
    const sent: ProbeCall[] = [];
    let outstanding: ProbeCall[] = [];
    for (let i = 0; i < count; i++) {
      if (pace.maxOutstanding !== undefined) {
        for (;;) {
          outstanding = outstanding.filter((c) => c.final === undefined);
          if (outstanding.length < pace.maxOutstanding || this.closed) break;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      const call = this.invite(make(i));
      sent.push(call);
      outstanding.push(call);
      if ((i + 1) % pace.perTick === 0 && i + 1 < count) await new Promise((r) => setTimeout(r, pace.tickMs));
    }
    return sent;
  }

  /** @internal */
  send(text: string): void {
    if (this.closed) return;
    this.socket.send(text, this.gateway.port, this.gateway.address);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(text: string): void {
    const message = parseSip(text);
    if (!message) {
      this.garbage++;
      return;
    }
    const call = this.calls.get(message.header('call-id') ?? '');
    if (message.status !== undefined) {
      call?.receiveResponse(message);
      return;
    }
    // A request from the gateway (BYE in a dialog): answered 200, kept with its call.
    call?.requests.push(message);
    if (message.method === 'ACK') return;
    const echo = ['via', 'from', 'to', 'call-id', 'cseq'].map(
      (h) => `${h === 'call-id' ? 'Call-ID' : h === 'cseq' ? 'CSeq' : h[0]!.toUpperCase() + h.slice(1)}: ${message.header(h) ?? ''}`,
    );
    this.send(['SIP/2.0 200 OK', ...echo, 'Content-Length: 0', '', ''].join('\r\n'));
  }
}
