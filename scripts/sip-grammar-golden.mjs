// Writes test/sip/sip-grammar-golden.json: what sip.js's SIP grammar makes of a corpus of messages,
// recorded from an UNPATCHED sip.js, so that test/unit/sip-grammar-patch.test.ts can check that our
// patch (patches/sip.js+*.patch: the grammar's bytecode decoded once per process instead of once
// per parse) changes nothing a parse returns.
//
// The corpus: every RFC 4475 torture message in test/sip/rfc4475 (decoded as UTF-8, as the SIP
// transport does, and as Latin-1 too where that differs), typical dialog messages with many kinds
// of header field, and a few lone values for the rules no header reaches. For each message it
// records Core.Parser.parseMessage (start line, the fields sip.js sets, every header as stored and
// as parsed on demand, the body, what it logged), and for every header value (and the start line)
// Grammar.parse(value, rule) for every start rule of the grammar, plus where each failing parse
// failed and the full syntax error for the rule named after the header.
//
// Usage (the fixture is only meaningful from an unpatched sip.js):
//   node scripts/sip-grammar-golden.mjs [--sipjs <dir of an unpatched sip.js package>] [--out <file>]
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const sipjsDir = resolve(option('--sipjs') ?? join(root, 'node_modules', 'sip.js'));
const out = resolve(option('--out') ?? join(root, 'test', 'sip', 'sip-grammar-golden.json'));

const sipjs = await import(pathToFileURL(join(sipjsDir, 'lib', 'index.js')).href);
const peg = await import(pathToFileURL(join(sipjsDir, 'lib', 'grammar', 'pegjs', 'dist', 'grammar.js')).href);
const { version } = JSON.parse(readFileSync(join(sipjsDir, 'package.json'), 'utf8'));
const grammarSource = readFileSync(join(sipjsDir, 'lib', 'grammar', 'pegjs', 'dist', 'grammar.js'), 'utf8');
if (grammarSource.includes('legway-patch')) {
  console.error(`sip-grammar-golden: ${sipjsDir} is patched; the golden fixture must come from an unpatched sip.js (use --sipjs)`);
  process.exit(1);
}

/** The grammar's start rules, as its generated parser lists them (peg$startRuleIndices). */
const rules = Object.keys(JSON.parse(/peg\$startRuleIndices = (\{[^}]*\})/.exec(grammarSource)[1].replace(/(\w+):/g, '"$1":')));

const crlf = (lines) => lines.join('\r\n');
const sdp = crlf([
  'v=0',
  'o=- 3710583411 3710583411 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 9 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=sendrecv',
  '',
]);
const withBody = (head, body) => `${crlf([...head, `Content-Length: ${Buffer.byteLength(body)}`, '', ''])}${body}`;
const noBody = (head) => crlf([...head, 'Content-Length: 0', '', '']);

