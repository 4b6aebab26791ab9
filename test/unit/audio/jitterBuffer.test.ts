import { describe, expect, it } from 'vitest';
import { JitterBuffer } from '../../../src/media/audio/jitterBuffer.js';

/** A packet whose payload names its sequence number, so pops can be read back as numbers. */
function push(jb: JitterBuffer, ...seqs: number[]): void {
  for (const seq of seqs) jb.push({ sequenceNumber: seq, timestamp: seq * 960, payload: Buffer.from(String(seq)) });
}

/** Pops `ticks` times: a sequence number for a frame, or 'missing' / 'empty'. */
function play(jb: JitterBuffer, ticks: number): (number | 'missing' | 'empty')[] {
  const out: (number | 'missing' | 'empty')[] = [];
  for (let i = 0; i < ticks; i++) {
    const p = jb.pop();
    out.push(p.kind === 'frame' ? Number(p.payload.toString()) : p.kind);
  }
  return out;
}

describe('JitterBuffer', () => {
  it('waits for two packets (40 ms) before playing, then plays them in order', () => {
    const jb = new JitterBuffer();
    expect(play(jb, 2)).toEqual(['empty', 'empty']);
    push(jb, 100);
    expect(play(jb, 1)).toEqual(['empty']);
    push(jb, 101);
    expect(play(jb, 3)).toEqual([100, 101, 'empty']);
  });

  it('honours another target depth', () => {
    const jb = new JitterBuffer({ targetDepth: 3 });
    push(jb, 1, 2);
    expect(play(jb, 1)).toEqual(['empty']);
    push(jb, 3);
    expect(play(jb, 3)).toEqual([1, 2, 3]);
  });

  it('puts reordered packets back in sequence', () => {
    const jb = new JitterBuffer();
    push(jb, 3, 1, 2, 5, 4);
    expect(play(jb, 6)).toEqual([1, 2, 3, 4, 5, 'empty']);
  });

  it('drops duplicates', () => {
    const jb = new JitterBuffer();
    push(jb, 1, 1, 2, 2, 1);
    expect(play(jb, 3)).toEqual([1, 2, 'empty']);
    expect(jb.stats.duplicate).toBe(3);
  });

  it('drops packets that arrive after their turn has passed', () => {
    const jb = new JitterBuffer();
    push(jb, 10, 12, 13);
    expect(play(jb, 2)).toEqual([10, 'missing']);
    push(jb, 11, 10, 9);
    expect(play(jb, 3)).toEqual([12, 13, 'empty']);
    expect(jb.stats.late).toBe(3);
  });

  it('reports a lost packet as one missing tick and carries on', () => {
    const jb = new JitterBuffer();
    push(jb, 1, 2, 4, 5, 8);
    expect(play(jb, 9)).toEqual([1, 2, 'missing', 4, 5, 'missing', 'missing', 8, 'empty']);
    expect(jb.stats.missing).toBe(3);
  });

  it('orders and plays across the 65535 → 0 wrap', () => {
    const jb = new JitterBuffer();
    push(jb, 0, 65534, 65535, 2);
    expect(play(jb, 5)).toEqual([65534, 65535, 0, 'missing', 2]);
    push(jb, 65535, 1);
    expect(jb.stats.late).toBe(2);
  });

  it('re-buffers after draining, starting from what arrives next', () => {
    const jb = new JitterBuffer();
    push(jb, 1, 2);
    expect(play(jb, 3)).toEqual([1, 2, 'empty']);
    push(jb, 5);
    expect(play(jb, 2)).toEqual(['empty', 'empty']);
    push(jb, 6);
    expect(play(jb, 3)).toEqual([5, 6, 'empty']);
  });

  it('drops the oldest to get back to the target delay after falling far behind', () => {
    const jb = new JitterBuffer();
    push(jb, 1, 2);
    expect(play(jb, 1)).toEqual([1]);
    // A burst after a stall: 2..20 waiting is 380 ms of delay.
    push(jb, ...Array.from({ length: 18 }, (_, i) => i + 3));
    expect(play(jb, 3)).toEqual([19, 20, 'empty']);
    expect(jb.stats.dropped).toBe(17);
  });

  it('keeps up to ten frames of delay without dropping', () => {
    const jb = new JitterBuffer();
    push(jb, ...Array.from({ length: 10 }, (_, i) => i));
    expect(play(jb, 11)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'empty']);
  });

  it('holds at most 50 packets when nobody pops', () => {
    const jb = new JitterBuffer();
    push(jb, ...Array.from({ length: 120 }, (_, i) => i));
    expect(jb.size).toBe(50);
    expect(play(jb, 1)).toEqual([118]);
  });

  it('takes a large sequence jump as a new stream instead of dropping it as late', () => {
    const jb = new JitterBuffer();
    push(jb, 40000, 40001);
    expect(play(jb, 2)).toEqual([40000, 40001]);
    push(jb, 7, 8);
    expect(play(jb, 3)).toEqual([7, 8, 'empty']);
    expect(jb.stats.resets).toBe(1);
  });

  it('plays every packet of a stream with up to 20 ms of jitter without a gap', () => {
    const jb = new JitterBuffer();
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // Packet i is sent at 20·i ms, arrives up to 20 ms late, and sequence numbers wrap midway.
    const arrivals = Array.from({ length: 300 }, (_, i) => ({ seq: (65400 + i) & 0xffff, at: 20 * i + random() * 19.9 }));
    const played: (number | 'missing' | 'empty')[] = [];
    for (let tick = 0; tick < 310; tick++) {
      const now = 20 * tick + 10;
      while (arrivals[0] !== undefined && arrivals[0].at <= now) push(jb, arrivals.shift()!.seq);
      played.push(...play(jb, 1));
    }
    const frames = played.filter((p) => typeof p === 'number');
    expect(frames).toEqual(Array.from({ length: 300 }, (_, i) => (65400 + i) & 0xffff));
    expect(played).not.toContain('missing');
    expect(played.slice(played.indexOf(frames[0]!), played.indexOf(frames[299]!) + 1)).not.toContain('empty');
  });
});
