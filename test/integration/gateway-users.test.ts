/**
 * Users the gateway makes for SIP parties (`sip-<user>`) live in a namespace no token can claim:
 * a token whose subject is a SIP caller's member name is refused before it can read the caller's
 * history, receive its events, post as it, or hang up its call. SIPp makes a real call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSipp, sippMissing, type StartedSipp } from '../sipp/sipp.js';
import { startGateway, TEST_SECRET, type TestGateway } from '../support/gateway.js';
import { waitUntil } from '../support/resources.js';
import { handshakeRefusal, signClaims, validClaims } from '../support/tokens.js';

const missing = sippMissing();
if (missing) console.warn(`gateway-made user tests skipped: ${missing}`);

const ROOM = 'hotline';
const CALLER = 'sip-sipp'; // the member the gateway makes for SIPp's From user `sipp`

describe.skipIf(missing !== undefined)("a SIP caller's member cannot be claimed by a token", () => {
  let gw: TestGateway | undefined;
  let sipp: StartedSipp | undefined;

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await sipp?.finished;
    sipp = undefined;
  });

  /** The connected SIP leg in ROOM, as the application sees it. */
  async function connectedSipLeg(g: TestGateway): Promise<{ id: string; member_id: string; conversation_id: string } | undefined> {
    const rooms = (await g.api('GET', '/v1/conversations?page_size=100')).body._embedded.conversations as { id: string; name: string }[];
    const room = rooms.find((c) => c.name === ROOM);
    if (!room) return undefined;
    const legs = (await g.api('GET', `/v1/conversations/${room.id}/legs`)).body;
    const list = (Array.isArray(legs) ? legs : (legs?._embedded?.legs ?? [])) as {
      id: string;
      type: string;
      status: string;
      member_id: string;
      conversation_id: string;
    }[];
    return list.find((l) => l.type === 'sip' && l.status === 'connected');
  }

  /** A gateway with SIPp's call connected in ROOM; returns the conversation, the caller's member and its leg. */
  async function connectedCall(): Promise<{ g: TestGateway; cid: string; memberId: string; legId: string }> {
    const g = await startGateway({ env: { LEGWAY_SIP_ENABLED: 'true', LEGWAY_SIP_ROUTES: `*=${ROOM}` } });
    gw = g;
    const port = g.app.sip?.port;
    if (port === undefined) throw new Error('the gateway runs no SIP server');
    sipp = await startSipp({ scenario: 'uac-invite-expect-200-then-bye-from-gateway.xml', transport: 'u1', target: `127.0.0.1:${port}`, timeoutSeconds: 40 });
    let leg: { id: string; member_id: string; conversation_id: string } | undefined;
    await waitUntil(
      async () => {
        leg = await connectedSipLeg(g);
        return leg !== undefined;
      },
      { timeoutMs: 30_000, what: 'a connected SIP leg' },
    );
    if (!leg) throw new Error('no SIP leg');
    return { g, cid: leg.conversation_id, memberId: leg.member_id, legId: leg.id };
  }

  it('refuses a token whose subject is the caller: no history, no events, no posting as it, no hang-up', async () => {
    const { g, cid, memberId, legId } = await connectedCall();
    const member = (await g.api('GET', `/v1/conversations/${cid}/members/${memberId}`)).body;
    expect(member.user.name).toBe(CALLER);
    // What an application would mint for a user who signed up under the caller's name.
    const claimed = await signClaims(TEST_SECRET, { ...validClaims(g, CALLER, 'user'), join: [ROOM] });
    const before = (await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events.length as number;

    const history = await g.api('GET', `/v1/conversations/${cid}/events`, { token: claimed });
    const posted = await g.api('POST', `/v1/conversations/${cid}/events`, { token: claimed, body: { type: 'text', from: memberId, body: { text: 'hi' } } });
    const hangup = await g.api('PUT', `/v1/legs/${legId}`, { token: claimed, body: { action: 'hangup' } });
    const handshake = await handshakeRefusal(g, claimed);

    for (const res of [history, posted, hangup]) {
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'Unauthorized', detail: expect.stringContaining('reserved') });
    }
    expect(handshake.message).toMatch(/reserved for the gateway's SIP callers/);
    expect(handshake.data?.code).toBe('Unauthorized');
    // The call goes on, untouched, and nothing was posted.
    expect((await g.api('GET', `/v1/legs/${legId}`)).body.status).toBe('connected');
    expect((await g.api('GET', `/v1/conversations/${cid}/events?page_size=100`)).body._embedded.events).toHaveLength(before);

    expect((await g.api('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } })).status).toBe(200);
    expect((await sipp!.finished).code).toBe(0);
  }, 60_000);

  it('refuses the same subject in capitals, and mints no token in that namespace', async () => {
    const { g, legId } = await connectedCall();

    const capitals = await handshakeRefusal(g, await signClaims(TEST_SECRET, { ...validClaims(g, 'SIP-sipp', 'user'), join: [ROOM] }));

    expect(capitals.message).toMatch(/reserved/);
    await expect(g.token(CALLER)).rejects.toMatchObject({ code: 'ValidationFailed' });
    await expect(g.token('sip-anyone', 'operator')).rejects.toThrow(/reserved/);
    expect((await g.api('PUT', `/v1/legs/${legId}`, { body: { action: 'hangup' } })).status).toBe(200);
  }, 60_000);
});
