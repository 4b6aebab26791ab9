import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';

/**
 * SIP inputs: seed messages (RFC 4475's torture messages byte for byte, and typical messages of
 * the calls the gateway takes part in), and mutations of them — byte flips, truncation, inserted
 * bytes, header lines duplicated, removed or made huge, Content-Length lies, other line endings,
 * random SDP bodies and headers. Everything shrinks: fast-check reports the smallest failing input.
 */

const RFC4475_DIR = join(import.meta.dirname, '..', 'test', 'sip', 'rfc4475');

/** RFC 4475 §3.1 messages, as the RFC publishes them. */
export function rfc4475Seeds(): { name: string; bytes: Buffer }[] {
  return readdirSync(RFC4475_DIR)
    .filter((f) => f.endsWith('.dat'))
    .sort()
    .map((f) => ({ name: `rfc4475/${f}`, bytes: readFileSync(join(RFC4475_DIR, f)) }));
}

const SDP_OFFER = [
  'v=0',
  'o=caller 2890844526 2890844526 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

function message(startLine: string, headers: string[], body = ''): Buffer {
  const lines = [startLine, ...headers, `Content-Length: ${Buffer.byteLength(body)}`];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

function dialogHeaders(method: string, cseq = 1, toTag = ''): string[] {
  return [
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    `To: <sip:fuzz@127.0.0.1>${toTag}`,
    'From: "Caller" <sip:caller@127.0.0.1>;tag=1928301774',
    'Call-ID: a84b4c76e66710@127.0.0.1',
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:caller@127.0.0.1:5070>',
  ];
}

/** Typical messages: INVITE with SDP, re-INVITE on hold, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, responses. */
export function typicalSeeds(): { name: string; bytes: Buffer }[] {
  const sdp = ['Content-Type: application/sdp'];
  const hold = SDP_OFFER.replace('a=sendrecv', 'a=sendonly');
  return [
    {
      name: 'INVITE with SDP',
      bytes: message('INVITE sip:fuzz@127.0.0.1 SIP/2.0', [...dialogHeaders('INVITE'), 'Supported: timer', 'Session-Expires: 1800', ...sdp], SDP_OFFER),
    },
    { name: 're-INVITE (hold)', bytes: message('INVITE sip:fuzz@127.0.0.1 SIP/2.0', [...dialogHeaders('INVITE', 2, ';tag=gw1'), ...sdp], hold) },
    { name: 'ACK', bytes: message('ACK sip:fuzz@127.0.0.1 SIP/2.0', dialogHeaders('ACK', 1, ';tag=gw1')) },
    { name: 'BYE', bytes: message('BYE sip:fuzz@127.0.0.1 SIP/2.0', dialogHeaders('BYE', 3, ';tag=gw1')) },
    { name: 'CANCEL', bytes: message('CANCEL sip:fuzz@127.0.0.1 SIP/2.0', dialogHeaders('CANCEL')) },
    { name: 'OPTIONS', bytes: message('OPTIONS sip:fuzz@127.0.0.1 SIP/2.0', [...dialogHeaders('OPTIONS'), 'Accept: application/sdp']) },
    {
      name: 'REGISTER',
      bytes: message('REGISTER sip:127.0.0.1 SIP/2.0', [
        ...dialogHeaders('REGISTER'),
        'Expires: 3600',
        'Authorization: Digest username="caller", realm="legway", nonce="abc", uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef"',
      ]),
    },
    {
      name: 'INFO (DTMF)',
      bytes: message(
        'INFO sip:fuzz@127.0.0.1 SIP/2.0',
        [...dialogHeaders('INFO', 4, ';tag=gw1'), 'Content-Type: application/dtmf-relay'],
        'Signal=5\r\nDuration=160\r\n',
      ),
    },
    { name: '100 Trying', bytes: message('SIP/2.0 100 Trying', dialogHeaders('INVITE')) },
    { name: '180 Ringing', bytes: message('SIP/2.0 180 Ringing', dialogHeaders('INVITE', 1, ';tag=callee1')) },
    { name: '200 OK with SDP', bytes: message('SIP/2.0 200 OK', [...dialogHeaders('INVITE', 1, ';tag=callee1'), ...sdp], SDP_OFFER) },
    {
      name: '401 with challenge',
      bytes: message('SIP/2.0 401 Unauthorized', [
        ...dialogHeaders('INVITE', 1, ';tag=callee1'),
        'WWW-Authenticate: Digest realm="trunk", nonce="x1y2", algorithm=MD5, qop="auth"',
      ]),
    },
    { name: '487 Request Terminated', bytes: message('SIP/2.0 487 Request Terminated', dialogHeaders('INVITE', 1, ';tag=callee1')) },
    {
      name: 'compact forms',
      bytes: message('OPTIONS sip:fuzz@127.0.0.1 SIP/2.0', [
        'v: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-c1',
        'f: <sip:a@127.0.0.1>;tag=1',
        't: <sip:b@127.0.0.1>',
        'i: compact@x',
        'CSeq: 9 OPTIONS',
      ]),
    },
  ];
}

/** Every seed, RFC 4475 first. */
export function sipSeeds(): { name: string; bytes: Buffer }[] {
  return [...rfc4475Seeds(), ...typicalSeeds()];
}

/** One change to a message. */
export type SipMutation =
  | { readonly kind: 'flip'; readonly at: number; readonly byte: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'duplicate-line'; readonly line: number }
  | { readonly kind: 'remove-line'; readonly line: number }
  | { readonly kind: 'huge-value'; readonly line: number; readonly size: number; readonly char: string }
  | { readonly kind: 'content-length'; readonly value: string }
  | { readonly kind: 'line-ending'; readonly ending: string }
  | { readonly kind: 'body'; readonly body: string }
  | { readonly kind: 'header'; readonly line: number; readonly text: string };

const HEADER_NAMES = [
  'Via',
  'v',
  'From',
  'f',
  'To',
  't',
  'Call-ID',
  'i',
  'CSeq',
  'Contact',
  'm',
  'Content-Length',
  'l',
  'Content-Type',
  'c',
  'Max-Forwards',
  'Expires',
  'Route',
  'Record-Route',
  'Session-Expires',
  'Supported',
  'Require',
  'Authorization',
  'Proxy-Authorization',
  'WWW-Authenticate',
  'Date',
  'Retry-After',
  'X-Fuzz',
];

const SDP_LINES = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  'c=IN IP4 0.0.0.0',
  'c=IN IP6 ::1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'm=audio 0 RTP/AVP 0',
  'm=audio 65535 RTP/AVP 127',
  'm=audio 4000 RTP/SAVP 0',
  'm=video 5000 RTP/AVP 96',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtpmap:101 telephone-event/48000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  'a=ptime:0',
  'a=maxptime:-1',
  'a=rtcp:0',
  'a=rtcp:70000 IN IP4 127.0.0.1',
  'a=sendonly',
  'a=recvonly',
  'a=inactive',
];

const sdpLine = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SDP_LINES) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom('v', 'o', 's', 'c', 't', 'm', 'a', 'b', 'k', 'z', 'x'), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}=${v}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60, unit: 'binary' }) },
);

