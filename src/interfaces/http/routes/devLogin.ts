import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES, type Principal } from '../../../auth/principal.js';
import { mintToken } from '../../../auth/tokens.js';
import { fail, LegwayError } from '../../../domain/errors.js';
import { GATEWAY_USER_PREFIX, isGatewayUserName } from '../../../domain/gatewayUsers.js';
import type { Conversation } from '../../../domain/model.js';
import type { Services } from '../../../services/services.js';
import { isLoopbackPeer } from '../loopback.js';
import { json, problemResponse, problems } from '../responses.js';
import { refusedAs } from '../schemaCompilers.js';

/** What the development login needs: the secret it signs with and the lifetime cap. */
export interface DevLogin {
  secret: string;
  applicationId: string;
  /** The gateway's longest token lifetime; the login's tokens never outlive it. */
  maxTtlSeconds: number;
  /** The gateway's clock, so the tokens it mints agree with the verifier's. */
  now: () => Date;
}

export interface DevLoginOptions {
  /** Undefined (`LEGWAY_DEV_LOGIN` off, the default) turns the login off. */
  login: DevLogin | undefined;
  services: Services;
}

const TTL_SECONDS = 12 * 3600;
const OFF = 'development login is off; turn it on with LEGWAY_DEV_LOGIN=true, or mint a token with legway token --sub NAME';

const loginBody = refusedAs(
  z.strictObject({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and . _ @ - only')
      .refine((name) => !isGatewayUserName(name), `names starting with "${GATEWAY_USER_PREFIX}" are reserved for the gateway's SIP callers`),
    // Only `user` is minted; the other roles are named so that asking for them gets a clear refusal.
    role: z.enum(ROLES).default('user'),
    conversation: z
      .string()
      .trim()
      .min(1)
      .max(100)
      // eslint-disable-next-line no-control-regex -- the point is to refuse control characters in names
      .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters')
      .optional(),
  }),
  'ValidationFailed',
  'login',
);

const tags = ['development'];
// Development login is how a browser gets its first token: it carries none.
const security: [] = [];
const OFF_TEXT = 'Not found: the login is off (LEGWAY_DEV_LOGIN)';
const loginSchema = {
  summary: 'Mint a user token (only with LEGWAY_DEV_LOGIN on, and only for a client on this machine)',
  tags,
  security,
  body: loginBody,
  response: {
    200: json(
      'A user token for the name asked for',
      z.strictObject({
        token: z.string(),
        role: z.literal('user'),
        sub: z.string(),
        expires_at: z.iso.datetime(),
        conversation_id: z.string().optional().describe('the conversation asked for, created if it was a new name'),
      }),
    ),
    ...problems(400, 413, 415, 422, 429),
    403: problemResponse('Forbidden: a client not on this machine, or a role other than user asked for'),
    404: problemResponse(`${OFF_TEXT}, or no such conversation`),
  },
};
const availableSchema = {
  summary: 'Whether the development login is on',
  tags,
  security,
  response: {
    200: json('It is on', z.strictObject({ available: z.literal(true) })),
    ...problems(429),
    403: problemResponse('Forbidden: a client not on this machine'),
    404: problemResponse(OFF_TEXT),
  },
};

/** Dev login creates conversations as the application would, from its backend. */
const DEV_APPLICATION: Principal = { role: 'application', sub: 'dev-login', join: [] };

/** The conversation `ref` names, created when it is a name nobody uses yet. */
function conversationFor(services: Services, ref: string): Conversation {
  const found = services.conversations.resolve(ref);
  if (found) return found;
  if (ref.startsWith('CON-')) throw fail('ConversationNotFound', `conversation ${ref} not found`);
  return services.conversations.create({ name: ref }, DEV_APPLICATION);
}

/**
 * /dev/login: user tokens for whoever asks from this machine, only while `LEGWAY_DEV_LOGIN` is on.
 * Operator and application tokens are never minted here: those come from `legway token`.
 */
export async function devLoginRoutes(app: FastifyInstance, options: DevLoginOptions): Promise<void> {
  const login = options.login;
  if (!login) {
    // onRequest, so the answer is the same 404 whatever body (or non-JSON) comes with it.
    const off = async (): Promise<never> => {
      throw new LegwayError('NotFound', OFF);
    };
    app.get('/dev/login', { schema: availableSchema, onRequest: off }, off);
    app.post('/dev/login', { schema: loginSchema, onRequest: off }, off);
    return;
  }

  app.log.warn('development login is on: POST /dev/login mints user tokens for anyone on this machine');
  // The peer's own address: forwarded-for headers are not trusted (fastify's trustProxy is off).
  app.addHook('onRequest', async (req) => {
    if (!isLoopbackPeer(req.socket.remoteAddress)) {
      throw new LegwayError('Forbidden', 'the development login answers requests from this machine (loopback) only');
    }
  });
  await app.register(rateLimit, {
    max: 30,
    timeWindow: 60_000,
    keyGenerator: (req) => req.ip,
    errorResponseBuilder: (_req, ctx) => new LegwayError('RateLimited', `rate limit of ${ctx.max} logins per minute exceeded; retry in ${ctx.after}`),
  });

  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/dev/login', { schema: availableSchema }, async () => ({ available: true as const }));

  r.post('/dev/login', { schema: loginSchema }, async (req) => {
    const body = req.body;
    if (body.role !== 'user') {
      throw fail('Forbidden', `the development login mints user tokens only; mint a ${body.role} token with legway token --sub NAME --role ${body.role}`);
    }
    // Before minting: a login for a conversation that cannot be had gets no token.
    const conversation = body.conversation === undefined ? undefined : conversationFor(options.services, body.conversation);
    const now = login.now();
    const ttlSeconds = Math.min(TTL_SECONDS, login.maxTtlSeconds);
    const token = await mintToken(login.secret, {
      sub: body.name,
      role: 'user',
      ttlSeconds,
      applicationId: login.applicationId,
      now,
      // A development user may join any conversation.
      join: ['*'],
    });
    // mintToken counts whole seconds from `now`.
    const expiresAt = new Date((Math.floor(now.getTime() / 1000) + ttlSeconds) * 1000);
    req.log.info({ role: 'user' }, 'dev login');
    return {
      token,
      role: 'user' as const,
      sub: body.name,
      expires_at: expiresAt.toISOString(),
      ...(conversation && { conversation_id: conversation.id }),
    };
  });
}
