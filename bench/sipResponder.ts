/**
 * A stateless SIP responder over UDP for benchmark 6's limit: what SIPp's call set-up scenario
 * reaches on this machine when the other side does next to nothing. An INVITE gets a 100 and a
 * 200 with an SDP answer of PCMU, a BYE (or any other request but ACK) a 200, an ACK nothing, a
 * response nothing. No SIP library, no transaction or dialog state: each answer copies the
 * request's Via lines, From, To (with a To tag made from the Call-ID, so the same on every
 * answer of a call), Call-ID and CSeq, and is sent back to the packet's source.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface SipResponder {
  readonly port: number;
  /** Requests answered so far, by method. */
  readonly answered: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/** Compact header names (RFC 3261 §7.3.3) of the fields copied into answers. */
const COMPACT: Readonly<Record<string, string>> = { v: 'via', f: 'from', t: 'to', i: 'call-id' };
const COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

/** FNV-1a of the Call-ID, as hex: a To tag that every answer of one call repeats, with no state. */
function tagOf(callId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < callId.length; i++) hash = Math.imul(hash ^ callId.charCodeAt(i), 0x01000193);
  return `r${(hash >>> 0).toString(16)}`;
}

function answer(status: string, head: readonly string[], contact: string, body = ''): string {
  const lines = [`SIP/2.0 ${status}`, ...head, `Contact: ${contact}`];
  if (body !== '') lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

/** Starts the responder on 127.0.0.1:`port` (0: any free port). */
export async function startSipResponder(port = 0): Promise<SipResponder> {
  const socket: Socket = createSocket('udp4');
  const answered = new Map<string, number>();
  let contact = '';
  let sdp = '';

  socket.on('message', (data: Buffer, from: RemoteInfo) => {
    const text = data.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    const lines = (headEnd === -1 ? text : text.slice(0, headEnd)).split('\r\n');
    const startLine = lines[0] ?? '';
    if (startLine.startsWith('SIP/2.0 ')) return;
    const method = startLine.slice(0, startLine.indexOf(' '));
    if (method === 'ACK' || method === '') return;

    const head: string[] = [];
    let callId = '';
    let toAt = -1;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const raw = line.slice(0, colon).trim().toLowerCase();
      const name = COMPACT[raw] ?? raw;
      if (!COPIED.has(name)) continue;
      if (name === 'call-id') callId = line.slice(colon + 1).trim();
      if (name === 'to') toAt = head.length;
      head.push(line);
    }
    const to = head[toAt];
    if (to !== undefined && !/;\s*tag\s*=/i.test(to)) head[toAt] = `${to};tag=${tagOf(callId)}`;

    const send = (message: string): void => socket.send(message, from.port, from.address);
    if (method === 'INVITE') {
      send(answer('100 Trying', head, contact));
      send(answer('200 OK', head, contact, sdp));
    } else {
      send(answer('200 OK', head, contact));
    }
    answered.set(method, (answered.get(method) ?? 0) + 1);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const bound = socket.address().port;
  contact = `<sip:responder@127.0.0.1:${bound};transport=udp>`;
  // The media port is never listened on: SIPp sends no RTP in this scenario.
  sdp = [
    'v=0',
    'o=responder 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 40000 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');

  let closed: Promise<void> | undefined;
  return {
    port: bound,
    answered,
    close() {
      closed ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closed;
    },
  };
}
