/**
 * A gateway killed with calls up (kill -9: no shutdown at all) ends those legs when it starts
 * again on the same data folder, each with its own kind's terminal event, and a SIP caller's
 * member — which is its call — leaves with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../sipp/sipp.js';
import { processApi, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { ScriptedPhone } from '../support/scriptedPhone.js';

const SECRET = 'crash-recovery-secret-long-enough-for-hs256';

interface EventRow {
  type: string;
  from: string;
  body: Record<string, unknown>;
}

describe('legs cut off by a crash', () => {
  let dir: string;
  const running: RunningGateway[] = [];
  const phones: ScriptedPhone[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-crash-'));
  });
  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.close()));
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a SIP call up at kill -9 ends at the next start with sip:hangup (system, gateway restarted), and its member leaves', async () => {
    const sipPort = await freePort();
    const env = {
      LEGWAY_SECRET: SECRET,
      LEGWAY_HOST: '127.0.0.1',
      LEGWAY_SIP_HOST: '127.0.0.1',
      LEGWAY_SIP_PORT: String(sipPort),
      LEGWAY_SIP_ROUTES: '*=crash-room',
    };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const api = async (g: RunningGateway, path: string, body?: unknown): Promise<any> =>
      (await processApi(g, token)(body === undefined ? 'GET' : 'POST', path, body)).body;
    const first = await spawnGateway(dir, env);
    running.push(first);
    const phone = await ScriptedPhone.open();
    phones.push(phone);
    const cid = String((await api(first, '/v1/conversations', { name: 'crash-room' })).id);
    await phone.call({ address: '127.0.0.1', port: sipPort }, 'crash-room');
    // Connected once our 200 is ACKed, which the phone sends just after `call` returns.
    const listLegs = async () => (await api(first, `/v1/conversations/${cid}/legs`))._embedded.legs as { id: string; status: string; member_id: string }[];
    await expect.poll(async () => (await listLegs()).map((l) => l.status), { timeout: 10_000 }).toEqual(['connected']);
    const legs = await listLegs();
    await stop(first, 'SIGKILL');

    const second = await spawnGateway(dir, env);
    running.push(second);
    const leg = await api(second, `/v1/legs/${legs[0]!.id}`);
    expect(leg).toMatchObject({ status: 'ended', end_reason: 'gateway restarted' });
    const events = (await api(second, `/v1/conversations/${cid}/events?page_size=100`))._embedded.events as EventRow[];
    const ends = events.filter((e) => e.body['leg_id'] === legs[0]!.id && (e.type === 'sip:hangup' || e.type === 'rtc:terminate'));
    expect(ends).toEqual([expect.objectContaining({ type: 'sip:hangup', body: { leg_id: legs[0]!.id, cause: 'gateway restarted', by: 'system' } })]);
    const left = events.filter((e) => e.type === 'member:left' && e.from === legs[0]!.member_id);
    expect(left).toHaveLength(1);
    const member = await api(second, `/v1/conversations/${cid}/members/${legs[0]!.member_id}`);
    expect(member.state).toBe('left');
  });
});
