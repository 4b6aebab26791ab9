import { describe, expect, it } from 'vitest';
import { parseRtp } from '../../../src/media/audio/rtp.js';
import { classifyDatagram, LossCounter, RtpSender } from '../../../src/media/rtp/rtpStream.js';

describe('RtpSender and LossCounter', () => {
  it('numbers packets with one SSRC and consecutive sequence numbers across the wrap', () => {
    const sender = new RtpSender({ ssrc: 0x1234, sequenceNumber: 0xffff });
    const a = parseRtp(sender.packet({ payloadType: 0, timestamp: 160, marker: true }, Buffer.from([1, 2])))!;
    const b = parseRtp(sender.packet({ payloadType: 101, timestamp: 320, marker: false }, Buffer.from([3])))!;
    expect(a).toMatchObject({ ssrc: 0x1234, sequenceNumber: 0xffff, timestamp: 160, marker: true, payloadType: 0 });
    expect(b).toMatchObject({ ssrc: 0x1234, sequenceNumber: 0, timestamp: 320, marker: false, payloadType: 101 });
  });

  it('counts gaps as loss, not reordering, across the sequence wrap and an SSRC change', () => {
    const loss = new LossCounter();
    for (const seq of [65533, 65535, 65534, 0, 3]) loss.update(1, seq);
    // Expected 65533..3 = 7, received 5.
    expect(loss.lost).toBe(2);
    loss.update(2, 100);
    loss.update(2, 102);
    expect(loss.lost).toBe(3);
  });
});

describe('classifyDatagram', () => {
  const types = { payloadType: 0, telephoneEventPt: 101 };
  const sender = new RtpSender();
  const rtp = (pt: number, payload: number[]) => sender.packet({ payloadType: pt, timestamp: 0, marker: false }, Buffer.from(payload));

  it('sorts audio, events, RTCP, unknown payload types and malformed datagrams', () => {
    expect(classifyDatagram(rtp(0, [0xff]), types).kind).toBe('audio');
    expect(classifyDatagram(rtp(101, [1, 0x80, 0, 160]), types).kind).toBe('event');
    expect(classifyDatagram(Buffer.from([0x81, 200, 0, 6, 0, 0, 0, 1]), types).kind).toBe('rtcp');
    expect(classifyDatagram(rtp(8, [0xd5]), types).kind).toBe('unknownPayloadType');
    expect(classifyDatagram(rtp(0, [0xff]), undefined).kind).toBe('unknownPayloadType');
    expect(classifyDatagram(rtp(101, [1, 0x80]), types).kind).toBe('malformed');
    expect(classifyDatagram(rtp(0, []), types).kind).toBe('malformed');
    expect(classifyDatagram(Buffer.from([0x80, 0]), types).kind).toBe('malformed');
  });

  it('never throws, whatever the bytes', () => {
    let seed = 1;
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.alloc(i % 40);
      for (let j = 0; j < bytes.length; j++) bytes[j] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
      if (bytes.length > 0) bytes[0] = (bytes[0]! & 0x3f) | 0x80;
      expect(() => classifyDatagram(bytes, types)).not.toThrow();
    }
  });
});
