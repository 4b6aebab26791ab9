import { describe, expect, it } from 'vitest';
import { decodeG711, encodeG711 } from '../../../src/media/rtp/g711.js';
import { PlayoutBuffer, type PacketDecoder, type PlayoutPacket } from '../../../src/media/rtp/playoutBuffer.js';

const TICK = 160;
/** Source sample i of the ramp: never 0, so silence and concealment stand out. */
const ramp = (i: number) => (i % 30_000) + 1;

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

/**
 * PCM16 (little-endian) in the payload: a decoder whose output is known sample for sample. It
 * records the first sample of each decode, to check decode order, and its resets.
 */
class Pcm16Decoder implements PacketDecoder {
  readonly decoded: number[] = [];
  resets = 0;
  private out = new Int16Array(0);
  constructor(
    readonly samplesPerTick = 1,
    private readonly failOn?: number,
  ) {}
  duration(payload: Uint8Array): number | undefined {
    const bytesPerTick = 2 * this.samplesPerTick;
    return payload.length > 0 && payload.length % bytesPerTick === 0 ? payload.length / bytesPerTick : undefined;
  }
  decode(payload: Uint8Array): Int16Array {
    const n = payload.length / 2;
    if (this.out.length < n) this.out = new Int16Array(n);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    for (let i = 0; i < n; i++) this.out[i] = view.getInt16(2 * i, true);
    if (this.out[0] === this.failOn) throw new Error('corrupt');
    this.decoded.push(this.out[0]!);
    return this.out.subarray(0, n);
  }
  reset(): void {
    this.resets++;
  }
}

const pcm16 = (from: number, n: number, spt = 1) => {
  const bytes = new Uint8Array(2 * n * spt);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n * spt; i++) view.setInt16(2 * i, ramp(from + i), true);
  return bytes;
};

/** The real G.711 decoder as the buffer sees it. */
function g711Decoder(): PacketDecoder {
  const out = new Int16Array(1920);
  return {
    samplesPerTick: 1,
    duration: (payload) => payload.length || undefined,
    decode: (payload) => decodeG711('PCMU', payload, out),
    reset: () => undefined,
  };
}

interface Sent {
  tick: number;
  packet: PlayoutPacket;
}

/**
 * One sender: `clock` is its RTP time since it started (pauses advance it), `pos` the source sample
 * it has reached (pauses do not). A packet is delivered at the tick its last sample was captured.
 */
class Sender {
  readonly sent: Sent[] = [];
  clock = 0;
  pos = 0;
  /** Receiver ticks per sender tick: above 1 for a sender whose clock runs fast. */
  rate = 1;
  constructor(
    private readonly payload: (from: number, ticks: number) => Uint8Array,
    public ssrc = 0x1234,
    public seq = 65_500,
    public ts = 0xffff_f000,
    private readonly samplesPerTick = 1,
  ) {}
  send(ticks: number, marker = false): Sent {
    const packet = {
      ssrc: this.ssrc,
      sequenceNumber: this.seq & 0xffff,
      timestamp: (this.ts + this.clock) >>> 0,
      marker,
      payload: this.payload(this.pos, ticks),
    };
    const sent = { tick: Math.ceil((this.clock + ticks) / (TICK * this.rate)) - 1, packet };
    this.sent.push(sent);
    this.clock += ticks;
    this.pos += ticks * this.samplesPerTick;
    this.seq++;
    return sent;
  }
  /** Packets of `sizes` ticks, cycling, until the clock reaches `until`. */
  sendUntil(until: number, sizes: readonly number[]): void {
    for (let i = 0; this.clock < until; i++) this.send(sizes[i % sizes.length]!);
  }
}

/** Delivers `sent` at its ticks (in array order within a tick), and returns the output, silence as zeros. */
function run(buffer: PlayoutBuffer, sent: readonly Sent[], ticks: number, frame = TICK): Int16Array {
  const out = new Int16Array(ticks * frame);
  const queue = [...sent].sort((a, b) => a.tick - b.tick);
  let next = 0;
  for (let t = 0; t < ticks; t++) {
    while (queue[next] !== undefined && queue[next]!.tick <= t) buffer.push(queue[next++]!.packet);
    const pcm = buffer.nextFrame();
    if (pcm) {
      expect(pcm).toHaveLength(frame);
      out.set(pcm, t * frame);
    }
  }
  return out;
}

