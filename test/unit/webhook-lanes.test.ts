import { describe, expect, it } from 'vitest';
import type { OutboxEntry } from '../../src/store/outboxRepo.js';
import { Lanes } from '../../src/webhooks/lanes.js';

function entry(seq: number, conversation = 'CON-a'): OutboxEntry {
  return {
    seq,
    conversation_id: conversation,
    event_id: seq,
    payload: `{"id":${seq}}`,
    state: 'pending',
    attempts: 0,
    created_at: 0,
    window_start: 0,
    next_attempt_at: 0,
    last_status: null,
    last_error: null,
    failed_at: null,
  };
}

/** An outbox stand-in: pending entries by seq, read the way the dispatcher reads them, counting reads. */
function outbox(seqs: number[]): { lanes: Lanes; reads: number[]; pending: Set<number> } {
  const pending = new Set(seqs);
  const reads: number[] = [];
  const lanes = new Lanes((_conversation, after, limit) => {
    reads.push(after);
    const rows = [...pending].filter((s) => s > after).sort((a, b) => a - b);
    const batch = rows.slice(0, limit).map((s) => entry(s));
    return { entries: batch, last: batch.at(-1)?.seq ?? after, complete: rows.length <= limit };
  });
  return { lanes, reads, pending };
}

/** Delivers the head of CON-a, as the dispatcher does: the outbox loses it and the lane lets it go. */
function deliverHead(o: ReturnType<typeof outbox>): number | undefined {
  const head = o.lanes.head('CON-a');
  if (head === undefined) return undefined;
  o.pending.delete(head.seq);
  o.lanes.left('CON-a', head.seq);
  return head.seq;
}

describe('webhook lanes', () => {
  it('tells a new entry of a conversation it knows to be empty that it heads the queue, without a read', () => {
    const o = outbox([]);
    expect(o.lanes.head('CON-a')).toBeUndefined();
    expect(o.reads).toHaveLength(1);

    o.pending.add(1);
    expect(o.lanes.queued(entry(1))).toBe('head');
    o.pending.add(2);
    expect(o.lanes.queued(entry(2))).toBe('behind');
    expect([deliverHead(o), deliverHead(o), deliverHead(o)]).toEqual([1, 2, undefined]);
    expect(o.reads).toHaveLength(1);
  });

  it('cannot tell for a conversation it has not read', () => {
    const o = outbox([1]);
    expect(o.lanes.queued(entry(1))).toBe('unknown');
  });

  it('keeps a long backlog in the outbox and reads it in batches, in order, none skipped or repeated', () => {
    const o = outbox(Array.from({ length: 300 }, (_, i) => i + 1));
    const delivered: number[] = [];
    for (let seq = deliverHead(o); seq !== undefined; seq = deliverHead(o)) delivered.push(seq);

    expect(delivered).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // One read per batch of 64, not one per delivery.
    expect(o.reads.length).toBeLessThanOrEqual(6);
  });

  it('leaves an entry queued past its room in the outbox, and finds it there when its turn comes', () => {
    const o = outbox([]);
    o.lanes.head('CON-a');
    for (let seq = 1; seq <= 100; seq++) {
      o.pending.add(seq);
      o.lanes.queued(entry(seq));
    }
    const delivered: number[] = [];
    for (let seq = deliverHead(o); seq !== undefined; seq = deliverHead(o)) delivered.push(seq);
    expect(delivered).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('keeps a retried head as the outbox will show it, and reads afresh after clear()', () => {
    const o = outbox([1, 2]);
    const head = o.lanes.head('CON-a')!;
    o.lanes.retried({ ...head, attempts: 1, next_attempt_at: 500 });
    expect(o.lanes.head('CON-a')).toMatchObject({ seq: 1, attempts: 1, next_attempt_at: 500 });

    o.lanes.clear();
    expect(o.lanes.queued(entry(3))).toBe('unknown');
    expect(o.lanes.head('CON-a')).toMatchObject({ seq: 1, attempts: 0 });
  });
});
