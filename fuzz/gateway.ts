import { APPLICATION, startBenchGateway, type BenchGateway } from '../bench/gateway.js';
import type { Principal } from '../src/auth/principal.js';
import { mintToken } from '../src/auth/tokens.js';
import { FakeMediaEngine, fakeOfferSdp } from '../test/support/fakeEngine.js';

/** What the fuzz targets aim at: real ids of a seeded conversation, member and leg, and tokens of every kind. */
export interface FuzzWorld {
  gateway: BenchGateway;
  engine: FakeMediaEngine;
  sipPort: number;
  conversationId: string;
  conversationName: string;
  otherConversationId: string;
  memberId: string;
  legId: string;
  eventId: number;
  user: Principal;
  /** Stops the world's timers and closes the gateway (deleting its data dir). */
  close(): Promise<void>;
  tokens: { user: string; stranger: string; operator: string; application: string; wrongSecret: string; expired: string; otherApplication: string };
}

export const FUZZ_USER = 'fuzz-user';

/**
 * Starts a real gateway in this process (HTTP, socket.io and SIP on 127.0.0.1, port 0, a temp data
 * dir) with the fake media engine, and seeds it: two conversations, the fuzz user joined to one of
 * them with a connected WebRTC leg, and a text event, so that inputs can name things that exist.
 */
export async function startFuzzWorld(): Promise<FuzzWorld> {
  const engine = new FakeMediaEngine();
  const gateway = await startBenchGateway(
    {
      LEGWAY_SIP_HOST: '127.0.0.1',
      LEGWAY_SIP_PORT: '0',
      LEGWAY_SQLITE_SYNCHRONOUS: 'normal',
      // The fuzz measures robustness, not the limits: its few clients send far more than a person would.
      LEGWAY_REST_RATE_LIMIT: '100000000',
      LEGWAY_SOCKET_RATE_LIMIT: '100000000',
      LEGWAY_TOKEN_RATE_LIMIT: '100000000',
      // Nothing writes on its own while inputs run (the state check reads every write as the input's).
      LEGWAY_TTL_SWEEP_SECONDS: '3600',
      LEGWAY_RTC_CONNECT_TIMEOUT_MS: '120000',
      // Legs an accepted rtc:new makes live on (each mixes and encodes 50 frames a second): a few
      // are enough to reach every leg request, and more are refused Unavailable, as at any limit.
      LEGWAY_MAX_LEGS: '16',
    },
    // The sources, not the build: the fake engine and the checks are made from them.
    { engine: () => Promise.resolve(engine), sources: true },
  );
  try {
    const { app, config } = gateway;
    if (!app.sip) throw new Error('the fuzz gateway runs without SIP');
    const conversationName = 'fuzz-room';
    const conversation = app.services.conversations.create({ name: conversationName }, APPLICATION);
    const other = app.services.conversations.create({ name: 'fuzz-other' }, APPLICATION);
    const user: Principal = { role: 'user', sub: FUZZ_USER, join: [] };
    app.services.members.create(conversation.id, { user: { name: FUZZ_USER }, state: 'joined' }, APPLICATION);
    const member = app.services.members.joinAsUser(conversation.id, user);
    const { leg_id } = await app.services.legs.createWebRtc(conversation.id, fakeOfferSdp(), user);
    engine.endpoint(leg_id).connect();
    // The fake engine keeps every frame the bridge sends, for tests to assert on; the fuzz asserts
    // on none, and a leg is sent 50 a second: they are dropped, so that they do not count as growth.
    const drain = setInterval(() => {
      for (const endpoint of engine.made) endpoint.sentAudio.length = 0;
    }, 1000);
    drain.unref();
    const event = app.services.events.post(conversation.id, { type: 'text', body: { text: 'seed' } }, user);
    await app.store.durable();
    const mint = (
      sub: string,
      role: 'user' | 'operator' | 'application',
      secret = config.secret,
      ttlSeconds = 24 * 3600,
      applicationId = config.applicationId,
    ) => mintToken(secret, { sub, role, ttlSeconds, applicationId });
    const tokens = {
      user: await mint(FUZZ_USER, 'user'),
      stranger: await mint('fuzz-stranger', 'user'),
      operator: await mint('fuzz-operator', 'operator'),
      application: await mint('fuzz-backend', 'application'),
      wrongSecret: await mint('fuzz-backend', 'application', 'not-the-secret-but-long-enough-for-hs256!!'),
      expired: await mint('fuzz-backend', 'application', config.secret, -60),
      otherApplication: await mint('fuzz-backend', 'application', config.secret, 3600, 'another-application'),
    };
    return {
      gateway,
      engine,
      sipPort: app.sip.port,
      conversationId: conversation.id,
      conversationName,
      otherConversationId: other.id,
      memberId: member.id,
      legId: leg_id,
      eventId: event.id,
      user,
      tokens,
      close: () => {
        clearInterval(drain);
        return gateway.close();
      },
    };
  } catch (err) {
    await gateway.close();
    throw err;
  }
}
