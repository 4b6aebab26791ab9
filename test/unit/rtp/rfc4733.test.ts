import { describe, expect, it } from 'vitest';
import { buildTelephoneEvent, DtmfReceiver, DtmfSender, parseTelephoneEvent, type OutgoingEvent } from '../../../src/media/rtp/rfc4733.js';

/** Ticks a sender until it has nothing more to send; the stream timestamp advances 160 per tick. */
function drain(sender: DtmfSender, start = 1000): OutgoingEvent[] {
  const packets: OutgoingEvent[] = [];
  for (let ts = start; sender.pending; ts += 160) {
    const p = sender.tick(ts >>> 0);
    if (p) packets.push(p);
  }
  return packets;
}

const fields = (p: OutgoingEvent) => ({ ...parseTelephoneEvent(p.payload)!, timestamp: p.timestamp, marker: p.marker });

/** A hand-made packet of one event. */
const pkt = (timestamp: number, event: number, duration: number, end = false, marker = false) => ({
  timestamp,
  marker,
  payload: buildTelephoneEvent({ event, end, volume: 10, duration }),
});

function receiveAll(receiver: DtmfReceiver, packets: { timestamp: number; marker: boolean; payload: Uint8Array }[]) {
  return packets.flatMap((p) => receiver.push(p));
}

describe('telephone-event payload', () => {
  it('builds and parses event, E bit, volume and duration', () => {
    const bytes = buildTelephoneEvent({ event: 5, end: true, volume: 10, duration: 800 });
    expect([...bytes]).toEqual([0x05, 0x8a, 0x03, 0x20]);
    expect(parseTelephoneEvent(bytes)).toEqual({ event: 5, end: true, volume: 10, duration: 800 });
    expect(parseTelephoneEvent(Buffer.from([11, 0x00, 0xff, 0xff]))).toEqual({ event: 11, end: false, volume: 0, duration: 65535 });
  });

  it('rejects payloads too short, and refuses to build out-of-range fields', () => {
    expect(parseTelephoneEvent(Buffer.from([1, 2, 3]))).toBeUndefined();
    expect(() => buildTelephoneEvent({ event: 1, end: false, volume: 10, duration: 70000 })).toThrow(RangeError);
    expect(() => buildTelephoneEvent({ event: 256, end: false, volume: 10, duration: 0 })).toThrow(RangeError);
  });
});

describe('DtmfSender', () => {
  it('sends a key as a marked start, updates every 20 ms, and the end three times, on one timestamp', () => {
    const sender = new DtmfSender();
    sender.enqueue('5');
    const packets = drain(sender).map(fields);
    expect(packets).toEqual([
      { event: 5, end: false, volume: 10, duration: 160, timestamp: 1000, marker: true },
      { event: 5, end: false, volume: 10, duration: 320, timestamp: 1000, marker: false },
      { event: 5, end: false, volume: 10, duration: 480, timestamp: 1000, marker: false },
      { event: 5, end: false, volume: 10, duration: 640, timestamp: 1000, marker: false },
      { event: 5, end: true, volume: 10, duration: 800, timestamp: 1000, marker: false },
      { event: 5, end: true, volume: 10, duration: 800, timestamp: 1000, marker: false },
      { event: 5, end: true, volume: 10, duration: 800, timestamp: 1000, marker: false },
    ]);
  });

  it('gives each key a timestamp of its own, after a gap, and is active only while a key is on the wire', () => {
    const sender = new DtmfSender({ gapMs: 60 });
    sender.enqueue('1#');
    const states: boolean[] = [];
    const packets: (OutgoingEvent | undefined)[] = [];
    for (let tick = 0; sender.pending; tick++) {
      packets.push(sender.tick(tick * 160));
      states.push(sender.active);
    }
    // 7 packets, 3 ticks of gap, 7 packets.
    expect(packets.map((p) => (p ? 'p' : '-')).join('')).toBe('ppppppp---ppppppp');
    expect(states.slice(0, 6).every(Boolean)).toBe(true);
    expect(states[6]).toBe(false);
    const starts = packets.filter((p) => p?.marker).map((p) => p!.timestamp);
    expect(starts).toEqual([0, 10 * 160]);
    expect(parseTelephoneEvent(packets[10]!.payload)?.event).toBe(11);
  });

  it('refuses a non-key without queuing any of the string', () => {
    const sender = new DtmfSender();
    expect(() => sender.enqueue('12x')).toThrow(RangeError);
    expect(sender.pending).toBe(false);
  });

  it('splits a press longer than the 16-bit duration into segments on new timestamps, without a marker', () => {
    const sender = new DtmfSender({ toneMs: 10_000 });
    sender.enqueue('0');
    const packets = drain(sender, 0xffff_0000).map(fields);
    expect(packets.every((p) => p.duration <= 0xffff)).toBe(true);
    const timestamps = [...new Set(packets.map((p) => p.timestamp))];
    // 80 000 units in segments of 65 440 (409 packets): two segments, the second across the 32-bit wrap.
    expect(timestamps).toEqual([0xffff_0000, (0xffff_0000 + 65440) >>> 0]);
    expect(packets.filter((p) => p.marker)).toHaveLength(1);
    expect(packets.at(-1)).toMatchObject({ end: true, duration: 80000 - 65440 });
  });
});

