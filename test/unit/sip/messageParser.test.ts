/**
 * The receive path's parser (src/sip/transport/messageParser.ts) must make of any text what sip.js's
 * own `Core.Parser.parseMessage` makes of it: the same message class, fields, header entries
 * (raw and parsed) and body, the same refusal and the same log lines — except for what the top Via
 * parses to (`via`, `viaBranch`, the first Via entry's `parsed`), which `normalizeIncoming` replaces
 * with its own reading. Checked over the golden corpus (every RFC 4475 torture message and the
 * typical dialog messages of test/sip/sip-grammar-golden.json), variants of them, and generated Vias;
 * each text twice, since the second parse is made from remembered grammar results.
 */
import { readFileSync } from 'node:fs';
import { Core } from 'sip.js';
import { describe, expect, it } from 'vitest';
import { parseSipMessage } from '../../../src/sip/transport/messageParser.js';

interface GoldenMessage {
  file?: string;
  encoding?: 'utf8' | 'latin1';
  name?: string;
  text?: string;
}

const SIP_DIR = new URL('../../sip/', import.meta.url);
const golden = JSON.parse(readFileSync(new URL('sip-grammar-golden.json', SIP_DIR), 'utf8')) as { messages: GoldenMessage[] };

function textOf(entry: GoldenMessage): string {
  if (entry.text !== undefined) return entry.text;
  return readFileSync(new URL(entry.file!, SIP_DIR)).toString(entry.encoding ?? 'utf8');
}

type Parsed = Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined;

/** Runs a parser with a logger that records what it says. */
function run(parse: (text: string, logger: Core.Logger) => Parsed, text: string): { message: Parsed; thrown: boolean; logs: string[] } {
  const logs: string[] = [];
  const factory = new Core.LoggerFactory();
  factory.builtinEnabled = false;
  factory.level = Core.Levels.debug;
  factory.connector = (level, _category, _label, content) => logs.push(`${level} ${String(content)}`);
  try {
    return { message: parse(text, factory.getLogger('parser')), thrown: false, logs };
  } catch {
    return { message: undefined, thrown: true, logs };
  }
}

/** A message without what its top Via parses to (`normalizeIncoming` replaces it). */
function withoutTopVia(message: Parsed): Parsed {
  if (!message) return message;
  const copy = Object.create(Object.getPrototypeOf(message) as object) as Record<string, unknown>;
  Object.assign(copy, message);
  delete copy['via'];
  delete copy['viaBranch'];
  const headers = { ...message.headers };
  if (headers['Via']) headers['Via'] = headers['Via'].map((entry) => ({ raw: entry.raw }));
  copy['headers'] = headers;
  return copy as unknown as Parsed;
}

function expectSame(text: string): void {
  const theirs = run((t, logger) => Core.Parser.parseMessage(t, logger), text);
  for (let pass = 0; pass < 2; pass++) {
    const ours = run(parseSipMessage, text);
    expect(ours.thrown).toBe(theirs.thrown);
    expect(ours.logs).toEqual(theirs.logs);
    expect(ours.message === undefined).toBe(theirs.message === undefined);
    expect(withoutTopVia(ours.message)).toStrictEqual(withoutTopVia(theirs.message));
  }
}

const corpus = golden.messages.map((entry) => [entry.file === undefined ? entry.name! : `${entry.file} (${entry.encoding})`, textOf(entry)] as const);

/** The same message with its header names written otherwise: lower case, or upper case. */
function renamed(text: string, rename: (name: string) => string): string {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [first, ...lines] = head.split('\r\n');
  const out = lines.map((line) => {
    const colon = line.indexOf(':');
    return colon > 0 && !/^\s/.test(line) ? rename(line.slice(0, colon)) + line.slice(colon) : line;
  });
  return [first, ...out].join('\r\n') + (end < 0 ? '' : text.slice(end));
}

