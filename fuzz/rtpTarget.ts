import fc from 'fast-check';
import { parseRtp } from '../src/media/audio/rtp.js';
import { isDtmfDigit } from '../src/media/rtp/dtmf.js';
import { decodeG711 } from '../src/media/rtp/g711.js';
import { buildCompound, parseCompound } from '../src/media/rtp/rtcp.js';
import { DtmfReceiver } from '../src/media/rtp/rfc4733.js';
import { checkSync, InvariantFailure, Tally, type Budget, type TargetResult } from './property.js';

/**
 * The media parsers fed from the network, in-process: RTP (with RFC 8285 header extensions and
 * RFC 6464 audio levels), compound RTCP, RFC 4733 telephone-events through the DTMF receiver, and
 * G.711 decoding. Inputs are random bytes, well-formed packets, and well-formed packets with bytes
 * flipped or cut off.
 */

type MediaInput =
  | { kind: 'rtp'; bytes: Uint8Array; audioLevelId: number | undefined }
  | { kind: 'rtcp'; bytes: Uint8Array; ssrc: number | undefined; cname: string | undefined }
  | { kind: 'dtmf'; packets: { timestamp: number; marker: boolean; payload: Uint8Array }[] }
  | { kind: 'g711'; codec: 'PCMU' | 'PCMA'; bytes: Uint8Array };

function mutated(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(bytes, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat(), { freq: 4 }))
    .map(([b, flips, cut]) => {
      const out = Uint8Array.from(b);
      for (const [at, value] of flips) if (out.length > 0) out[at % out.length] = value;
      return cut === null || out.length === 0 ? out : out.subarray(0, cut % (out.length + 1));
    });
}

const rtpHeader = fc
  .record({
    padding: fc.boolean(),
    extension: fc.boolean(),
    csrcs: fc.nat({ max: 15 }),
    marker: fc.boolean(),
    payloadType: fc.nat({ max: 127 }),
    seq: fc.nat({ max: 0xffff }),
    ts: fc.nat({ max: 0xffffffff }),
    ssrc: fc.nat({ max: 0xffffffff }),
    profile: fc.constantFrom(0xbede, 0x1000, 0x1001, 0x0000, 0xffff),
    elements: fc.uint8Array({ maxLength: 24 }),
    payload: fc.uint8Array({ maxLength: 200 }),
    padCount: fc.integer({ min: 0, max: 255 }),
  })
  .map((h) => {
    const csrc = Buffer.alloc(h.csrcs * 4);
    const words = Math.ceil(h.elements.length / 4);
    const ext = h.extension
      ? Buffer.concat([
          Buffer.from([h.profile >> 8, h.profile & 0xff, words >> 8, words & 0xff]),
          Buffer.from(h.elements),
          Buffer.alloc(words * 4 - h.elements.length),
        ])
      : Buffer.alloc(0);
    const pad = h.padding ? Buffer.from([...Array<number>(Math.max(0, h.padCount - 1)).fill(0), h.padCount]) : Buffer.alloc(0);
    const head = Buffer.alloc(12);
    head[0] = 0x80 | (h.padding ? 0x20 : 0) | (h.extension ? 0x10 : 0) | h.csrcs;
    head[1] = (h.marker ? 0x80 : 0) | h.payloadType;
    head.writeUInt16BE(h.seq, 2);
    head.writeUInt32BE(h.ts, 4);
    head.writeUInt32BE(h.ssrc, 8);
    return new Uint8Array(Buffer.concat([head, csrc, ext, h.payload, pad]));
  });

const report = fc.record({
  ssrc: fc.nat({ max: 0xffffffff }),
  cname: fc.string({ minLength: 1, maxLength: 40 }),
  sender: fc.boolean(),
  blocks: fc.array(
    fc.record({
      ssrc: fc.nat({ max: 0xffffffff }),
      fractionLost: fc.nat({ max: 255 }),
      cumulativeLost: fc.integer({ min: -0x800000, max: 0x7fffff }),
      extendedHighestSequence: fc.nat({ max: 0xffffffff }),
      jitter: fc.nat({ max: 0xffffffff }),
      lastSenderReport: fc.nat({ max: 0xffffffff }),
      delaySinceLastSenderReport: fc.nat({ max: 0xffffffff }),
    }),
    { maxLength: 3 },
  ),
});