/** Typical messages of a call, a registration, a transfer and their failures, with many kinds of header field. */
const typical = [
  [
    'invite-sdp',
    withBody(
      [
        'INVITE sip:+15551234567@gw.example.com:5060;user=phone;transport=udp SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds;rport;received=198.51.100.7',
        'Via: SIP/2.0/TCP proxy.example.net;branch=z9hG4bK-proxy-1;maddr=224.2.0.1;ttl=16, SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKv6',
        'Max-Forwards: 70',
        'Route: <sip:edge.example.com;lr>, <sip:core.example.com:5080;transport=tcp;lr>',
        'Record-Route: <sip:rr1.example.net;lr;ftag=9fxced76sl>',
        'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
        'To: Bob <sip:bob@biloxi.example.com>',
        'Call-ID: 3848276298220188511@atlanta.example.com',
        'CSeq: 314159 INVITE',
        'Contact: "Alice" <sip:alice@192.0.2.10:5061;transport=udp;ob>;expires=3600;q=0.7;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"',
        'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, UPDATE, PRACK, INFO',
        'Supported: timer, replaces, 100rel, norefersub',
        'Session-Expires: 1800;refresher=uac',
        'Min-SE: 90',
        'User-Agent: softphone/1.2.3 (Linux)',
        'P-Asserted-Identity: "Alice" <sip:+15550001111@atlanta.example.com;user=phone>',
        'Content-Type: application/sdp',
        'Content-Disposition: session;handling=required',
      ],
      sdp,
    ),
  ],
  [
    'trying-100',
    noBody([
      'SIP/2.0 100 Trying',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds;rport=5061;received=198.51.100.7',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 INVITE',
    ]),
  ],
  [
    'ringing-180',
    noBody([
      'SIP/2.0 180 Ringing',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds;rport=5061;received=198.51.100.7',
      'Record-Route: <sip:rr2.example.net;lr>, <sip:rr1.example.net;lr;ftag=9fxced76sl>',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:bob@192.0.2.4>',
      'Require: 100rel',
      'RSeq: 988789',
    ]),
  ],
  [
    'ok-200-invite',
    withBody(
      [
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds;rport=5061;received=198.51.100.7',
        'Record-Route: <sip:rr2.example.net;lr>',
        'Record-Route: <sip:rr1.example.net;lr;ftag=9fxced76sl>',
        'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
        'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
        'Call-ID: 3848276298220188511@atlanta.example.com',
        'CSeq: 314159 INVITE',
        'Contact: <sip:bob@192.0.2.4;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
        'Session-Expires: 1800;refresher=uas',
        'Require: timer',
        'Supported: timer',
        'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS',
        'Content-Type: application/sdp; charset=UTF-8',
      ],
      sdp,
    ),
  ],
  [
    'ack',
    noBody([
      'ACK sip:bob@192.0.2.4;transport=udp SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKnashds9;rport',
      'Route: <sip:rr1.example.net;lr;ftag=9fxced76sl>, <sip:rr2.example.net;lr>',
      'Max-Forwards: 70',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 ACK',
    ]),
  ],
  [
    'bye-compact',
    noBody([
      'BYE sip:alice@192.0.2.10:5061;transport=udp SIP/2.0',
      'v: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKbye1',
      'f: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      't: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'i: 3848276298220188511@atlanta.example.com',
      'CSeq: 231 BYE',
      'Max-Forwards: 69',
      'Reason: Q.850;cause=16;text="Normal call clearing"',
    ]),
  ],
  [
    'ok-200-bye',
    noBody([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKbye1',
      'From: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      'To: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 231 BYE',
    ]),
  ],
  [
    'register',
    noBody([
      'REGISTER sips:registrar.example.com SIP/2.0',
      'Via: SIP/2.0/TLS client.example.com:5061;branch=z9hG4bKnashds7;alias',
      'Max-Forwards: 70',
      'From: <sips:bob@example.com>;tag=a73kszlfl',
      'To: <sips:bob@example.com>',
      'Call-ID: 1j9FpLxk3uxtm8tn@client.example.com',
      'CSeq: 2 REGISTER',
      'Contact: <sips:bob@client.example.com:5061>;expires=3600;reg-id=1;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", <sip:bob@192.0.2.201;transport=tcp>;expires=7200',
      'Authorization: Digest username="bob", realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sips:registrar.example.com", response="dfe56131d1958046689d83306477ecc", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001, opaque=""',
      'Expires: 3600',
      'Supported: path, gruu, outbound',
    ]),
  ],
  [
    'unauthorized-401',
    noBody([
      'SIP/2.0 401 Unauthorized',
      'Via: SIP/2.0/TLS client.example.com:5061;branch=z9hG4bKnashds7;alias;received=192.0.2.201',
      'From: <sips:bob@example.com>;tag=a73kszlfl',
      'To: <sips:bob@example.com>;tag=1410948204',
      'Call-ID: 1j9FpLxk3uxtm8tn@client.example.com',
      'CSeq: 1 REGISTER',
      'WWW-Authenticate: Digest realm="example.com", qop="auth,auth-int", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5',
    ]),
  ],
  [
    'proxy-auth-407',
    noBody([
      'SIP/2.0 407 Proxy Authentication Required',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=3flal12sf',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Proxy-Authenticate: Digest realm="atlanta.example.com", domain="sip:ss1.example.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=true, algorithm=SHA-256',
    ]),
  ],
  [
    'options',
    noBody([
      'OPTIONS sip:carol@chicago.example.com SIP/2.0',
      'Via: SIP/2.0/SCTP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877',
      'Max-Forwards: 70',
      'To: <sip:carol@chicago.example.com>',
      'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
      'Call-ID: a84b4c76e66710',
      'CSeq: 63104 OPTIONS',
      'Contact: <sip:alice@pc33.atlanta.example.com>',
      'Accept: application/sdp',
      'Accept-Encoding: gzip',
      'Accept-Language: en',
    ]),
  ],
  [
    'refer-replaces',
    noBody([
      'REFER sip:bob@192.0.2.4 SIP/2.0',
      'Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKrefer1',
      'Max-Forwards: 70',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 93809824 REFER',
      'Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>',
      'Refer-To: <sip:carol@cleveland.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>',
      'Referred-By: <sip:alice@atlanta.example.com>;cid="20398823.2UWQFN309shb3@atlanta.example.com"',
    ]),
  ],
  [
    'invite-replaces',
    withBody(
      [
        'INVITE sip:carol@cleveland.example.org SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnas432',
        'Max-Forwards: 70',
        'To: <sip:carol@cleveland.example.org>',
        'From: Bob <sip:bob@biloxi.example.com>;tag=1234',
        'Call-ID: 425928@bobster.example.org',
        'CSeq: 1 INVITE',
        'Replaces: 12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994;early-only',
        'Referred-By: <sip:alice@atlanta.example.com>',
        'Contact: <sip:bob@192.0.2.4>',
        'Content-Type: application/sdp',
      ],
      sdp,
    ),
  ],
  [
    'notify-sipfrag',
    withBody(
      [
        'NOTIFY sip:alice@192.0.2.10:5061 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnotify1',
        'Max-Forwards: 70',
        'To: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
        'From: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
        'Call-ID: 3848276298220188511@atlanta.example.com',
        'CSeq: 1993402 NOTIFY',
        'Event: refer;id=93809824',
        'Subscription-State: terminated;reason=noresource',
        'Contact: <sip:bob@192.0.2.4>',
        'Content-Type: message/sipfrag;version=2.0',
      ],
      'SIP/2.0 200 OK\r\n',
    ),
  ],
  [
    'subscribe-active',
    noBody([
      'SUBSCRIBE sip:presentity@example.com SIP/2.0',
      'Via: SIP/2.0/TCP watcherhost.example.com;branch=z9hG4bKnashds7',
      'To: <sip:presentity@example.com>',
      'From: <sip:watcher@example.com>;tag=xfg9',
      'Call-ID: 2010@watcherhost.example.com',
      'CSeq: 17766 SUBSCRIBE',
      'Max-Forwards: 70',
      'Event: presence',
      'Accept: application/pidf+xml',
      'Subscription-State: active;expires=600',
      'Contact: <sip:user@watcherhost.example.com>',
      'Expires: 600',
    ]),
  ],
  [
    'info-dtmf',
    withBody(
      [
        'INFO sip:bob@192.0.2.4 SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKinfo1',
        'From: <sip:alice@atlanta.example.com>;tag=9fxced76sl',
        'To: <sip:bob@biloxi.example.com>;tag=8321234356',
        'Call-ID: 3848276298220188511@atlanta.example.com',
        'CSeq: 314160 INFO',
        'Content-Type: application/dtmf-relay',
      ],
      'Signal=5\r\nDuration=160\r\n',
    ),
  ],
  [
    'moved-302',
    noBody([
      'SIP/2.0 302 Moved Temporarily',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=99',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Contact: <sip:bob@192.0.2.44>;q=0.9, "Bob Mobile" <sip:+15557654321@mobile.example.com;user=phone>;q=0.1, sip:bob@198.51.100.1:5090',
    ]),
  ],
  [
    'busy-486',
    noBody([
      'SIP/2.0 486 Busy Here',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>;tag=1a2b',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 INVITE',
      'Retry-After: 60',
      'Warning: 399 biloxi.example.com "busy"',
    ]),
  ],
  [
    'cancel',
    noBody([
      'CANCEL sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK776asdhds',
      'Max-Forwards: 70',
      'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: Bob <sip:bob@biloxi.example.com>',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314159 CANCEL',
    ]),
  ],
  [
    'update-session-timer',
    noBody([
      'UPDATE sip:bob@192.0.2.4 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKupd1',
      'From: <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: <sip:bob@biloxi.example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314161 UPDATE',
      'Session-Expires: 90',
      'Min-SE: 90',
      'Supported: timer',
      'Contact: <sip:alice@192.0.2.10:5061>',
    ]),
  ],
  [
    'prack',
    noBody([
      'PRACK sip:bob@192.0.2.4 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKprack1',
      'From: <sip:alice@atlanta.example.com>;tag=9fxced76sl',
      'To: <sip:bob@biloxi.example.com>;tag=8321234356',
      'Call-ID: 3848276298220188511@atlanta.example.com',
      'CSeq: 314162 PRACK',
      'RAck: 988789 314159 INVITE',
    ]),
  ],
  [
    'message-unicode',
    withBody(
      [
        'MESSAGE sip:user2@domain.com SIP/2.0',
        'Via: SIP/2.0/UDP user1pc.domain.com;branch=z9hG4bK776sgdkse',
        'Max-Forwards: 70',
        'From: "Zoë Ñandú" <sip:user1@domain.com>;tag=49583',
        'To: sip:user2@domain.com',
        'Call-ID: asd88asd77a@1.2.3.4',
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain',
      ],
      'Watson, come here.',
    ),
  ],
  [
    'contact-star',
    noBody([
      'REGISTER sip:registrar.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKunreg',
      'From: <sip:bob@example.com>;tag=unreg1',
      'To: <sip:bob@example.com>',
      'Call-ID: unreg-1@192.0.2.10',
      'CSeq: 3 REGISTER',
      'Contact: *',
      'Expires: 0',
    ]),
  ],
  [
    'broken-headers',
    noBody([
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP',
      'From: <sip:alice@atlanta.example.com;tag=9fx',
      'To: "unterminated <sip:bob@biloxi.example.com>',
      'Call-ID: ',
      'CSeq: x INVITE',
      'Contact: <sip:@>',
      'Session-Expires: soon',
      'Max-Forwards: -1',
      'Content-Type: text',
    ]),
  ],
];

