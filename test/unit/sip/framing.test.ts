import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { sipjsLoggerFactory } from '../../../src/sip/sipjsLogger.js';
import { frameDatagram, StreamFramer, type Frame } from '../../../src/sip/transport/framing.js';
import { normalizeIncoming } from '../../../src/sip/transport/incoming.js';

function message(body = '', extra = ''): string {
  return `OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\nCall-ID: a\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function texts(frames: Frame[]): string[] {
  return frames.map((f) => (f.kind === 'message' ? f.data.toString('utf8') : `<${f.kind}>`));
}

describe('StreamFramer (TCP)', () => {
  it('cuts coalesced messages at their Content-Length', () => {
    const framer = new StreamFramer(65_535);
    const a = message('v=0\r\n');
    const b = message('', 'X-Second: yes\r\n');
    expect(texts(framer.push(Buffer.from(a + b)))).toEqual([a, b]);
    expect(framer.pendingBytes).toBe(0);
  });

  it('waits for the rest of a message split anywhere, even inside a multi-byte body character', () => {
    const framer = new StreamFramer(65_535);
    const whole = Buffer.from(message('é→ü'));
    const frames: Frame[] = [];
    for (let i = 0; i < whole.length; i += 7) frames.push(...framer.push(whole.subarray(i, i + 7)));
    expect(texts(frames)).toEqual([whole.toString('utf8')]);
  });

  it('skips CRLF keep-alives before, between and after messages', () => {
    const framer = new StreamFramer(65_535);
    const a = message();
    expect(texts(framer.push(Buffer.from(`\r\n\r\n${a}\r\n\r\n${a}\r\n`)))).toEqual([a, a]);
    expect(framer.pendingBytes).toBe(0);
  });

  it('reads a compact Content-Length (l:) and a missing one as 0', () => {
    const framer = new StreamFramer(65_535);
    const compact = 'OPTIONS sip:gw SIP/2.0\r\nl: 3\r\n\r\nabc';
    const missing = 'OPTIONS sip:gw SIP/2.0\r\nCall-ID: b\r\n\r\n';
    expect(texts(framer.push(Buffer.from(compact + missing)))).toEqual([compact, missing]);
  });

  it('reports an oversized message with its head (to answer 513), then stops', () => {
    const framer = new StreamFramer(1024);
    const head = 'INVITE sip:gw SIP/2.0\r\nContent-Length: 5000';
    const frames = framer.push(Buffer.from(`${head}\r\n\r\nxyz`));
    expect(frames).toHaveLength(1);
    const [frame] = frames;
    expect(frame?.kind).toBe('too-large');
    expect(frame?.kind === 'too-large' && frame.head?.toString()).toBe(head);
    expect(framer.stopped).toBe(true);
    expect(framer.push(Buffer.from(message()))).toEqual([]);
  });

  it('reports a head that never ends within the limit as oversized, without a head', () => {
    const framer = new StreamFramer(1024);
    expect(framer.push(Buffer.from('x'.repeat(600)))).toEqual([]);
    expect(framer.push(Buffer.from('x'.repeat(600)))).toEqual([{ kind: 'too-large', head: undefined }]);
  });

  it('stops on an unreadable or contradictory Content-Length', () => {
    expect(texts(new StreamFramer(65_535).push(Buffer.from('OPTIONS sip:gw SIP/2.0\r\nContent-Length: ten\r\n\r\n')))).toEqual(['<bad-length>']);
    expect(texts(new StreamFramer(65_535).push(Buffer.from('OPTIONS sip:gw SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab')))).toEqual(['<bad-length>']);
  });

  it('passes garbage that ends in an empty line on as a message (the parser refuses it) and stays in step', () => {
    const framer = new StreamFramer(65_535);
    const a = message();
    expect(texts(framer.push(Buffer.from(`garbage without colon\r\n\r\n${a}`)))).toEqual(['garbage without colon\r\n\r\n', a]);
  });
});

describe('StreamFramer fed a byte at a time', () => {
  /** An INVITE of about 60 KB: many header lines and an SDP body. */
  function largeInvite(): string {
    const lines = Array.from({ length: 700 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(70)}`);
    const body = `v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n${'a=x-pad:'.padEnd(60, 'p')}\r\n`.repeat(
      20,
    );
    const head = [
      'INVITE sip:room@192.0.2.9 SIP/2.0',
      'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-large',
      'From: <sip:caller@192.0.2.1>;tag=big',
      'To: <sip:room@192.0.2.9>',
      'Call-ID: large@192.0.2.1',
      'CSeq: 1 INVITE',
      'Contact: <sip:caller@192.0.2.1;transport=tcp>',
      'Max-Forwards: 70',
      ...lines,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(body)}`,
    ];
    return `${head.join('\r\n')}\r\n\r\n${body}`;
  }

  it('frames a large message sent byte by byte, examining each byte a bounded number of times, and it parses', () => {
    const whole = Buffer.from(largeInvite());
    expect(whole.length).toBeGreaterThan(55_000);
    const framer = new StreamFramer(65_535);
    const frames: Frame[] = [];
    for (let i = 0; i < whole.length; i++) frames.push(...framer.push(whole.subarray(i, i + 1)));
    expect(frames).toHaveLength(1);
    const [frame] = frames;
    expect(frame?.kind === 'message' && frame.data.equals(whole)).toBe(true);
    expect(framer.pendingBytes).toBe(0);
    // The search for the empty line resumes where it stopped: a few looks per byte, not one pass per chunk.
    expect(framer.bytesScanned).toBeLessThan(4 * whole.length);
    const parsed = normalizeIncoming(
      whole.toString('utf8'),
      { protocol: 'TCP', address: '192.0.2.1', port: 5060 },
      sipjsLoggerFactory(pino({ level: 'silent' })).getLogger('test'),
    );
    expect(parsed.kind).toBe('request');
    expect(parsed.kind === 'request' && parsed.message.getHeader('x-filler-699')).toBe('f'.repeat(70));
  });

  it('finds the empty line however the chunks cut it, and frames what follows in step', () => {
    const a = message('v=0\r\n');
    const b = message('', 'X-Second: yes\r\n');
    const stream = Buffer.from(`\r\n${a}\r\n\r\n${b}`);
    for (const size of [1, 2, 3, 5, 7, 13]) {
      const framer = new StreamFramer(65_535);
      const frames: Frame[] = [];
      for (let i = 0; i < stream.length; i += size) frames.push(...framer.push(stream.subarray(i, i + size)));
      expect(texts(frames), `chunks of ${size}`).toEqual([a, b]);
      expect(framer.inMessage).toBe(false);
    }
  });

  it('says when part of a message is held, and not for keep-alives', () => {
    const framer = new StreamFramer(65_535);
    framer.push(Buffer.from('\r\n\r\n'));
    expect(framer.inMessage).toBe(false);
    framer.push(Buffer.from('OPTIONS sip:gw SIP/2.0\r\n'));
    expect(framer.inMessage).toBe(true);
    framer.push(Buffer.from('Content-Length: 0\r\n\r\n'));
    expect(framer.inMessage).toBe(false);
  });
});

describe('frameDatagram (UDP)', () => {
  it('takes one message and drops bytes beyond its Content-Length', () => {
    const a = message('abc');
    expect(texts([frameDatagram(Buffer.from(`${a}trailing junk`), 65_535)!])).toEqual([a]);
  });

  it('takes the rest of the datagram as the body when Content-Length is missing', () => {
    const text = 'OPTIONS sip:gw SIP/2.0\r\nCall-ID: c\r\n\r\nbody';
    expect(texts([frameDatagram(Buffer.from(text), 65_535)!])).toEqual([text]);
  });

  it('reports a body shorter than Content-Length as truncated', () => {
    expect(frameDatagram(Buffer.from('OPTIONS sip:gw SIP/2.0\r\nContent-Length: 10\r\n\r\nabc'), 65_535)?.kind).toBe('truncated');
  });

  it('ignores keep-alives and reports garbage and oversize', () => {
    expect(frameDatagram(Buffer.from('\r\n\r\n'), 65_535)).toBeUndefined();
    expect(frameDatagram(Buffer.from('hello'), 65_535)?.kind).toBe('malformed');
    expect(frameDatagram(Buffer.from(message('x'.repeat(2000))), 1024)?.kind).toBe('too-large');
  });
});