describe('parseSipMessage', () => {
  it.each(corpus)('parses %s as sip.js does', (_name, text) => {
    expectSame(text);
  });

  it.each(corpus)('parses %s with its header names in other cases as sip.js does', (_name, text) => {
    expectSame(renamed(text, (name) => name.toLowerCase()));
    expectSame(renamed(text, (name) => name.toUpperCase()));
  });

  it('hands out a new object on every parse: changing one message changes no other', () => {
    const text = textOf(golden.messages.find((entry) => entry.name === 'invite-sdp')!);
    const logger = new Core.LoggerFactory().getLogger('parser');
    const first = parseSipMessage(text, logger) as Core.IncomingRequestMessage;
    first.from.uri.user = 'changed';
    first.from.setParam('tag', 'changed');
    first.ruri!.setParam('changed', 'yes');
    (first.headers['Contact']![0]!.parsed as { uri: { host: string } }).uri.host = 'changed.example';
    const second = parseSipMessage(text, logger);
    expect(withoutTopVia(second)).toStrictEqual(withoutTopVia(Core.Parser.parseMessage(text, logger)));
  });

  it('refuses, takes and reads the top Via exactly as sip.js does', () => {
    const protocols = ['SIP/2.0/UDP', 'SIP/2.0/TCP', 'SIP/2.0/TLS', 'sip/2.0/udp', 'SIP/2.0/WS', 'SIP/2.1/UDP', 'SIP / 2.0 / UDP'];
    const blanks = [' ', '  ', '\t', ''];
    const hosts = [
      '127.0.0.1',
      '10.0.0.100',
      '255.255.255.255',
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      'a.b.1',
      'example.com',
      'ex_ample.com',
      'h',
      'host-',
      '-host',
      'a..b',
      'example.com.',
      '[::1]',
      '1.2.3.4a',
    ];
    const ports = ['', ':5060', ':', ':123456', ':0', ' : 5060', ':99999'];
    const params = [
      ';branch=z9hG4bK-1-0',
      ';branch=',
      ';branch=a b',
      ';BRANCH=x',
      '; branch=x',
      ';branch = x',
      ';rport',
      ';rport=',
      ';rport=123',
      ';rport=12a',
      ';received=1.2.3.4',
      ';received=host',
      ';received=1.2.3.4a',
      ';received=300.1.1.1',
      ';ttl=1',
      ';ttl=x',
      ';maddr=224.0.0.1',
      ';x=y',
      ';x="quoted"',
      ';',
      ',SIP/2.0/UDP 10.0.0.2',
    ];
    let seed = 42;
    const pick = <T>(items: readonly T[]): T => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return items[seed % items.length]!;
    };
    for (let i = 0; i < 1500; i++) {
      let via = `${pick(protocols)}${pick(blanks)}${pick(hosts)}${pick(ports)}`;
      for (let n = i % 4; n > 0; n--) via += pick(params);
      expectSame(
        `OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: ${via}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: c${i}\r\nCSeq: 1 OPTIONS\r\n\r\n`,
      );
    }
  });

  it('reads a tagged From or To after its untagged form, and any Call-ID, as sip.js does', () => {
    const names = ['', 'sipp ', 'Bob Smith ', '"Bob" ', '"a;b>" ', '"x\\"y" ', 'sip ', '"" '];
    const uris = [
      '<sip:service@127.0.0.1:5060>',
      '<sip:127.0.0.1>',
      '<sips:alice@example.com;transport=tcp;lr>',
      '<sip:bob@[2001:db8::1]:5070>',
      '<sip:carol@example.com?subject=x>',
      '<sip:%61lice@example.com>',
      '<tel:+15551234>',
      '<sip:user;x@host>',
    ];
    const tags = [';tag=abc123', ";tag=a.b!c%d*e_f+g`h'i~j-k", ';tag=', ';TAG=x', '; tag=x', ';tag=x;y=z', ';tag=a b', ';tag=x>', ';tag=é'];
    const callIds = ['1-4242@127.0.0.1', 'a@b@c', 'abc', 'a b', 'x@', '@x', 'a"b<c>:d/e[f]g?h{i}j\\k', 'é@x', '', '%41@[::1]'];
    let n = 0;
    const message = (field: string, value: string, callId = `c${String(n++)}`) =>
      `OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK${String(n)}\r\n` +
      (field === 'From' ? '' : 'From: <sip:a@b>;tag=1\r\n') +
      (field === 'To' ? '' : 'To: <sip:gw@127.0.0.1>\r\n') +
      `${field}: ${value}\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\n\r\n`;
    for (const field of ['From', 'To']) {
      for (const name of names) {
        for (const uri of uris) {
          expectSame(message(field, name + uri));
          for (const tag of tags) expectSame(message(field, name + uri + tag));
        }
      }
    }
    for (const callId of callIds) expectSame(message('Max-Forwards', '70', callId));
  });

  it('reads a From or To whose URI has a plain user, the user new with each message, as sip.js does', () => {
    // A caller's user changes with every call (SIPp: sipp-1, sipp-2…), the rest of the field does not.
    const users = ['sipp-1', 'sipp-2', 'u', 'U', "a.b_c-d!e~f*g'h(i)j", 'x'.repeat(300), '%61lice', 'a:pw', 'a;b'];
    const names = ['', 'sipp ', '"Bob" ', '"<sip:u@x>" ', 'a b c '];
    const hosts = ['127.0.0.1:5061', '[2001:db8::1]:5070', 'h;transport=UDP', 'h?subject=x', 'H.Example.COM:1', ''];
    const tags = ['', ';tag=5426SIPpTag001', ';tag=', ';TAG=x', ';tag=x;y=z'];
    let n = 0;
    const message = (field: string, value: string) =>
      `OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK${String(n++)}\r\n` +
      (field === 'From' ? '' : 'From: <sip:a@b>;tag=1\r\n') +
      (field === 'To' ? '' : 'To: <sip:gw@127.0.0.1>\r\n') +
      `${field}: ${value}\r\nCall-ID: c${String(n)}\r\nCSeq: 1 OPTIONS\r\n\r\n`;
    for (const field of ['From', 'To']) {
      for (const scheme of ['sip', 'SIPS']) {
        for (const name of names) {
          for (const host of hosts) {
            for (const user of users) {
              for (const tag of tags) expectSame(message(field, `${name}<${scheme}:${user}@${host}>${tag}`));
            }
          }
        }
      }
    }
  });
});
