import { describe, expect, it } from 'vitest';
import { frameDatagram, StreamFramer, type Frame } from '../../../src/sip/transport/framing.js';

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
