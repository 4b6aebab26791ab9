/**
 * The client library's failures, in a real browser: a refused handshake and refused requests
 * surface as `LegwayClientError` carrying the gateway's stable codes, so that a page can tell them
 * apart without parsing messages.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { chromiumMissing, launchChromium } from '../support/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`browser client error tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)('browser: the client library reports the gateway error codes', () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    gw = await startGateway();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser.close();
    await gw.close();
  });

  it('a bad token, an unknown conversation, a conversation not open to the user and a wrong request each give their code', async () => {
    const created = await gw.api('POST', '/v1/conversations', { body: { name: 'members-only' } });
    expect(created.status).toBe(201);
    const page = await browser.newPage();
    await page.goto(`${gw.url}/call`);
    // Written as page source: vitest would rewrite a dynamic import() inside a function it compiles.
    const script = `(async (token) => {
      const lib = await import('/web/legway-client.js');
      const codeOf = async (attempt) => {
        try {
          await attempt();
          return 'no error';
        } catch (err) {
          return err instanceof lib.LegwayClientError ? err.code : 'not a LegwayClientError: ' + String(err);
        }
      };
      const badToken = await codeOf(() => lib.LegwayClient.connect({ token: 'not-a-jwt' }));
      const client = await lib.LegwayClient.connect({ token });
      const result = {
        badToken,
        unknown: await codeOf(() => client.join('no-such-conversation')),
        notAllowed: await codeOf(() => client.join('members-only')),
        hangupUnknownLeg: await codeOf(() => client.request('rtc:hangup', { leg_id: '00000000-0000-4000-8000-000000000000' })),
        badPayload: await codeOf(() => client.request('leg:mute', { leg_id: 'x', on: 'yes' })),
        state: client.state,
      };
      client.close();
      return result;
    })(${JSON.stringify(await gw.token('dora'))})`;
    const outcome = await page.evaluate(script);
    expect(outcome).toEqual({
      badToken: 'Unauthorized',
      unknown: 'ConversationNotFound',
      // A conversation the user may not join answers as one that does not exist.
      notAllowed: 'ConversationNotFound',
      hangupUnknownLeg: 'LegNotFound',
      badPayload: 'ValidationFailed',
      state: 'connected',
    });
  });
});