const mediaInput: fc.Arbitrary<MediaInput> = fc.oneof(
  fc.record({
    kind: fc.constant('rtp' as const),
    bytes: fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(rtpHeader)),
    audioLevelId: fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }),
  }),
  report.chain((r) => {
    const built = new Uint8Array(
      buildCompound({
        ssrc: r.ssrc,
        cname: r.cname,
        blocks: r.blocks,
        ...(r.sender && { sender: { ntpSeconds: 1, ntpFraction: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 } }),
      }),
    );
    return fc.oneof(
      fc.constant({ kind: 'rtcp' as const, bytes: built, ssrc: r.ssrc, cname: r.cname }),
      fc.record({
        kind: fc.constant('rtcp' as const),
        bytes: fc.oneof(fc.uint8Array({ maxLength: 120 }), mutated(fc.constant(built))),
        ssrc: fc.constant(undefined),
        cname: fc.constant(undefined),
      }),
    );
  }),
  fc.record({
    kind: fc.constant('dtmf' as const),
    packets: fc.array(fc.record({ timestamp: fc.nat({ max: 0xffffffff }), marker: fc.boolean(), payload: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('g711' as const), codec: fc.constantFrom('PCMU' as const, 'PCMA' as const), bytes: fc.uint8Array({ maxLength: 320 }) }),
);

function check(input: MediaInput): boolean {
  switch (input.kind) {
    case 'rtp': {
      const packet = parseRtp(Buffer.from(input.bytes), input.audioLevelId);
      if (!packet) return false;
      if (packet.payload.length > input.bytes.length) throw new InvariantFailure('RTP payload longer than the packet');
      if (packet.audioLevel !== undefined && (packet.audioLevel < 0 || packet.audioLevel > 127))
        throw new InvariantFailure(`audio level ${packet.audioLevel} out of range`);
      return true;
    }
    case 'rtcp': {
      const compound = parseCompound(Buffer.from(input.bytes));
      if (input.ssrc !== undefined && compound?.cnames.get(input.ssrc) !== input.cname)
        throw new InvariantFailure('a built RTCP report does not parse back to its CNAME');
      return compound !== undefined;
    }
    case 'dtmf': {
      let now = 0;
      const receiver = new DtmfReceiver({ now: () => now });
      let pressed = false;
      for (const p of input.packets) {
        now += 20;
        for (const press of receiver.push(p)) {
          if (!isDtmfDigit(press.digit) || !(press.durationMs >= 0)) throw new InvariantFailure(`bad press ${JSON.stringify(press)}`);
          pressed = true;
        }
      }
      return pressed;
    }
    case 'g711': {
      const pcm = decodeG711(input.codec, input.bytes);
      if (pcm.length !== input.bytes.length) throw new InvariantFailure('G.711 decoded to a different sample count');
      return true;
    }
  }
}

/** Fuzzes the RTP, RTCP, RFC 4733 and G.711 readers: nothing throws, what parses is in range. */
export function fuzzRtpParsers(budget: Budget): TargetResult {
  const tally = new Tally();
  const run = checkSync(
    mediaInput,
    (input) => {
      if (check(input)) tally.accept();
      else tally.reject();
    },
    budget,
    tally,
    (input) => JSON.stringify(input, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)),
  );
  return {
    name: 'RTP, RTCP, RFC 4733 and G.711 parsers (in-process)',
    method: [
      'random bytes, well-formed packets (RTP with CSRCs, extensions, padding; built RTCP reports) and the same with bytes flipped or cut; telephone-event packet runs',
    ],
    ...run,
    ...tally.counts(),
  };
}