/** Values no header of the corpus reaches (STUN/TURN URIs, a UUID, a sipfrag, hosts, quoted strings), tried against every rule too. */
const loneValues = [
  'stun:stun.example.org',
  'stuns:stun.example.org:5349',
  'turn:turn.example.org?transport=udp',
  'turns:turn.example.org:443?transport=tcp',
  'f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
  'SIP/2.0 200 OK',
  'SIP/2.0 100 Trying\r\nContent-Type: text/plain\r\n',
  '[2001:db8::1]',
  '[::ffff:192.0.2.1]',
  '192.0.2.1',
  'example.com.',
  '"a \\"quoted\\" string"',
  'Alice Liddell',
  'sip:alice;day=tuesday@atlanta.example.com',
  'sip:%61lice@atlanta.example.com;transport=TCP?Subject=hi&Priority=urgent',
  'tel:+1-201-555-0123;phone-context=example.com',
  'urn:service:sos',
  'attachment;handling=optional',
  '',
];

const ruleByHeader = new Map(rules.map((rule) => [rule.toLowerCase().replace(/_/g, '-'), rule]));
const compact = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  k: 'supported',
  r: 'refer-to',
  b: 'referred-by',
  x: 'session-expires',
  o: 'event',
};
const ownRule = (name) => ruleByHeader.get(compact[name.toLowerCase()] ?? name.toLowerCase());