describe('DtmfReceiver', () => {
  it('reports each key of a sent string once, with its duration', () => {
    const sender = new DtmfSender();
    sender.enqueue('123#');
    const receiver = new DtmfReceiver();
    expect(receiveAll(receiver, drain(sender))).toEqual([
      { digit: '1', durationMs: 100 },
      { digit: '2', durationMs: 100 },
      { digit: '3', durationMs: 100 },
      { digit: '#', durationMs: 100 },
    ]);
  });

  it('reports a key once whatever the order and duplication of its packets', () => {
    const sender = new DtmfSender();
    sender.enqueue('7');
    const packets = drain(sender);
    // Updates and ends shuffled, the start retransmitted, one update twice, an end first.
    const order = [4, 2, 0, 0, 3, 1, 3, 5, 6];
    const receiver = new DtmfReceiver();
    expect(
      receiveAll(
        receiver,
        order.map((i) => packets[i]!),
      ),
    ).toEqual([{ digit: '7', durationMs: 100 }]);
  });

  it('drops late and repeated packets of a key already reported, also after the next key has started', () => {
    const receiver = new DtmfReceiver();
    const reports = receiveAll(receiver, [
      pkt(0, 1, 160, false, true),
      pkt(0, 1, 800, true),
      pkt(1600, 2, 160, false, true),
      pkt(0, 1, 800, true),
      pkt(0, 1, 480),
      pkt(1600, 2, 800, true),
      pkt(1600, 2, 800, true),
    ]);
    expect(reports).toEqual([
      { digit: '1', durationMs: 100 },
      { digit: '2', durationMs: 100 },
    ]);
  });

  it('reports the same key twice when it is pressed twice (a new event has a new timestamp)', () => {
    const receiver = new DtmfReceiver();
    const reports = receiveAll(receiver, [pkt(0, 9, 400, true, true), pkt(3200, 9, 160, false, true), pkt(3200, 9, 480, true)]);
    expect(reports).toEqual([
      { digit: '9', durationMs: 50 },
      { digit: '9', durationMs: 60 },
    ]);
  });

  it('ends a key whose end packets were all lost: at the next key, or after a timeout', () => {
    let now = 0;
    const receiver = new DtmfReceiver({ endTimeoutMs: 400, now: () => now });
    expect(receiveAll(receiver, [pkt(0, 4, 160, false, true), pkt(0, 4, 640), pkt(2000, 5, 160, false, true)])).toEqual([{ digit: '4', durationMs: 80 }]);
    now = 399;
    expect(receiver.poll()).toBeUndefined();
    now = 400;
    expect(receiver.poll()).toEqual({ digit: '5', durationMs: 20 });
    expect(receiver.poll()).toBeUndefined();
    // Its end arriving later changes nothing.
    expect(receiver.push(pkt(2000, 5, 800, true))).toEqual([]);
  });

  it('joins the segments of a long press into one report', () => {
    const sender = new DtmfSender({ toneMs: 10_000 });
    sender.enqueue('*');
    const receiver = new DtmfReceiver();
    expect(receiveAll(receiver, drain(sender, 0xfffe_0000))).toEqual([{ digit: '*', durationMs: 10_000 }]);
  });

  it('counts a 16-bit duration that wraps on one timestamp (a sender that never segments) as a long press', () => {
    const packets = [];
    for (let units = 160; units <= 80_000; units += 160) packets.push(pkt(5000, 0, units & 0xffff, false, units === 160));
    packets.push(pkt(5000, 0, 80_000 & 0xffff, true), pkt(5000, 0, 80_000 & 0xffff, true));
    // A packet from before the wrap, arriving late, is not a second wrap.
    packets.splice(420, 0, pkt(5000, 0, 65_000));
    const receiver = new DtmfReceiver();
    expect(receiveAll(receiver, packets)).toEqual([{ digit: '0', durationMs: 10_000 }]);
  });

  it('caps a sender that sticks at the largest duration, still reporting once', () => {
    const packets = [pkt(0, 3, 160, false, true)];
    for (let i = 0; i < 20; i++) packets.push(pkt(0, 3, 0xffff));
    packets.push(pkt(0, 3, 0xffff, true));
    expect(receiveAll(new DtmfReceiver(), packets)).toEqual([{ digit: '3', durationMs: 8192 }]);
  });

  it('ignores events that are not keys, and payloads too short', () => {
    const receiver = new DtmfReceiver();
    expect(receiver.push(pkt(0, 16, 800, true, true))).toEqual([]);
    expect(receiver.push({ timestamp: 0, marker: true, payload: Buffer.from([1]) })).toEqual([]);
    expect(receiver.poll()).toBeUndefined();
  });

  it('takes a timestamp far behind the last one as a restarted stream, not a stale packet', () => {
    const receiver = new DtmfReceiver();
    receiveAll(receiver, [pkt(100_000_000, 1, 800, true, true)]);
    expect(receiver.push(pkt(1000, 2, 800, true, true))).toEqual([{ digit: '2', durationMs: 100 }]);
    // A little behind is stale.
    expect(receiver.push(pkt(900, 3, 800, true, true))).toEqual([]);
  });
});
