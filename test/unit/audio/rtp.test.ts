import { describe, expect, it } from 'vitest';
import { parseRtp, RtpPacketizer, sequenceDelta } from '../../../src/media/audio/rtp.js';

/** Builds an RTP packet by hand, with the optional parts the parser must skip. */
function rtpBytes(opts: {
  payload: Buffer;
  csrcs?: number[];
  extensionWords?: number;
  padding?: number;
  version?: number;
  marker?: boolean;
  payloadType?: number;
}): Buffer {
  const csrcs = opts.csrcs ?? [];
  const ext = opts.extensionWords;
  const pad = opts.padding ?? 0;
  const header = Buffer.alloc(12 + csrcs.length * 4 + (ext === undefined ? 0 : 4 + ext * 4));
  header[0] = ((opts.version ?? 2) << 6) | (pad > 0 ? 0x20 : 0) | (ext === undefined ? 0 : 0x10) | csrcs.length;
  header[1] = (opts.marker ? 0x80 : 0) | (opts.payloadType ?? 111);
  header.writeUInt16BE(4242, 2);
  header.writeUInt32BE(0xdeadbeef, 4);
  header.writeUInt32BE(0x01020304, 8);
  csrcs.forEach((c, i) => header.writeUInt32BE(c, 12 + i * 4));
  if (ext !== undefined) {
    const at = 12 + csrcs.length * 4;
    header.writeUInt16BE(0xbede, at);
    header.writeUInt16BE(ext, at + 2);
    header.fill(0xee, at + 4);
  }
  const padding = Buffer.alloc(pad, 0xaa);
  if (pad > 0) padding[pad - 1] = pad;
  return Buffer.concat([header, opts.payload, padding]);
}

const payload = Buffer.from('opus-frame-bytes');

