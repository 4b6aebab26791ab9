/**
 * Tokens as a newcomer meets them with the real command (`bin/legway.js`, from dist/: run
 * `npm run build` first): a fresh `legway serve` mints no token over HTTP for anyone; `legway token`
 * mints tokens with the gateway's claims, within LEGWAY_TOKEN_MAX_TTL and outside the gateway-made
 * users' namespace; `legway token revoke` revokes one while the gateway runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processApi, requireBuiltCli, runCli, spawnGateway, stop, type RunningGateway } from '../support/process.js';
import { waitUntil } from '../support/resources.js';

describe('tokens from the legway command', () => {
  let dir: string;
  const running: RunningGateway[] = [];

  beforeAll(() => {
    requireBuiltCli();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'legway-proc-tokens-'));
  });
  afterEach(async () => {
    for (const g of running.splice(0)) await stop(g);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a fresh start with nothing configured mints no token over HTTP, for anyone', async () => {
    const g = await spawnGateway(dir);
    running.push(g);

    const answers = await Promise.all([
      fetch(`${g.url}/dev/login`),
      ...['user', 'operator', 'application'].map((role) =>
        fetch(`${g.url}/dev/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', role }) }),
      ),
    ]);

    for (const res of answers) {
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'NotFound', detail: expect.stringContaining('LEGWAY_DEV_LOGIN=true') });
    }
  });

  it('with LEGWAY_DEV_LOGIN=true, mints user tokens on loopback, and never operator tokens', async () => {
    const g = await spawnGateway(dir, { LEGWAY_DEV_LOGIN: 'true' });
    running.push(g);
    const login = (role: string): Promise<Response> =>
      fetch(`${g.url}/dev/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', role }) });

    const user = await login('user');
    const operator = await login('operator');

    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({ role: 'user', sub: 'alice', token: expect.any(String) });
    expect(operator.status).toBe(403);
    expect(g.output()).toContain('development login is on');
  });

  it('mints tokens with the application id, token type and an id; refuses a --ttl over the maximum and reserved names', () => {
    const minted = runCli(dir, ['token', '--sub', 'alice']);
    const configId = runCli(dir, ['token', '--sub', 'alice', '--ttl', '1h', '--application-id', 'app-7']);
    const tooLong = runCli(dir, ['token', '--sub', 'alice', '--ttl', '25h']);
    const tooLongForConfig = runCli(dir, ['token', '--sub', 'alice', '--ttl', '2h'], { LEGWAY_TOKEN_MAX_TTL: '1h' });
    const reserved = runCli(dir, ['token', '--sub', 'sip-+15551234']);

    expect(minted.status).toBe(0);
    const claims = decodeJwt(minted.stdout.trim());
    expect(claims).toMatchObject({ sub: 'alice', role: 'user', token_type: 'access', application_id: expect.any(String), jti: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(24 * 3600);
    expect(minted.stderr).toContain(`legway token revoke ${String(claims.jti)}`);
    expect(decodeJwt(configId.stdout.trim()).application_id).toBe('app-7');
    for (const refused of [tooLong, tooLongForConfig]) {
      expect(refused.status).toBe(78);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain('longer than LEGWAY_TOKEN_MAX_TTL');
    }
    expect(reserved.status).toBe(78);
    expect(reserved.stdout).toBe('');
    expect(reserved.stderr).toContain('reserved');
  });

  it('`legway token revoke JTI` revokes a token while the gateway runs', async () => {
    const g = await spawnGateway(dir);
    running.push(g);
    const token = runCli(dir, ['token', '--sub', 'backend', '--role', 'application']).stdout.trim();
    const api = processApi(g, token);
    expect((await api('GET', '/v1/conversations')).status).toBe(200);

    const revoked = runCli(dir, ['token', 'revoke', String(decodeJwt(token).jti)]);
    const again = runCli(dir, ['token', 'revoke', String(decodeJwt(token).jti)]);
    const bad = runCli(dir, ['token', 'revoke']);

    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toContain('revoked');
    expect(again.stdout).toContain('already revoked');
    expect(bad.status).toBe(78);
    expect(bad.stderr).toContain('usage: legway token revoke JTI');
    // The running gateway picks the revocation up from the store within seconds.
    await waitUntil(async () => (await api('GET', '/v1/conversations')).status === 401, { timeoutMs: 10_000, what: 'the revoked token to be refused' });
    expect((await api('GET', '/v1/conversations')).body).toMatchObject({ code: 'Unauthorized', detail: 'token revoked' });
  });
});
