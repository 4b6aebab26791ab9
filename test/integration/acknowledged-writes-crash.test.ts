/**
 * Group commit keeps the promise a 201 makes: many clients post at once (so their events share
 * commits), the gateway is killed with -9 mid-stream, and after a restart on the same data folder
 * every event a client was answered for is there with its body, and the log's ids have no hole.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processApi, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';

const SECRET = 'group-commit-crash-secret-long-enough-for-hs256';
const POSTERS = 8;

describe('acknowledged writes survive kill -9', () => {
  let dir: string;
  const running: RunningGateway[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-acked-'));
  });
  afterEach(async () => {
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('every event answered 201 before the kill is stored after the restart, and ids are gap-free', async () => {
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_SIP_ENABLED: 'false' };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);
    const api = processApi(first, token);
    const cid = String((await api('POST', '/v1/conversations', { name: 'acked' })).body.id);
    const member = (await api('POST', `/v1/conversations/${cid}/members`, { user: { name: 'writer' }, state: 'joined' })).body as { id: string };

    const acknowledged = new Map<number, string>();
    let killed = false;
    const poster = async (n: number): Promise<void> => {
      for (let i = 0; !killed; i++) {
        const text = `poster ${n} message ${i}`;
        try {
          const res = await api('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: member.id, body: { text } });
          if (res.status === 201) acknowledged.set(Number(res.body.id), text);
        } catch {
          return; // The connection died with the process: this post was never answered.
        }
      }
    };
    const posting = Array.from({ length: POSTERS }, (_, n) => poster(n));
    await expect.poll(() => acknowledged.size, { timeout: 30_000 }).toBeGreaterThanOrEqual(300);
    killed = true;
    await stop(first, 'SIGKILL');
    await Promise.all(posting);

    const second = await spawnGateway(dir, env);
    running.push(second);
    const read = processApi(second, token);
    const stored = new Map<number, { type: string; text?: string }>();
    for (let start = 1; ;) {
      const page = (await read('GET', `/v1/conversations/${cid}/events?page_size=100&start_id=${start}`)).body;
      const events = page._embedded.events as { id: number; type: string; body: { text?: string } }[];
      for (const e of events) stored.set(e.id, { type: e.type, ...(e.body.text !== undefined && { text: e.body.text }) });
      if (events.length < 100) break;
      start = events.at(-1)!.id + 1;
    }

    for (const [id, text] of acknowledged) expect(stored.get(id), `acknowledged event ${id}`).toEqual({ type: 'text', text });
    const ids = [...stored.keys()].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
  });
});
