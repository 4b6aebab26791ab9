import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/lib/clock.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

/** A clock the test moves by hand. */
class ManualClock implements Clock {
  constructor(private ms: number) {}
  now(): Date {
    return new Date(this.ms);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

describe('conversation ttl', () => {
  let gw: TestGateway;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    gw = await startGateway({ clock });
  });
  afterEach(async () => {
    await gw.close();
  });

  it('deletes a conversation once it has been empty for its ttl, and not before', async () => {
    const c = (await gw.api('POST', '/v1/conversations', { body: { name: 'short-lived', properties: { ttl: 60 } } })).body;
    const keep = (await gw.api('POST', '/v1/conversations', { body: { name: 'no-ttl' } })).body;

    clock.advance(59);
    expect(gw.app.services.conversations.sweepExpired()).toEqual([]);
    clock.advance(2);
    expect(gw.app.services.conversations.sweepExpired()).toEqual([c.id]);

    expect((await gw.api('GET', `/v1/conversations/${c.id}`)).status).toBe(404);
    expect((await gw.api('GET', `/v1/conversations/${keep.id}`)).status).toBe(200);
    const last = gw.app.store.events.list({ conversationId: c.id, order: 'desc', size: 1 }).items[0];
    expect(last).toMatchObject({ type: 'conversation:deleted', body: { id: c.id, name: 'short-lived' } });
  });

  it('does not expire while someone is joined; the clock starts when the last member leaves', async () => {
    const c = (await gw.api('POST', '/v1/conversations', { body: { name: 'meeting', properties: { ttl: 30 } } })).body;
    const m = (await gw.api('POST', `/v1/conversations/${c.id}/members`, { body: { user: { name: 'ann' }, state: 'joined' } })).body;

    clock.advance(600); // well past the ttl, within the test token's lifetime
    expect(gw.app.services.conversations.sweepExpired()).toEqual([]);

    const left = await gw.api('PATCH', `/v1/conversations/${c.id}/members/${m.id}`, { body: { state: 'left' } });
    expect(left.status).toBe(200);
    clock.advance(29);
    expect(gw.app.services.conversations.sweepExpired()).toEqual([]);
    clock.advance(2);
    expect(gw.app.services.conversations.sweepExpired()).toEqual([c.id]);
    expect((await gw.api('GET', `/v1/conversations/${c.id}`)).status).toBe(404);
  });
});
