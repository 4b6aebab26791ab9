import { z } from 'zod';
import { ROLES, type Principal } from '../auth/principal.js';
import { fail } from '../domain/errors.js';
import type { LegAction, LegService } from '../services/legService.js';
import type { NodeBus } from './nodeBus.js';

/** The principal a node acted for, as the asking node verified it from the client's token. */
const principal = z.strictObject({
  role: z.enum(ROLES),
  sub: z.string().min(1).max(200),
  join: z.array(z.string().max(200)).max(1000),
  jti: z.string().max(200).optional(),
});
const legId = z.string().min(1).max(100);
const sdp = z
  .string()
  .min(1)
  .max(64 * 1024);
const ACTIONS = ['mute', 'unmute', 'earmuff', 'unearmuff', 'video-mute', 'video-unmute', 'hangup'] as const satisfies readonly LegAction[];

const createRequest = z.strictObject({
  conversation_id: z.string().min(1).max(200),
  offer_sdp: sdp,
  principal,
  socket_id: z.string().min(1).max(100).optional(),
});
const actRequest = z.strictObject({ leg_id: legId, action: z.enum(ACTIONS), principal, initiator: z.string().min(1).max(200) });
const answerRequest = z.strictObject({ leg_id: legId, sdp, principal });
const candidateRequest = z.strictObject({
  leg_id: legId,
  candidate: z.strictObject({
    candidate: z.string().max(2000),
    sdpMid: z.string().max(100).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(100).nullable().optional(),
  }),
  principal,
});
const dtmfRequest = z.strictObject({ leg_id: legId, digits: z.string().min(1).max(64), principal });

/** Sends the gateway's renegotiation offers to a client connected to another node, through the Redis adapter. */
export type RemoteOffers = (socketId: string, legId: string, sdp: string) => void;

/** Parses a relayed request, refusing a malformed one as `BadRequest`. */
function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const r = schema.safeParse(params);
  if (!r.success) throw fail('BadRequest', `malformed node request: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/** Drops `jti` when absent, as `exactOptionalPropertyTypes` wants for a Principal. */
function asPrincipal(p: z.infer<typeof principal>): Principal {
  return { role: p.role, sub: p.sub, join: p.join, ...(p.jti !== undefined && { jti: p.jti }) };
}

/**
 * Serves the leg requests other nodes relay here: legs made on this node because it owns their
 * conversation's media, and actions on legs that run here. Each request is validated as any input
 * from outside is; the leg service then checks access for the principal as it does locally.
 */
export function serveLegRequests(bus: NodeBus, legs: LegService, offers: RemoteOffers): void {
  bus.handle('legs.createWebRtc', async (params) => {
    const r = parse(createRequest, params);
    const socketId = r.socket_id;
    return legs.createWebRtc(
      r.conversation_id,
      r.offer_sdp,
      asPrincipal(r.principal),
      socketId === undefined ? undefined : { socketId, open: true, send: (leg, offer) => offers(socketId, leg, offer) },
    );
  });
  bus.handle('legs.act', async (params) => {
    const r = parse(actRequest, params);
    return legs.act(r.leg_id, r.action, asPrincipal(r.principal), r.initiator);
  });
  bus.handle('legs.answer', async (params) => {
    const r = parse(answerRequest, params);
    await legs.answer(r.leg_id, r.sdp, asPrincipal(r.principal));
  });
  bus.handle('legs.addCandidate', async (params) => {
    const r = parse(candidateRequest, params);
    await legs.addCandidate(
      r.leg_id,
      { candidate: r.candidate.candidate, sdpMid: r.candidate.sdpMid ?? null, sdpMLineIndex: r.candidate.sdpMLineIndex ?? null },
      asPrincipal(r.principal),
    );
  });
  bus.handle('legs.clientDtmf', async (params) => {
    const r = parse(dtmfRequest, params);
    await legs.clientDtmf(r.leg_id, r.digits, asPrincipal(r.principal));
  });
}
