import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { metricsMatching, startGateway, type TestGateway } from '../support/gateway.js';
import { WebhookReceiver, type Received } from '../support/receiver.js';

const CONCURRENCY = 4;
const CONVERSATIONS = 12;
const EVENTS_EACH = 30;

const key = (r: Received): string => `${r.event.conversation_id}#${r.event.id}`;

describe('event webhook under many conversations', () => {
  let gw: TestGateway | undefined;
  const receiver = new WebhookReceiver();

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await receiver.close();
    receiver.requests.length = 0;
    receiver.answer = () => ({ status: 200 });
  });

  // A generous timeout: hundreds of REST posts and deliveries on a loaded 2-core machine.
  it('delivers every event of every conversation once, each conversation in id order, never more at once than allowed', { timeout: 60_000 }, async () => {
    const url = await receiver.start();
    gw = await startGateway({
      env: {
        LEGWAY_EVENT_URL: url,
        LEGWAY_WEBHOOK_CONCURRENCY: String(CONCURRENCY),
        LEGWAY_WEBHOOK_RETRY_BASE_MS: '20',
        LEGWAY_WEBHOOK_RETRY_MAX_MS: '100',
      },
    });
    const dispatcher = gw.app.webhooks.dispatcher!;
    let mostInFlight = 0;
    const refusedOnce = new Set<string>();
    receiver.answer = (r) => {
      mostInFlight = Math.max(mostInFlight, dispatcher.inFlightCount);
      // Every seventh event is refused once, so retries are mixed into the stream.
      if (r.event.id % 7 === 0 && !refusedOnce.has(key(r))) {
        refusedOnce.add(key(r));
        return { status: 503 };
      }
      return { status: 200 };
    };

    const conversations = await Promise.all(
      Array.from({ length: CONVERSATIONS }, async (_, i) => {
        const cid = (await gw!.api('POST', '/v1/conversations', { body: { name: `busy-${i}` } })).body.id as string;
        const mid = (await gw!.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: `busy-${i}-a` }, state: 'joined' } })).body.id as string;
        return { cid, mid };
      }),
    );
    // Each conversation posts its events one after another; the conversations post side by side.
    const sent = (
      await Promise.all(
        conversations.map(async ({ cid, mid }) => {
          const keys: string[] = [];
          for (let n = 0; n < EVENTS_EACH; n++) {
            const res = await gw!.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from: mid, body: { text: `m${n}` } } });
            expect(res.status).toBe(201);
            keys.push(`${cid}#${res.body.id}`);
          }
          return keys;
        }),
      )
    ).flat();
    await receiver.until(() => new Set(receiver.accepted().map(key)).size === sent.length, 45_000);

    const accepted = receiver.accepted();
    expect(accepted.map(key).sort()).toEqual([...sent].sort());
    expect(accepted).toHaveLength(sent.length);
    for (const { cid } of conversations) {
      const ids = accepted.filter((r) => r.event.conversation_id === cid).map((r) => r.event.id as number);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
    expect(refusedOnce.size).toBeGreaterThan(0);
    expect(mostInFlight).toBeLessThanOrEqual(CONCURRENCY);
    const delivered = [new RegExp(`legway_webhook_delivered_total ${sent.length}\\b`), /legway_webhook_queue_depth\{state="pending"\} 0/];
    const metrics = await metricsMatching(gw, delivered);
    for (const pattern of delivered) expect(metrics).toMatch(pattern);
  });

  // A slow receiver leaves a backlog in many conversations at once: the entries the dispatcher reads
  // ahead for conversations waiting for a slot stay within its budget (4,096 entries), and what it
  // could not keep is read again when the conversation's turn comes, in order, none lost.
  it('keeps what it reads ahead within its budget when many conversations have a backlog, and still delivers each in order', { timeout: 90_000 }, async () => {
    const url = await receiver.start();
    gw = await startGateway({
      env: { LEGWAY_EVENT_URL: url, LEGWAY_WEBHOOK_CONCURRENCY: '4', LEGWAY_WEBHOOK_RETRY_BASE_MS: '20', LEGWAY_WEBHOOK_RETRY_MAX_MS: '50' },
    });
    const dispatcher = gw.app.webhooks.dispatcher!;
    const app = gw.app;
    const principal: Principal = { role: 'application', sub: 'backlog-test', join: [] };
    // Refused until every event is queued, so that each conversation has its whole backlog waiting.
    let open = false;
    let mostReadAhead = 0;
    const delivered = new Set<string>();
    receiver.answer = (r) => {
      mostReadAhead = Math.max(mostReadAhead, dispatcher.readAheadCount);
      if (open) delivered.add(key(r));
      return { status: open ? 200 : 503 };
    };
    const BACKLOGGED = 150;
    const EACH = 80;
    const sent: string[] = [];
    const senders = Array.from({ length: BACKLOGGED }, (_, c) => {
      const conversation = app.services.conversations.create({ name: `backlog-${c}` }, principal);
      return { id: conversation.id, from: app.services.members.create(conversation.id, { user: { name: `backlog-${c}-a` }, state: 'joined' }, principal).id };
    });
    // Round-robin, so that a conversation's next entry is always younger than the other heads: each
    // lane that ends puts its conversation at the back of the line, holding what was read ahead.
    for (let n = 0; n < EACH; n++) {
      for (const { id, from } of senders) sent.push(`${id}#${app.services.events.post(id, { type: 'text', from, body: { text: `b${n}` } }, principal).id}`);
    }
    await new Promise<void>((resolve) => app.store.afterCommit(resolve));
    open = true;
    await receiver.until(() => delivered.size >= sent.length, 80_000);

    const expected = new Set(sent);
    const forConversations = receiver.accepted().filter((r) => expected.has(key(r)));
    expect(new Set(forConversations.map(key))).toEqual(expected);
    expect(forConversations).toHaveLength(sent.length);
    const byConversation = new Map<string, number[]>();
    for (const r of forConversations)
      byConversation.set(r.event.conversation_id, [...(byConversation.get(r.event.conversation_id) ?? []), r.event.id as number]);
    for (const ids of byConversation.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // The budget was reached (so the path past it ran) and never exceeded.
    expect(mostReadAhead).toBeGreaterThan(4000);
    expect(mostReadAhead).toBeLessThanOrEqual(4096);
  });

  // A receiver that is slow to answer (far away, or busy) bounds delivery at the deliveries in flight
  // over its answer time; by default 64 conversations are delivered at once, so 64 requests are open
  // together against a receiver that has answered none of them, and the 65th conversation waits.
  it('by default has 64 conversations in flight at once against a receiver that has not answered yet', { timeout: 30_000 }, async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url } });
    const app = gw.app;
    const principal: Principal = { role: 'application', sub: 'in-flight-test', join: [] };
    receiver.answer = () => ({ hang: true });
    for (let c = 0; c < 70; c++) {
      const conversation = app.services.conversations.create({ name: `in-flight-${c}` }, principal);
      const from = app.services.members.create(conversation.id, { user: { name: `in-flight-${c}-a` }, state: 'joined' }, principal).id;
      app.services.events.post(conversation.id, { type: 'text', from, body: { text: 'hello' } }, principal);
    }
    await receiver.until(() => receiver.requests.length >= 64, 20_000);
    const conversationsOpen = new Set(receiver.requests.map((r) => r.event.conversation_id as string));
    expect(conversationsOpen.size).toBe(receiver.requests.length);
    expect(gw.app.webhooks.dispatcher!.inFlightCount).toBe(64);
  });
});