/** Where the output starts: the first sample of the first frame played. */
const firstPlayed = (out: Int16Array) => out.findIndex((s) => s !== 0);

/** Asserts `out` from `at` on is `expected` from `from` on, for `count` samples; reports the first mismatch. */
function expectRun(out: Int16Array, at: number, expected: (i: number) => number, from: number, count: number): void {
  for (let i = 0; i < count; i++) {
    if (out[at + i] !== expected(from + i)) {
      expect({ at: at + i, source: from + i, got: out[at + i] }).toEqual({ at: at + i, source: from + i, got: expected(from + i) });
    }
  }
}

const newBuffer = (decoder: PacketDecoder = new Pcm16Decoder(), frameSamples = TICK, sampleRate = 8000) =>
  new PlayoutBuffer({ decoder, frameSamples, sampleRate });

describe('PlayoutBuffer (PCM16 ramp)', () => {
  it('plays 20 ms packets in step with ticks, every sample once, starting at the target delay', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(100 * TICK, [TICK]);
    const out = run(buffer, sender.sent, 100);
    // Packet 0 is delivered at tick 0, packet 1 at tick 1: 40 ms buffered, packet 0 plays at tick 1.
    expect(firstPlayed(out)).toBe(TICK);
    expectRun(out, TICK, ramp, 0, 99 * TICK);
    expect(buffer.stats).toMatchObject({
      packets: 100,
      late: 0,
      duplicate: 0,
      concealedSamples: 0,
      skippedSamples: 0,
      resets: 0,
      lastPacketSamples: 160,
      lastPacketMs: 20,
    });
  });

  it('plays G.722-like streams (2 samples per tick) at 16 kHz', () => {
    const decoder = new Pcm16Decoder(2);
    const buffer = new PlayoutBuffer({ decoder, frameSamples: 320, sampleRate: 16_000 });
    const sender = new Sender((from, ticks) => pcm16(from, ticks, 2), 1, 0, 0, 2);
    sender.sendUntil(100 * TICK, [TICK, 240, 80]);
    const out = run(buffer, sender.sent, 100, 320);
    const at = firstPlayed(out);
    expectRun(out, at, ramp, 0, out.length - at - 2 * 240);
    expect(buffer.stats.lastPacketMs).toBe(sender.sent.at(-1)!.packet.payload.length / 4 / 8);
  });

  it('plays reordered packets in timestamp order and decodes them in that order', () => {
    const decoder = new Pcm16Decoder();
    const buffer = newBuffer(decoder);
    const sender = new Sender(pcm16);
    sender.sendUntil(60 * TICK, [TICK]);
    // Swap pairs: packet k arrives after packet k + 1, at k + 1's tick, still before it is played.
    for (const k of [5, 20, 41]) {
      const a = sender.sent[k]!;
      const b = sender.sent[k + 1]!;
      sender.sent[k] = { tick: b.tick, packet: b.packet };
      sender.sent[k + 1] = { tick: b.tick, packet: a.packet };
    }
    const out = run(buffer, sender.sent, 60);
    expectRun(out, TICK, ramp, 0, 59 * TICK);
    expect(decoder.decoded).toEqual([...decoder.decoded].sort((x, y) => x - y));
    expect(buffer.stats.late).toBe(0);
  });

  it('trims a packet overlapping what was played, and drops one wholly inside it', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(10 * TICK, [TICK]);
    // Overlaps the previous packet by 20 samples, then one within it; the sender's audio is consistent.
    sender.clock -= 20;
    sender.pos -= 20;
    sender.send(TICK);
    // Within that one, arriving with it (an older sequence number, never seen).
    const overlapping = sender.sent.at(-1)!;
    const inside = {
      ssrc: sender.ssrc,
      sequenceNumber: 65_400,
      timestamp: (sender.ts + sender.clock - 100) >>> 0,
      marker: false,
      payload: pcm16(sender.pos - 100, 50),
    };
    sender.sent.push({ tick: overlapping.tick, packet: inside });
    sender.sendUntil(30 * TICK, [TICK]);
    const out = run(buffer, sender.sent, 30);
    expectRun(out, TICK, ramp, 0, 29 * TICK);
    expect(buffer.stats).toMatchObject({ concealedSamples: 0, late: 1 });
  });

  it('conceals exactly the span of a lost packet, leaving the rest intact', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(40 * TICK, [240]);
    const lost = sender.sent.splice(10, 1)[0]!;
    const out = run(buffer, sender.sent, 40);
    const at = firstPlayed(out);
    expectRun(out, at, ramp, 0, 10 * 240);
    expectRun(out, at + 11 * 240, ramp, 11 * 240, out.length - at - 12 * 240);
    expect(buffer.stats.concealedSamples).toBe(240);
    expect(lost.packet.payload).toHaveLength(480);
    // The concealment is the last audio fading: no louder than it, and not silent at its start.
    const concealed = out.subarray(at + 10 * 240, at + 11 * 240);
    expect(concealed[0]).not.toBe(0);
    expect(Math.max(...concealed)).toBeLessThanOrEqual(ramp(10 * 240));
  });

  it('plays the pause around RFC 4733 events (sequence numbers used up, audio resumed with the marker) as silence, not loss', () => {
    {
      const buffer = newBuffer();
      const sender = new Sender(pcm16);
      sender.sendUntil(10 * TICK, [TICK]);
      const lastAudioTick = sender.sent.at(-1)!.tick;
      // A key: 7 event packets take sequence numbers and 140 ms of the clock; no audio is captured meanwhile.
      sender.seq += 7;
      sender.clock += 7 * TICK;
      sender.send(TICK, true);
      sender.sendUntil(40 * TICK, [TICK]);
      // Delivered in real time: the events (pause()) tell the buffer that its running dry is a pause.
      const out = new Int16Array(50 * TICK);
      const queue = [...sender.sent].sort((a, b) => a.tick - b.tick);
      let next = 0;
      for (let t = 0; t < 50; t++) {
        while (queue[next] !== undefined && queue[next]!.tick <= t) buffer.push(queue[next++]!.packet);
        if (t > lastAudioTick && t <= lastAudioTick + 7) buffer.pause();
        const pcm = buffer.nextFrame();
        if (pcm) out.set(pcm, t * TICK);
      }
      const at = firstPlayed(out);
      expectRun(out, at, ramp, 0, 10 * TICK);
      // Only the fade after the stream's last packet (60 ms) is concealment; the pause is not.
      expect(buffer.stats.concealedSamples).toBe(3 * TICK);
      // The audio after the key is all there, in order, once.
      const resumed = out.findIndex((s, i) => i >= at + 10 * TICK && [0, 1, 2, 3].every((k) => out[i + k] === ramp(10 * TICK + k)));
      expect(resumed).toBeGreaterThanOrEqual(at + 17 * TICK);
      expectRun(out, resumed, ramp, 10 * TICK, 20 * TICK);
    }
  });

  it('conceals an undecodable packet’s span and carries on', () => {
    const decoder = new Pcm16Decoder(1, ramp(10 * TICK));
    const buffer = newBuffer(decoder);
    const sender = new Sender(pcm16);
    sender.sendUntil(30 * TICK, [TICK]);
    const out = run(buffer, sender.sent, 30);
    expectRun(out, TICK, ramp, 0, 10 * TICK);
    expectRun(out, 12 * TICK, ramp, 11 * TICK, 18 * TICK);
    expect(buffer.stats).toMatchObject({ undecodable: 1, concealedSamples: TICK });
    expect(decoder.resets).toBe(2);
  });

  it('drops duplicates, whether still held or already played', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(30 * TICK, [TICK]);
    sender.sent.push({ tick: 10, packet: sender.sent[10]!.packet }, { tick: 20, packet: sender.sent[5]!.packet });
    // Same timestamp under another sequence number: a duplicate too.
    sender.sent.push({ tick: 25, packet: { ...sender.sent[25]!.packet, sequenceNumber: 7 } });
    const out = run(buffer, sender.sent, 30);
    expectRun(out, TICK, ramp, 0, 29 * TICK);
    expect(buffer.stats.duplicate).toBe(3);
  });

  it('drops a packet that arrives after its span was played as late', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(30 * TICK, [TICK]);
    sender.sent[10]!.tick = 15;
    run(buffer, sender.sent, 30);
    expect(buffer.stats).toMatchObject({ late: 1, concealedSamples: TICK });
  });

  it('drains when the sender stops, after concealment, and restarts at the target delay', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(20 * TICK, [TICK]);
    const frames: (Int16Array | undefined)[] = [];
    for (const s of sender.sent) {
      buffer.push(s.packet);
      frames.push(buffer.nextFrame()?.slice());
    }
    for (let t = 0; t < 6; t++) frames.push(buffer.nextFrame()?.slice());
    // Packet 19 plays at tick 20, ticks 21–23 conceal (60 ms), then silence.
    expect(frames.slice(20, 24).every((f) => f !== undefined)).toBe(true);
    expect(frames.slice(24)).toEqual([undefined, undefined]);
    expect(buffer.stats).toMatchObject({ concealedSamples: 480, resets: 1 });
    sender.send(TICK);
    buffer.push(sender.sent.at(-1)!.packet);
    expect(buffer.nextFrame()).toBeUndefined();
    sender.send(TICK);
    buffer.push(sender.sent.at(-1)!.packet);
    expect(buffer.nextFrame()?.[0]).toBe(ramp(20 * TICK));
  });

  it('continues a new SSRC right after the old stream, with the decoder reset before it', () => {
    const decoder = new Pcm16Decoder();
    const buffer = newBuffer(decoder);
    const sender = new Sender(pcm16);
    sender.sendUntil(50 * TICK, [TICK]);
    Object.assign(sender, { ssrc: 0xdead_beef, seq: 40_000, ts: 0x7000_0000 - sender.clock });
    // A straggler of the old stream after the switch is not a switch back.
    const straggler = sender.sent[48]!.packet;
    sender.sendUntil(100 * TICK, [TICK]);
    sender.sent.push({ tick: 52, packet: { ...straggler, sequenceNumber: straggler.sequenceNumber + 2 } });
    const resetsBefore = decoder.resets;
    const out = run(buffer, sender.sent, 100);
    expectRun(out, TICK, ramp, 0, 99 * TICK);
    expect(buffer.stats).toMatchObject({ resets: 1, late: 1, concealedSamples: 0 });
    expect(decoder.resets - resetsBefore).toBe(2);
  });

  it('re-synchronises on a timestamp far ahead, or behind with the sequence moving on', () => {
    for (const jump of [5 * 8000, -123_456]) {
      const buffer = newBuffer();
      const sender = new Sender(pcm16);
      sender.sendUntil(30 * TICK, [TICK]);
      sender.ts += jump;
      sender.sendUntil(60 * TICK, [TICK]);
      const out = run(buffer, sender.sent, 60);
      expectRun(out, TICK, ramp, 0, 59 * TICK);
      expect(buffer.stats).toMatchObject({ resets: 1, concealedSamples: 0, silenceSamples: 0 });
    }
  });

  it('plays every sample once, in order, as packet sizes change: a size growth costs concealment, not audio', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.sendUntil(15_010 * TICK, SIZES);
    const out = run(buffer, sender.sent, 15_000);
    // Walk the source through the output: any sample that is not the next one is inserted.
    let next = 0;
    let inserted = 0;
    let lastInsertion = 0;
    for (let i = firstPlayed(out); i < out.length; i++) {
      if (out[i] === ramp(next)) next++;
      else {
        inserted++;
        lastInsertion = i;
      }
    }
    expect(inserted).toBe(buffer.stats.concealedSamples);
    // The bigger packets come later than the playhead wants them, until the delay has grown to cover them, once.
    expect(inserted).toBeGreaterThan(0);
    expect(lastInsertion).toBeLessThan(100 * 8 * 80);
    expect(out.length - firstPlayed(out) - inserted - next).toBe(0);
    // What was delivered and not played is the delay at the end: within bounds, not drifting.
    const delivered = sender.sent.filter((s) => s.tick < 15_000).reduce((sum, s) => sum + s.packet.payload.length / 2, 0);
    expect(delivered - next).toBeLessThan(1600);
    expect(buffer.stats).toMatchObject({ skippedSamples: 0, silenceSamples: 0, late: 0, resets: 0 });
  });

  it('keeps the delay bounded for a sender 0.5% fast over a minute, skipping a few times', () => {
    const buffer = newBuffer();
    const sender = new Sender(pcm16);
    sender.rate = 1.005;
    sender.sendUntil(3015 * TICK, [TICK]);
    let maxBuffered = 0;
    const queue = sender.sent;
    let next = 0;
    let expected: number | undefined;
    let jumped = 0;
    for (let t = 0; t < 3000; t++) {
      while (queue[next] !== undefined && queue[next]!.tick <= t) buffer.push(queue[next++]!.packet);
      maxBuffered = Math.max(maxBuffered, buffer.bufferedSamples);
      const pcm = buffer.nextFrame();
      if (!pcm) continue;
      for (const sample of pcm) {
        if (expected !== undefined && sample !== expected) jumped += (sample - expected + 30_000) % 30_000;
        expected = (sample % 30_000) + 1;
      }
    }
    expect(buffer.stats.skippedSamples).toBeGreaterThan(0);
    expect(jumped).toBe(buffer.stats.skippedSamples);
    expect(buffer.stats.concealedSamples).toBe(0);
    // 200 ms cap, plus the packet delivered in the tick it is checked.
    expect(maxBuffered).toBeLessThanOrEqual(1600 + TICK);
  });

  it('never throws on hostile input, and holds a bounded number of packets', () => {
    const random = lcg(42);
    const decoder = new Pcm16Decoder(1, ramp(0));
    const buffer = newBuffer(decoder);
    let maxSize = 0;
    for (let t = 0; t < 20_000; t++) {
      const burst = Math.floor(random() * 4);
      for (let i = 0; i < burst; i++) {
        const kind = random();
        const bytes = kind < 0.05 ? 0 : kind < 0.07 ? 160_000 : Math.floor(random() * 3000);
        buffer.push({
          ssrc: random() < 0.01 ? Math.floor(random() * 4) : 1,
          sequenceNumber: random() < 0.2 ? Math.floor(random() * 65_536) : t & 0xffff,
          timestamp: random() < 0.2 ? Math.floor(random() * 0x1_0000_0000) : (t * TICK) >>> 0,
          marker: random() < 0.1,
          payload: pcm16(Math.floor(random() * 30_000), bytes >> 1).subarray(0, bytes),
        });
      }
      maxSize = Math.max(maxSize, buffer.size);
      const pcm = buffer.nextFrame();
      if (pcm) expect(pcm).toHaveLength(TICK);
    }
    // Ticks stopped: a flood is capped too.
    for (let i = 0; i < 1000; i++) buffer.push({ ssrc: 99, sequenceNumber: i, timestamp: i * 80, marker: false, payload: pcm16(i * 80, 80) });
    expect(Math.max(maxSize, buffer.size)).toBeLessThanOrEqual(100);
    expect(buffer.bufferedSamples).toBeLessThanOrEqual(8000);
    expect(buffer.stats.overflow).toBeGreaterThan(0);
    expect(buffer.stats.undecodable).toBeGreaterThan(0);
  });
});

