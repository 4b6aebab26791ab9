import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { WebhookReceiver } from '../support/receiver.js';

const SECRET = 'webhook-restart-secret-long-enough-for-hs256';

async function api(g: RunningGateway, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

describe('webhook outbox across kill -9', () => {
  const receiver = new WebhookReceiver();
  let dir: string;
  const running: RunningGateway[] = [];

  afterEach(async () => {
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers what was queued before the kill after the restart: none lost, duplicates only of attempts in flight', async () => {
    dir = mkdtempSync(join(tmpdir(), 'legway-webhook-'));
    const url = await receiver.start();
    // Down at first: answer 503 to everything, and hold one request open so an attempt is in flight at the kill.
    let up = false;
    let held = false;
    receiver.answer = () => {
      if (up) return { status: 200 };
      if (!held) {
        held = true;
        return { hang: true };
      }
      return { status: 503 };
    };
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_EVENT_URL: url, LEGWAY_WEBHOOK_RETRY_BASE_MS: '50', LEGWAY_WEBHOOK_RETRY_MAX_MS: '200' };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);

    const sent: string[] = [];
    const conversations = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      const cid = (await api(first, token, 'POST', '/v1/conversations', { name })).id;
      const mid = (await api(first, token, 'POST', `/v1/conversations/${cid}/members`, { user: { name: `${name}-u` }, state: 'joined' })).id;
      conversations.push({ cid, mid });
    }
    for (let i = 0; i < 8; i++) {
      for (const { cid, mid } of conversations) {
        const e = await api(first, token, 'POST', `/v1/conversations/${cid}/events`, { type: 'text', from: mid, body: { text: `m${i}` } });
        sent.push(`${cid}#${e.id}`);
      }
    }
    await receiver.until(() => held && receiver.requests.some((r) => r.status === 503));
    await stop(first, 'SIGKILL');
    expect(receiver.accepted()).toEqual([]);

    up = true;
    const second = await spawnGateway(dir, env);
    running.push(second);
    await receiver.until(() => new Set(receiver.accepted().map((r) => `${r.event.conversation_id}#${r.event.id}`)).size === sent.length);

    const accepted = receiver.accepted();
    const keys = accepted.map((r) => `${r.event.conversation_id}#${r.event.id}`);
    expect(new Set(keys)).toEqual(new Set(sent));
    // Nothing was accepted before the kill, so nothing is accepted twice after it.
    expect(keys).toHaveLength(sent.length);
    for (const { cid } of conversations) {
      const ids = accepted.filter((r) => r.event.conversation_id === cid).map((r) => r.event.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
    // The attempt that was in flight at the kill arrives again: same conversation and event id.
    const heldEvent = receiver.requests.find((r) => r.status === undefined)!.event;
    expect(keys).toContain(`${heldEvent.conversation_id}#${heldEvent.id}`);
  });
});