/** A JSON form of whatever a parse returns: class instances keep their class name, `undefined` and other non-JSON values are spelled out, keys sorted. */
function plain(value, seen = new Set()) {
  if (value === undefined) return { $type: 'undefined' };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $type: 'number', value: String(value) };
  if (typeof value === 'function') return { $type: 'function', name: value.name };
  if (typeof value !== 'object') return { $type: typeof value, value: String(value) };
  if (seen.has(value)) throw new Error('a parse result with a cycle');
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => plain(item, seen));
    const proto = Object.getPrototypeOf(value);
    const result = {};
    if (proto !== Object.prototype && proto !== null) {
      result.$class = value.constructor.name;
      if (typeof value.toString === 'function' && value.toString !== Object.prototype.toString) result.$string = value.toString();
    }
    for (const key of Object.keys(value).sort()) result[key] = plain(value[key], seen);
    return result;
  } finally {
    seen.delete(value);
  }
}

/** Header lines of a message's head, continuation lines joined, as [name, value]; the start line apart. */
function headLines(text) {
  const end = text.indexOf('\r\n\r\n');
  const lines = (end === -1 ? text : text.slice(0, end)).split('\r\n');
  const unfolded = [];
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line) && unfolded.length > 0) unfolded[unfolded.length - 1] += ` ${line.trim()}`;
    else unfolded.push(line);
  }
  return {
    startLine: lines[0] ?? '',
    headers: unfolded.map((line) => {
      const colon = line.indexOf(':');
      return colon === -1 ? [line, ''] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    }),
  };
}