describe('parseRtp', () => {
  it('reads the fixed header and the payload of a plain packet', () => {
    const parsed = parseRtp(rtpBytes({ payload, marker: true, payloadType: 96 }));
    expect(parsed).toEqual({ payloadType: 96, sequenceNumber: 4242, timestamp: 0xdeadbeef, ssrc: 0x01020304, marker: true, payload });
  });

  it('skips CSRCs, a header extension and padding to find the payload', () => {
    const parsed = parseRtp(rtpBytes({ payload, csrcs: [1, 2, 3], extensionWords: 2, padding: 4 }));
    expect(parsed?.payload).toEqual(payload);
    expect(parsed?.marker).toBe(false);
    expect(parseRtp(rtpBytes({ payload, extensionWords: 0 }))?.payload).toEqual(payload);
    expect(parseRtp(rtpBytes({ payload, csrcs: new Array<number>(15).fill(7) }))?.payload).toEqual(payload);
  });

  it('accepts an empty payload', () => {
    expect(parseRtp(rtpBytes({ payload: Buffer.alloc(0) }))?.payload.length).toBe(0);
    expect(parseRtp(rtpBytes({ payload: Buffer.alloc(0), padding: 3 }))?.payload.length).toBe(0);
  });

  it('returns undefined for packets too short, of another version, or whose parts overrun the packet', () => {
    const good = rtpBytes({ payload });
    expect(parseRtp(Buffer.alloc(0))).toBeUndefined();
    expect(parseRtp(good.subarray(0, 11))).toBeUndefined();
    expect(parseRtp(rtpBytes({ payload, version: 1 }))).toBeUndefined();
    expect(parseRtp(rtpBytes({ payload, version: 0 }))).toBeUndefined();
    // CSRC count says 3 but the packet ends after the fixed header.
    expect(parseRtp(rtpBytes({ payload: Buffer.alloc(0), csrcs: [1, 2, 3] }).subarray(0, 16))).toBeUndefined();
    // Extension header cut short, and an extension length past the end.
    expect(parseRtp(rtpBytes({ payload: Buffer.alloc(0), extensionWords: 0 }).subarray(0, 14))).toBeUndefined();
    const longExt = rtpBytes({ payload, extensionWords: 1 });
    longExt.writeUInt16BE(200, 14);
    expect(parseRtp(longExt)).toBeUndefined();
    // Padding of zero bytes, padding longer than the payload, padding bit with nothing after the header.
    const zeroPad = rtpBytes({ payload, padding: 2 });
    zeroPad[zeroPad.length - 1] = 0;
    expect(parseRtp(zeroPad)).toBeUndefined();
    const hugePad = rtpBytes({ payload, padding: 2 });
    hugePad[hugePad.length - 1] = 250;
    expect(parseRtp(hugePad)).toBeUndefined();
    const bareHeader = Buffer.from(good.subarray(0, 12));
    bareHeader[0] = bareHeader[0]! | 0x20;
    expect(parseRtp(bareHeader)).toBeUndefined();
  });

  it('never throws on random bytes', () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 5000; n++) {
      const bytes = Buffer.from(Array.from({ length: next() % 64 }, next));
      // Mostly version 2, so the deeper checks get exercised too.
      if (bytes.length > 0 && n % 4 !== 0) bytes[0] = (bytes[0]! & 0x3f) | 0x80;
      expect(() => parseRtp(bytes)).not.toThrow();
      const parsed = parseRtp(bytes);
      if (parsed) expect(parsed.payload.length).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('RtpPacketizer', () => {
  it('round-trips through parseRtp, marking only the first packet', () => {
    const p = new RtpPacketizer(111, 0xcafebabe, { sequenceNumber: 100, timestamp: 5000 });
    const a = parseRtp(p.packet(Buffer.from('one')));
    const b = parseRtp(p.packet(Buffer.from('two')));
    expect(a).toEqual({ payloadType: 111, sequenceNumber: 100, timestamp: 5000, ssrc: 0xcafebabe, marker: true, payload: Buffer.from('one') });
    expect(b).toEqual({ payloadType: 111, sequenceNumber: 101, timestamp: 5960, ssrc: 0xcafebabe, marker: false, payload: Buffer.from('two') });
  });

  it('writes a 12-byte header and advances the timestamp by the given sample count', () => {
    const p = new RtpPacketizer(0, 1, { sequenceNumber: 0, timestamp: 0 });
    expect(p.packet(Buffer.alloc(5)).length).toBe(17);
    p.packet(Buffer.alloc(1), 480);
    expect(parseRtp(p.packet(Buffer.alloc(1)))?.timestamp).toBe(960 + 480);
  });

  it('wraps the sequence number at 65535 and the timestamp at 2^32', () => {
    const p = new RtpPacketizer(111, 1, { sequenceNumber: 65535, timestamp: 0xffff_ffff - 100 });
    const a = parseRtp(p.packet(Buffer.alloc(1)))!;
    const b = parseRtp(p.packet(Buffer.alloc(1)))!;
    expect([a.sequenceNumber, b.sequenceNumber]).toEqual([65535, 0]);
    expect(b.timestamp).toBe(859);
    expect(sequenceDelta(b.sequenceNumber, a.sequenceNumber)).toBe(1);
  });

  it('starts at a random sequence number and timestamp', () => {
    const starts = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const h = parseRtp(new RtpPacketizer(111, 1).packet(Buffer.alloc(1)))!;
      starts.add(`${h.sequenceNumber}/${h.timestamp}`);
    }
    expect(starts.size).toBeGreaterThan(1);
  });

  it('rejects a payload type or SSRC that does not fit the header', () => {
    expect(() => new RtpPacketizer(128, 1)).toThrow(RangeError);
    expect(() => new RtpPacketizer(-1, 1)).toThrow(RangeError);
    expect(() => new RtpPacketizer(111, 2 ** 32)).toThrow(RangeError);
  });
});

describe('sequenceDelta', () => {
  it('measures distance across the wrap', () => {
    expect(sequenceDelta(0, 65535)).toBe(1);
    expect(sequenceDelta(65535, 0)).toBe(-1);
    expect(sequenceDelta(10, 3)).toBe(7);
    expect(sequenceDelta(3, 10)).toBe(-7);
  });
});
