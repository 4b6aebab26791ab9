/**
 * One gateway per data folder. A second `legway serve` on a folder in use must stop before it
 * touches anything: opening the SQLite file would take the running gateway's live legs for those
 * of a crashed one and end them, and finish its recordings. The lock is the kernel's, so a
 * gateway killed with -9 leaves nothing behind that would block the next start.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../sipp/sipp.js';
import { processApi, requireBuiltCli, runCli, serveUntilExit, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { ScriptedPhone } from '../support/scriptedPhone.js';

const SECRET = 'data-dir-lock-secret-long-enough-for-hs256';

describe('the data folder lock', () => {
  let dir: string;
  const running: RunningGateway[] = [];
  const phones: ScriptedPhone[] = [];

  beforeAll(() => {
    requireBuiltCli();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-lock-'));
  });
  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.close()));
    for (const g of running.splice(0)) await stop(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a second `legway serve` on a folder in use exits 75 naming the folder, and the first keeps its call, its events and its service', async () => {
    const sipPort = await freePort();
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_SIP_PORT: String(sipPort), LEGWAY_SIP_ROUTES: '*=lock-room', LEGWAY_MEDIA_WORKERS: '1' };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);
    const api = processApi(first, token);
    const cid = String((await api('POST', '/v1/conversations', { name: 'lock-room' })).body.id);
    const phone = await ScriptedPhone.open();
    phones.push(phone);
    await phone.call({ address: '127.0.0.1', port: sipPort }, 'lock-room');
    const legsOf = async (): Promise<{ id: string; status: string; member_id: string }[]> =>
      (await api('GET', `/v1/conversations/${cid}/legs`)).body._embedded.legs;
    await expect.poll(async () => (await legsOf()).map((l) => l.status), { timeout: 10_000 }).toEqual(['connected']);
    const member = (await legsOf())[0]!.member_id;
    for (const text of ['one', 'two'])
      expect((await api('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: member, body: { text } })).status).toBe(201);
    const eventsBefore = (await api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events;
    const filesBefore = readdirSync(join(dir, 'data')).sort();

    // Same folder, its own ports: only the folder is shared.
    const second = await serveUntilExit(dir, { ...env, LEGWAY_SIP_PORT: String(await freePort()) });

    expect(second.timedOut).toBe(false);
    expect(second.status).toBe(75);
    expect(second.stderr).toContain(`the data folder ${join(dir, 'data')} is in use by another legway process`);
    expect(second.stdout).not.toContain('legway listening');
    // The first gateway: the call still up, not one event more or less, the folder as it was, and it still serves and writes.
    expect((await legsOf()).map((l) => l.status)).toEqual(['connected']);
    expect((await api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events).toEqual(eventsBefore);
    expect(readdirSync(join(dir, 'data')).sort()).toEqual(filesBefore);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    const next = await api('POST', `/v1/conversations/${cid}/events`, { type: 'text', from: member, body: { text: 'three' } });
    expect(next.body.id).toBe(eventsBefore.at(-1).id + 1);
    // Minting tokens reads the folder only, and still works beside the running gateway.
    expect(runCli(dir, ['token', '--sub', 'alice'], env).status).toBe(0);
  });

  it('a gateway killed with -9 leaves no lock behind: the next start on the folder serves', async () => {
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_SIP_ENABLED: 'false', LEGWAY_MEDIA_WORKERS: '1' };
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application'], env).stdout.trim();
    const first = await spawnGateway(dir, env);
    running.push(first);
    expect((await processApi(first, token)('POST', '/v1/conversations', { name: 'kept' })).status).toBe(201);
    await stop(first, 'SIGKILL');

    const second = await spawnGateway(dir, env);
    running.push(second);
    const listed = await processApi(second, token)('GET', '/v1/conversations');
    expect(listed.body._embedded.conversations.map((c: { name: string }) => c.name)).toEqual(['kept']);
  });

  it('a gateway stopped cleanly gives the lock back: the next start on the folder serves', async () => {
    const env = { LEGWAY_SECRET: SECRET, LEGWAY_SIP_ENABLED: 'false', LEGWAY_MEDIA_WORKERS: '1' };
    const first = await spawnGateway(dir, env);
    running.push(first);
    expect(await stop(first, 'SIGTERM')).toBe(0);
    const second = await spawnGateway(dir, env);
    running.push(second);
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
  });
});