/** An SDP-like body: real lines, lines of the right shape with random values, and junk. */
export const sdpBody = fc.array(sdpLine, { maxLength: 16 }).map((lines) => (lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`));

const mutation: fc.Arbitrary<SipMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('duplicate-line' as const), line: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove-line' as const), line: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('huge-value' as const),
      line: fc.nat(),
      size: fc.integer({ min: 256, max: 70_000 }),
      char: fc.constantFrom('a', ' ', ';', ',', '%', '"', '<', '\t', '\u00e9'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('content-length' as const),
      value: fc.oneof(
        fc.constantFrom('0', '-1', '1', '99999999999', '4294967296', ' 12', '12 ', '0x10', '1e3', ''),
        fc.nat().map(String),
        fc.string({ maxLength: 8 }),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('line-ending' as const), ending: fc.constantFrom('\n', '\r', '\r\r\n', '\n\r', '\r\n ', '\r\n\t') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('body' as const), body: sdpBody }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('header' as const),
      line: fc.nat(),
      text: fc
        .tuple(fc.constantFrom(...HEADER_NAMES), fc.constantFrom(':', ' :', ': ', ':\t'), fc.string({ maxLength: 80 }))
        .map(([n, sep, v]) => `${n}${sep}${v}`),
    }),
  },
);

/** A message to send: a seed and the mutations made to it, in order. */
export interface SipInput {
  readonly seed: number;
  readonly mutations: readonly SipMutation[];
}

/** Seeds by index (shrinks towards the first seed and fewer mutations). */
export function sipInput(seedCount: number): fc.Arbitrary<SipInput> {
  return fc.record({ seed: fc.nat({ max: seedCount - 1 }), mutations: fc.array(mutation, { maxLength: 5 }) });
}

const CRLF = '\r\n';

function splitMessage(text: string): { lines: string[]; body: string } {
  const end = text.indexOf(CRLF + CRLF);
  if (end < 0) return { lines: text.split(CRLF), body: '' };
  return { lines: text.slice(0, end).split(CRLF), body: text.slice(end + 4) };
}

function joinMessage(lines: readonly string[], body: string): string {
  return `${lines.join(CRLF)}${CRLF}${CRLF}${body}`;
}

/** Applies one mutation. Line edits work on the latin1 text, so that every byte survives them. */
export function mutate(bytes: Buffer, m: SipMutation): Buffer {
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      out[m.at % out.length] = m.byte;
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, bytes.length === 0 ? 0 : m.at % bytes.length);
    case 'insert': {
      const at = m.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    }
    default:
      return Buffer.from(mutateText(bytes.toString('latin1'), m), 'latin1');
  }
}

function mutateText(text: string, m: SipMutation): string {
  const { lines, body } = splitMessage(text);
  // Line 0 is the start line: header edits pick among the others when there are any.
  const pick = (n: number): number => (lines.length <= 1 ? 0 : 1 + (n % (lines.length - 1)));
  switch (m.kind) {
    case 'duplicate-line': {
      const i = pick(m.line);
      return joinMessage([...lines.slice(0, i + 1), lines[i] ?? '', ...lines.slice(i + 1)], body);
    }
    case 'remove-line': {
      const i = pick(m.line);
      return joinMessage([...lines.slice(0, i), ...lines.slice(i + 1)], body);
    }
    case 'huge-value': {
      const i = pick(m.line);
      return joinMessage([...lines.slice(0, i), `${lines[i] ?? 'X-Fuzz:'}${m.char.repeat(m.size)}`, ...lines.slice(i + 1)], body);
    }
    case 'content-length': {
      const kept = lines.filter((l) => !/^(content-length|l)[ \t]*:/i.test(l));
      return joinMessage([...kept, `Content-Length: ${m.value}`], body);
    }
    case 'line-ending':
      return text.replaceAll(CRLF, m.ending);
    case 'body': {
      const kept = lines.filter((l) => !/^(content-length|l)[ \t]*:/i.test(l));
      return joinMessage([...kept, `Content-Length: ${Buffer.byteLength(m.body, 'latin1')}`], m.body);
    }
    case 'header': {
      const i = pick(m.line);
      return joinMessage([...lines.slice(0, i), m.text, ...lines.slice(i)], body);
    }
    default:
      return text;
  }
}

/** The bytes of an input. */
export function build(seeds: readonly { bytes: Buffer }[], input: SipInput): Buffer {
  let bytes = seeds[input.seed]?.bytes ?? Buffer.alloc(0);
  for (const m of input.mutations) bytes = mutate(bytes, m);
  return bytes;
}

/** How an input is described when it fails: its seed's name and the message in JSON (every byte visible). */
export function describeSipInput(seeds: readonly { name: string; bytes: Buffer }[], input: SipInput): string {
  const bytes = build(seeds, input);
  const shown = bytes.length > 600 ? `${bytes.subarray(0, 600).toString('latin1')}… (${bytes.length} bytes)` : bytes.toString('latin1');
  return `seed ${seeds[input.seed]?.name ?? '?'}, mutations ${JSON.stringify(input.mutations)}\nmessage: ${JSON.stringify(shown)}`;
}
