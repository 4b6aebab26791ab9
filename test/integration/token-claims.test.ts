/**
 * What a token must carry to be accepted (the gateway's application id, the access token type, an
 * id, an issue time, a lifetime within LEGWAY_TOKEN_MAX_TTL), which key must sign it (never the
 * webhook signature secret), and revocation by id: on REST, on socket handshakes, and for a socket
 * already connected.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { request, startGateway, TEST_SECRET, type GatewayOptions, type TestGateway } from '../support/gateway.js';
import { handshakeRefusal, jtiOf, signClaims, validClaims } from '../support/tokens.js';

let gw: TestGateway | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(options: GatewayOptions = {}): Promise<TestGateway> {
  gw = await startGateway(options);
  return gw;
}

/** Asserts that REST (as the application) and the socket handshake (as a user) both refuse tokens made from `claims`. */
async function expectRefusedEverywhere(g: TestGateway, alter: (claims: Record<string, unknown>) => void, reason: RegExp): Promise<void> {
  const appClaims = validClaims(g, 'backend', 'application');
  const userClaims = validClaims(g, 'alice', 'user');
  alter(appClaims);
  alter(userClaims);

  const rest = await g.api('GET', '/v1/conversations', { token: await signClaims(TEST_SECRET, appClaims) });
  const handshake = await handshakeRefusal(g, await signClaims(TEST_SECRET, userClaims));

  expect(rest.status).toBe(401);
  expect(rest.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(rest.body).toMatchObject({ code: 'Unauthorized', detail: expect.stringMatching(reason) });
  expect(handshake.message).toMatch(reason);
  expect(handshake.data?.code).toBe('Unauthorized');
}

describe('token claims', () => {
  it('accepts a token with every claim, as the test mints them by hand', async () => {
    const g = await start();

    const rest = await g.api('GET', '/v1/conversations', { token: await signClaims(TEST_SECRET, validClaims(g, 'backend', 'application')) });
    const socket = await g.connect(await signClaims(TEST_SECRET, validClaims(g, 'alice', 'user')));

    expect(rest.status).toBe(200);
    expect(socket.connected).toBe(true);
  });

  it.each([
    ['no application_id', (c: Record<string, unknown>) => delete c.application_id, /lacks the application_id claim/],
    ["another application's id", (c: Record<string, unknown>) => (c.application_id = 'someone-else'), /another application/],
    ['no token type', (c: Record<string, unknown>) => delete c.token_type, /lacks the token_type claim/],
    ['another token type', (c: Record<string, unknown>) => (c.token_type = 'webhook'), /token_type/],
    ['no iat', (c: Record<string, unknown>) => delete c.iat, /lacks the iat claim/],
    ['an iat in the future', (c: Record<string, unknown>) => ((c.iat = (c.exp as number) - 60), (c.exp = (c.exp as number) + 7200)), /iat/],
    ['no jti', (c: Record<string, unknown>) => delete c.jti, /lacks the jti claim/],
    ['a lifetime over 24 hours', (c: Record<string, unknown>) => (c.exp = (c.iat as number) + 24 * 3600 + 1), /lifetime exceeds/],
    ['a subject in the gateway-made users’ namespace', (c: Record<string, unknown>) => (c.sub = 'sip-+15551234'), /reserved/],
  ])('refuses a token with %s on REST and on the socket handshake, saying why', async (_what, alter, reason) => {
    const g = await start();
    await expectRefusedEverywhere(g, alter, reason);
    // Nothing was created by the refused requests.
    expect((await g.api('GET', '/v1/conversations')).body._embedded.conversations).toEqual([]);
  });

  it('refuses a longer lifetime than LEGWAY_TOKEN_MAX_TTL, and takes one within it', async () => {
    const g = await start({ env: { LEGWAY_TOKEN_MAX_TTL: '1h' } });

    await expectRefusedEverywhere(g, (c) => (c.exp = (c.iat as number) + 3601), /lifetime exceeds the gateway's maximum of 3600 s/);
    expect((await g.api('GET', '/v1/conversations', { token: await g.token('backend', 'application', { ttlSeconds: 3600 }) })).status).toBe(200);
  });

  it('mints tokens that carry the application id, the token type, an issue time and a fresh id', async () => {
    const g = await start();

    const first = decodeJwt(await g.token('alice'));
    const second = decodeJwt(await g.token('alice'));

    expect(first).toMatchObject({ sub: 'alice', role: 'user', application_id: g.app.config.applicationId, token_type: 'access' });
    expect(first.exp! - first.iat!).toBe(3600);
    expect(first.jti).toEqual(expect.any(String));
    expect(second.jti).not.toBe(first.jti);
  });

  it('refuses a token signed with the webhook signature secret, which every webhook receiver holds', async () => {
    const g = await start();
    const secret = g.app.config.signatureSecret;

    const rest = await g.api('GET', '/v1/conversations', { token: await g.token('backend', 'application', { secret }) });
    const handshake = await handshakeRefusal(g, await g.token('olga', 'operator', { secret }), '/operator');

    expect(secret).not.toBe(TEST_SECRET);
    expect(rest.status).toBe(401);
    expect(rest.body).toMatchObject({ code: 'Unauthorized', detail: expect.stringMatching(/signature/) });
    expect(handshake.message).toMatch(/signature/);
  });
});

describe('token revocation', () => {
  it('refuses a revoked token on REST and handshakes, and disconnects the sockets it opened', async () => {
    const g = await start();
    const cid = (await g.api('POST', '/v1/conversations', { body: { name: 'revoke-me' } })).body.id as string;
    const aliceToken = await g.token('alice', 'user', { join: ['revoke-me'] });
    const alice = await g.connect(aliceToken);
    expect(await request(alice, 'conversation:join', { conversation_id: cid })).toMatchObject({ ok: true });
    const olgaToken = await g.token('olga', 'operator');
    const olga = await g.connect(olgaToken, { namespace: '/operator' });
    const backendToken = await g.token('backend2', 'application');
    const disconnected = new Promise<string>((resolve) => alice.once('disconnect', resolve));

    const revoked = await g.api('POST', '/v1/tokens/revocations', { body: { jti: jtiOf(aliceToken) } });
    const again = await g.api('POST', '/v1/tokens/revocations', { body: { jti: jtiOf(aliceToken) } });
    await g.api('POST', '/v1/tokens/revocations', { body: { jti: jtiOf(backendToken) } });

    expect(revoked.status).toBe(201);
    expect(revoked.body).toEqual({ jti: jtiOf(aliceToken), revoked_at: expect.any(String) });
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
    expect(await disconnected).toBe('io server disconnect');
    expect((await handshakeRefusal(g, aliceToken)).message).toBe('token revoked');
    const rest = await g.api('GET', '/v1/conversations', { token: backendToken });
    expect(rest.status).toBe(401);
    expect(rest.body.detail).toBe('token revoked');
    // The operator's token was not revoked: its socket stays and answers.
    expect(await request(olga, 'conversation:list', {})).toMatchObject({ ok: true });
  });

  it('lets only the application revoke, and refuses a malformed request, revoking nothing', async () => {
    const g = await start();
    const aliceToken = await g.token('alice');
    const jti = jtiOf(aliceToken);

    const byUser = await g.api('POST', '/v1/tokens/revocations', { token: aliceToken, body: { jti } });
    const byOperator = await g.api('POST', '/v1/tokens/revocations', { token: await g.token('olga', 'operator'), body: { jti } });
    const malformed = await Promise.all([
      g.api('POST', '/v1/tokens/revocations', { body: {} }),
      g.api('POST', '/v1/tokens/revocations', { body: { jti: '' } }),
      g.api('POST', '/v1/tokens/revocations', { body: { jti: 'a b' } }),
      g.api('POST', '/v1/tokens/revocations', { body: { jti: 'x'.repeat(201) } }),
      g.api('POST', '/v1/tokens/revocations', { body: { jti, extra: true } }),
    ]);

    for (const res of [byUser, byOperator]) expect(res.body).toMatchObject({ code: 'Forbidden' });
    for (const res of malformed) expect(res.body).toMatchObject({ code: 'ValidationFailed' });
    expect((await g.connect(aliceToken)).connected).toBe(true);
  });

  it('keeps revocations across a restart on the same data folder', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'legway-test-'));
    dirs.push(dataDir);
    const first = await start({ dataDir });
    const token = await first.token('alice');
    expect((await first.api('POST', '/v1/tokens/revocations', { body: { jti: jtiOf(token) } })).status).toBe(201);
    await first.close();
    gw = undefined;

    const g = await start({ dataDir });

    expect((await handshakeRefusal(g, token)).message).toBe('token revoked');
    expect((await g.connect(await g.token('alice'))).connected).toBe(true);
  });
});