/** 20, 30, 60 and 10 ms packets, 25 of each, in RTP ticks at 8 kHz. */
const SIZES = [20, 30, 60, 10].flatMap((ms) => Array<number>(25).fill(ms * 8));

describe('PlayoutBuffer with G.711', () => {
  const SECONDS = 310;
  const random = lcg(7);
  // A 440 Hz tone with some noise: every sample matters, and a shift by any amount shows.
  const source = new Int16Array(SECONDS * 8000).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000) + 2000 * (random() - 0.5)));
  const encoded = encodeG711('PCMU', source);
  const expected = decodeG711('PCMU', encoded);
  const at = (i: number) => expected[i]!;
  const g711 = (from: number, ticks: number) => encoded.subarray(from, from + ticks);

  it.each([10, 20, 30, 40, 60])('plays %i ms packets seamlessly', (ms) => {
    const buffer = newBuffer(g711Decoder());
    const sender = new Sender(g711);
    sender.sendUntil(200 * TICK, [ms * 8]);
    const out = run(buffer, sender.sent, 200);
    // The first frame plays once the target (raised for long packets) is buffered.
    const start = Math.ceil(Math.max(2 * TICK, 320 + ms * 8 - TICK, ms * 8) / (ms * 8)) * ms * 8;
    const first = Math.ceil(start / TICK) - 1;
    expectRun(out, first * TICK, at, 0, (200 - first) * TICK - ms * 8);
    expect(buffer.stats).toMatchObject({ concealedSamples: 0, skippedSamples: 0, silenceSamples: 0, late: 0, lastPacketMs: ms });
  });

  it('plays 5 minutes of packet sizes changing 20→30→60→10 without a gap, repeat or drift', () => {
    // A target that covers the largest packet's wait: growing packets (each arrives once captured,
    // later than the smaller ones would have) never run the buffer dry.
    const buffer = new PlayoutBuffer({ decoder: g711Decoder(), frameSamples: TICK, sampleRate: 8000, targetDelayMs: 100 });
    const sender = new Sender(g711);
    sender.sendUntil(15_010 * TICK, SIZES);
    const out = run(buffer, sender.sent, 15_000);
    const first = Math.floor(firstPlayed(out) / TICK) * TICK;
    expectRun(out, first, at, 0, out.length - first);
    expect(buffer.stats).toMatchObject({ concealedSamples: 0, skippedSamples: 0, silenceSamples: 0, late: 0, duplicate: 0, resets: 0 });
  });

  it('survives reordering, a duplicate and an SSRC change, sample for sample', () => {
    const buffer = newBuffer(g711Decoder());
    const sender = new Sender(g711);
    sender.sendUntil(100 * TICK, [TICK]);
    Object.assign(sender, { ssrc: 0x5eed, seq: 12_345, ts: 987_654_321 - sender.clock });
    sender.sendUntil(200 * TICK, [240]);
    const [a, b] = [sender.sent[30]!, sender.sent[31]!];
    sender.sent[30] = { tick: b.tick, packet: b.packet };
    sender.sent[31] = { tick: b.tick, packet: a.packet };
    sender.sent.push({ tick: 120, packet: sender.sent[110]!.packet });
    const out = run(buffer, sender.sent, 200);
    expectRun(out, TICK, at, 0, 199 * TICK - 240);
    expect(buffer.stats).toMatchObject({ duplicate: 1, resets: 1, concealedSamples: 0, late: 0 });
  });

  it('plays a talkspurt’s timestamp jump delivered early as exactly that much silence', () => {
    const buffer = newBuffer(g711Decoder());
    const sender = new Sender(g711);
    sender.sendUntil(50 * TICK, [TICK]);
    const gapAt = sender.pos;
    sender.clock += 8000;
    const first = sender.send(TICK, true);
    // The sender's pause is shorter than its timestamps say: the first packet arrives with the last.
    first.tick = 49;
    sender.sendUntil(150 * TICK, [TICK]);
    const out = run(buffer, sender.sent, 150);
    expectRun(out, TICK, at, 0, gapAt);
    expect(out.subarray(TICK + gapAt, TICK + gapAt + 8000).every((s) => s === 0)).toBe(true);
    expectRun(out, TICK + gapAt + 8000, at, gapAt, 150 * TICK - TICK - gapAt - 8000 - TICK);
    expect(buffer.stats).toMatchObject({ silenceSamples: 8000, concealedSamples: 0, resets: 0 });
  });

  it('keeps a talkspurt’s timing across a real pause: 8000 samples between the old audio and the new', () => {
    const buffer = newBuffer(g711Decoder());
    const sender = new Sender(g711);
    sender.sendUntil(50 * TICK, [TICK]);
    const gapAt = sender.pos;
    sender.clock += 8000;
    sender.send(TICK, true);
    sender.sendUntil(150 * TICK, [TICK]);
    const out = run(buffer, sender.sent, 150);
    expectRun(out, TICK, at, 0, gapAt);
    // The buffer runs dry not knowing it is a pause: 60 ms fade, then nothing until the target is buffered again.
    expect(out.subarray(TICK + gapAt + 480, TICK + gapAt + 8000).every((s) => s === 0)).toBe(true);
    expectRun(out, TICK + gapAt + 8000, at, gapAt, 150 * TICK - TICK - gapAt - 8000 - TICK);
    expect(buffer.stats).toMatchObject({ concealedSamples: 480, resets: 1 });
  });
});
