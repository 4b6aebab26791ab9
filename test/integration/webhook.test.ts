import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsMatching, startGateway, TEST_SECRET, type TestGateway } from '../support/gateway.js';
import { WebhookReceiver, type Received } from '../support/receiver.js';

const FAST_RETRY = { LEGWAY_WEBHOOK_RETRY_BASE_MS: '20', LEGWAY_WEBHOOK_RETRY_MAX_MS: '100' };

/** Conversation with two joined members; returns their ids. */
async function conversation(gw: TestGateway, name: string) {
  const cid = (await gw.api('POST', '/v1/conversations', { body: { name } })).body.id as string;
  const a = (await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: `${name}-a` }, state: 'joined' } })).body.id as string;
  const b = (await gw.api('POST', `/v1/conversations/${cid}/members`, { body: { user: { name: `${name}-b` }, state: 'joined' } })).body.id as string;
  return { cid, a, b };
}

async function text(gw: TestGateway, cid: string, from: string, t: string): Promise<number> {
  const res = await gw.api('POST', `/v1/conversations/${cid}/events`, { body: { type: 'text', from, body: { text: t } } });
  expect(res.status).toBe(201);
  return res.body.id;
}

const key = (r: Received) => `${r.event.conversation_id}#${r.event.id}`;

describe('event webhook', () => {
  let gw: TestGateway | undefined;
  const receiver = new WebhookReceiver();

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await receiver.close();
    receiver.requests.length = 0;
    receiver.answer = () => ({ status: 200 });
  });

  it('posts the catalogue\'s "Yes" events, signed, and not the "No" ones', async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url } });
    const { cid, a, b } = await conversation(gw, 'signed');

    const t1 = await text(gw, cid, a, 'hello');
    const post = (type: string, from: string, body: unknown) => gw!.api('POST', `/v1/conversations/${cid}/events`, { body: { type, from, body } });
    await post('text:delivered', b, { event_id: t1 });
    await post('text:seen', b, { event_id: t1 });
    await post('text:typing:on', a, {});
    await post('image', a, { representations: { original: { url: 'https://img.example/cat.png', type: 'image/png' } } });
    await post('custom:poll', a, { question: 'lunch?' });
    expect((await gw.api('DELETE', `/v1/conversations/${cid}/events/${t1}`)).status).toBe(204);
    const last = await text(gw, cid, b, 'marker');

    await receiver.until(() => receiver.accepted().some((r) => r.event.id === last));
    const got = receiver.accepted();
    expect(got.map((r) => r.event.type)).toEqual(['text', 'text:delivered', 'text:seen', 'text:typing:on', 'image', 'custom:poll', 'event:delete', 'text']);

    // Exactly the stored event, signed with a JWT whose payload_hash is the body's SHA-256.
    const stored = (await gw.api('GET', `/v1/conversations/${cid}/events/${last}`)).body;
    expect(JSON.parse(got.at(-1)!.raw)).toEqual(stored);
    const signatureKey = new TextEncoder().encode(gw.app.config.signatureSecret);
    for (const r of got) {
      expect(r.headers['content-type']).toBe('application/json');
      const token = /^Bearer (.+)$/.exec(r.headers.authorization ?? '')![1]!;
      const { payload, protectedHeader } = await jwtVerify(token, signatureKey, { algorithms: ['HS256'] });
      expect(protectedHeader.alg).toBe('HS256');
      expect(payload.payload_hash).toBe(createHash('sha256').update(r.raw).digest('hex'));
      expect(payload.application_id).toBe(gw.app.config.applicationId);
      expect(typeof payload.jti).toBe('string');
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
    }
    // "No" events (conversation:created, member:joined) never reached the receiver, and nothing is left queued or parked.
    expect(receiver.requests.filter((r) => /^(conversation|member):/.test(r.event.type))).toEqual([]);
    expect({ pending: gw.app.store.lanes.pending(), failed: gw.app.store.outbox.failedCount() }).toEqual({ pending: 0, failed: 0 });
  });

  it('a tampered body fails verification: payload_hash no longer matches', async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url } });
    const { cid, a } = await conversation(gw, 'tamper');
    const id = await text(gw, cid, a, 'pay 10');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === id));
    const r = receiver.accepted()[0]!;
    const token = /^Bearer (.+)$/.exec(r.headers.authorization!)![1]!;
    const { payload } = await jwtVerify(token, new TextEncoder().encode(gw.app.config.signatureSecret));
    const forged = r.raw.replace('pay 10', 'pay 1000');
    expect(createHash('sha256').update(forged).digest('hex')).not.toBe(payload.payload_hash);
    await expect(jwtVerify(token, new TextEncoder().encode('another-secret-another-secret-another!!'))).rejects.toThrow();
  });

  it('signs with the signature secret kept in the data folder, never with the token secret', async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url } });
    const { cid, a } = await conversation(gw, 'keys');
    const id = await text(gw, cid, a, 'which key?');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === id));
    const token = /^Bearer (.+)$/.exec(receiver.accepted()[0]!.headers.authorization!)![1]!;
    const kept = readFileSync(join(gw.dataDir, 'signature_secret'), 'utf8').trim();

    await expect(jwtVerify(token, new TextEncoder().encode(kept), { algorithms: ['HS256'] })).resolves.toBeDefined();
    // A receiver holds the signature secret; the token secret must not be it.
    expect(kept).not.toBe(TEST_SECRET);
    await expect(jwtVerify(token, new TextEncoder().encode(TEST_SECRET), { algorithms: ['HS256'] })).rejects.toThrow(/signature/);
  });

  it('posts every event when configured to', async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url, LEGWAY_WEBHOOK_ALL_EVENTS: 'true' } });
    const { a, cid } = await conversation(gw, 'all');
    const id = await text(gw, cid, a, 'x');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === id));
    expect(receiver.accepted().map((r) => r.event.type)).toEqual(['conversation:created', 'member:joined', 'member:joined', 'text']);
  });

  // A generous timeout: on a loaded 2-core machine the retries' timers fire late.
  it('keeps retrying while the receiver fails, then delivers everything once, in id order per conversation', { timeout: 60_000 }, async () => {
    const url = await receiver.start();
    let failing = true;
    receiver.answer = () => (failing ? { status: 500 } : { status: 200 });
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url, ...FAST_RETRY } });
    const one = await conversation(gw, 'one');
    const two = await conversation(gw, 'two');
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      sent.push(`${one.cid}#${await text(gw, one.cid, one.a, `one-${i}`)}`);
      sent.push(`${two.cid}#${await text(gw, two.cid, two.b, `two-${i}`)}`);
    }
    // Several failed attempts of each conversation's head before the receiver recovers.
    await receiver.until(() => receiver.requests.filter((r) => r.status === 500).length >= 6, 25_000);
    failing = false;
    await receiver.until(() => receiver.accepted().length >= sent.length, 25_000);

    const accepted = receiver.accepted();
    expect(accepted.map(key).sort()).toEqual([...sent].sort());
    expect(new Set(accepted.map(key)).size).toBe(accepted.length);
    for (const cid of [one.cid, two.cid]) {
      const ids = accepted.filter((r) => r.event.conversation_id === cid).map((r) => r.event.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    }
    const delivered = [/legway_webhook_delivered_total 20\b/, /legway_webhook_queue_depth\{state="pending"\} 0/];
    const metrics = await metricsMatching(gw, delivered);
    for (const pattern of delivered) expect(metrics).toMatch(pattern);
    expect(metrics).toMatch(/legway_webhook_retried_total [1-9]/);
  });

  it('a receiver that never answers for one conversation does not hold up the others, nor the gateway', async () => {
    const url = await receiver.start();
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url, LEGWAY_WEBHOOK_TIMEOUT_MS: '60000' } });
    const stuck = await conversation(gw, 'stuck');
    const fine = await conversation(gw, 'fine');
    receiver.answer = (r) => (r.event.conversation_id === stuck.cid ? { hang: true } : { status: 204 });

    await text(gw, stuck.cid, stuck.a, 'into the void');
    await receiver.until(() => receiver.requests.some((r) => r.event.conversation_id === stuck.cid));
    const ids: number[] = [];
    for (let i = 0; i < 15; i++) ids.push(await text(gw, fine.cid, fine.a, `fine-${i}`));
    await receiver.until(() => receiver.accepted().filter((r) => r.event.conversation_id === fine.cid).length === ids.length);

    expect(receiver.accepted().map((r) => r.event.id)).toEqual(ids);
    // The stuck conversation's first event is still in flight; its next one waits behind it, unsent.
    await text(gw, stuck.cid, stuck.b, 'behind');
    // A later delivery elsewhere shows the dispatcher has had its chance to (wrongly) send 'behind'.
    const marker = await text(gw, fine.cid, fine.b, 'marker');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === marker && r.event.conversation_id === fine.cid));
    expect(receiver.requests.filter((r) => r.event.conversation_id === stuck.cid)).toHaveLength(1);
    expect((await gw.api('GET', '/readyz', { token: null })).status).toBe(200);
  });

  it('parks a delivery the receiver refuses (4xx), lists it, and replays it on request', async () => {
    const url = await receiver.start();
    receiver.answer = (r) => (r.event.body?.text === 'poison' ? { status: 400 } : { status: 200 });
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url, ...FAST_RETRY } });
    const { cid, a } = await conversation(gw, 'parked');
    const bad = await text(gw, cid, a, 'poison');
    const after = await text(gw, cid, a, 'after');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === after));
    expect(receiver.requests.filter((r) => r.event.id === bad)).toHaveLength(1); // not retried

    const failed = await gw.api('GET', '/v1/webhooks/failed');
    expect(failed.status).toBe(200);
    expect(failed.body._embedded.failed).toHaveLength(1);
    const entry = failed.body._embedded.failed[0];
    expect(entry).toMatchObject({ conversation_id: cid, event_id: bad, attempts: 1, last_status: 400 });
    expect(entry.event).toMatchObject({ id: bad, type: 'text', body: { text: 'poison' } });
    const user = await gw.token('parked-a');
    expect((await gw.api('GET', '/v1/webhooks/failed', { token: user })).status).toBe(403);

    receiver.answer = () => ({ status: 200 });
    const replay = await gw.api('POST', `/v1/webhooks/failed/${entry.id}/replay`);
    expect(replay).toMatchObject({ status: 202, body: { replayed: 1 } });
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === bad));
    expect((await gw.api('GET', '/v1/webhooks/failed')).body._embedded.failed).toEqual([]);
    expect((await gw.api('POST', `/v1/webhooks/failed/${entry.id}/replay`)).status).toBe(404);
  });

  it('honours 429 Retry-After and then delivers', async () => {
    const url = await receiver.start();
    let first = true;
    receiver.answer = () => {
      if (!first) return { status: 200 };
      first = false;
      return { status: 429, headers: { 'retry-after': '1' } };
    };
    gw = await startGateway({ env: { LEGWAY_EVENT_URL: url, ...FAST_RETRY } });
    const { cid, a } = await conversation(gw, 'throttled');
    const id = await text(gw, cid, a, 'slowly');
    await receiver.until(() => receiver.accepted().some((r) => r.event.id === id));
    expect(receiver.requests.map((r) => r.status)).toEqual([429, 200]);
  });
});