/** Every rule on `value`: successes by rule, failures by rule with the offset where the parse failed; the full syntax error for `detailed`. */
function allRules(value, detailed) {
  const ok = {};
  const failed = {};
  const errors = {};
  for (const rule of rules) {
    const data = sipjs.Grammar.parse(value, rule);
    if (data !== -1) {
      ok[rule] = plain(data);
      continue;
    }
    try {
      peg.parse(value, { startRule: rule });
      failed[rule] = 'parse succeeded where Grammar.parse failed';
    } catch (err) {
      // A syntax error says where the parse failed; an action of the grammar may also throw (a TypeError).
      const syntax = err instanceof peg.SyntaxError;
      failed[rule] = syntax ? err.location.start.offset : String(err);
      if (rule === detailed)
        errors[rule] = syntax
          ? { message: err.message, found: err.found, expected: plain(err.expected), location: plain(err.location) }
          : { threw: String(err) };
    }
  }
  return { ok, failed, errors };
}

/** Core.Parser.parseMessage on `text`: the fields sip.js sets, every header as stored then as parsed on demand, and what it logged. */
function parseMessageRecord(text) {
  const logged = [];
  const logger = Object.fromEntries(['error', 'warn', 'log', 'debug'].map((level) => [level, (message) => logged.push([level, String(message)])]));
  let message;
  try {
    message = sipjs.Core.Parser.parseMessage(text, logger);
  } catch (err) {
    return { threw: `${err.name}: ${err.message}`, logged };
  }
  if (message === undefined) return { message: null, logged };
  const fields = ['method', 'ruri', 'statusCode', 'reasonPhrase', 'via', 'viaBranch', 'from', 'fromTag', 'to', 'toTag', 'callId', 'cseq', 'body'];
  const record = { class: message.constructor.name, logged, stored: plain(message.headers) };
  for (const field of fields) record[field] = plain(message[field]);
  // Every header parsed on demand (a failed one is dropped from the message, as sip.js does), by the name sip.js stores it under.
  for (const name of Object.keys(message.headers)) {
    for (let i = message.headers[name].length - 1; i >= 0; i--) message.parseHeader(name, i);
  }
  record.afterOnDemand = plain(message.headers);
  return record;
}

function messageEntry(source, text) {
  const { startLine, headers } = headLines(text);
  return {
    ...source,
    parseMessage: parseMessageRecord(text),
    startLine: { value: startLine, ...allRules(startLine, 'Request_Response') },
    headers: headers.map(([name, value]) => ({ name, value, rule: ownRule(name) ?? null, ...allRules(value, ownRule(name)) })),
  };
}

const torture = [];
const dir = join(root, 'test', 'sip', 'rfc4475');
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.dat'))
  .sort()) {
  const bytes = readFileSync(join(dir, file));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  torture.push(messageEntry({ file: `rfc4475/${file}`, sha256, encoding: 'utf8' }, bytes.toString('utf8')));
  if (bytes.toString('latin1') !== bytes.toString('utf8'))
    torture.push(messageEntry({ file: `rfc4475/${file}`, sha256, encoding: 'latin1' }, bytes.toString('latin1')));
}

const golden = {
  about:
    "sip.js's SIP grammar on a corpus of messages, recorded from an unpatched sip.js by scripts/sip-grammar-golden.mjs; test/unit/sip-grammar-patch.test.ts checks that the patched sip.js reproduces it.",
  sipjs: version,
  rules,
  messages: [...torture, ...typical.map(([name, text]) => messageEntry({ name, text }, text))],
  values: loneValues.map((value) => ({ value, ...allRules(value, undefined) })),
};
// One line per message and per value: a change shows as the entries it touches, at a third of the size of indented JSON.
const lines = (entries) => entries.map((entry) => `  ${JSON.stringify(entry)}`).join(',\n');
writeFileSync(
  out,
  `{\n "about": ${JSON.stringify(golden.about)},\n "sipjs": ${JSON.stringify(golden.sipjs)},\n "rules": ${JSON.stringify(golden.rules)},\n` +
    ` "messages": [\n${lines(golden.messages)}\n ],\n "values": [\n${lines(golden.values)}\n ]\n}\n`,
);
const parses = golden.messages.reduce((n, m) => n + (m.headers.length + 1) * rules.length, 0) + golden.values.length * rules.length;
console.log(`sip-grammar-golden: sip.js ${version}, ${rules.length} start rules, ${golden.messages.length} messages, ${parses} rule parses → ${out}`);
