/**
 * Binding a SIP leg's UDP sockets in the configured RTP port range: an even port for RTP and, when
 * asked, the odd one above it for RTCP (RFC 3550's convention for SDP without a=rtcp or rtcp-mux).
 */
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { fail } from '../../domain/errors.js';

export interface PortRange {
  min: number;
  max: number;
}

export interface BoundPorts {
  port: number;
  rtp: Socket;
  rtcp: Socket | undefined;
}

/** Distinct ports tried before giving up: enough for a range that is nearly full, yet bounded. */
const MAX_ATTEMPTS = 64;
/** Errors that mean "this port, not this address": try another. */
const PORT_TAKEN = new Set(['EADDRINUSE', 'EACCES']);

function bindOne(ip: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(ip) ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address: ip, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Even ports in the range, in random order, at most MAX_ATTEMPTS of them. */
function candidates(range: PortRange, withRtcp: boolean): number[] {
  const first = range.min + (range.min % 2);
  const last = withRtcp ? range.max - 1 : range.max;
  const count = last >= first ? Math.floor((last - first) / 2) + 1 : 0;
  if (count <= MAX_ATTEMPTS) {
    const all = Array.from({ length: count }, (_, i) => first + 2 * i);
    for (let i = all.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [all[i], all[j]] = [all[j] ?? 0, all[i] ?? 0];
    }
    return all;
  }
  const picked = new Set<number>();
  while (picked.size < MAX_ATTEMPTS) picked.add(first + 2 * randomInt(count));
  return [...picked];
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/**
 * Binds RTP (and RTCP on port+1) on `ip` at a random even port of the range, trying others while
 * ports are taken; `Unavailable` when none is free or the address cannot be bound at all.
 */
export async function bindRtpPorts(ip: string, range: PortRange, withRtcp: boolean): Promise<BoundPorts> {
  if (!Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 1 || range.max > 65535 || range.min > range.max) {
    throw new RangeError(`RTP port range ${range.min}-${range.max} is not within 1-65535`);
  }
  const ports = candidates(range, withRtcp);
  if (ports.length === 0) throw new RangeError(`RTP port range ${range.min}-${range.max} holds no usable even port`);
  for (const port of ports) {
    let rtp: Socket | undefined;
    try {
      rtp = await bindOne(ip, port);
      const rtcp = withRtcp ? await bindOne(ip, port + 1) : undefined;
      return { port, rtp, rtcp };
    } catch (err) {
      rtp?.close();
      const code = errorCode(err);
      if (code === undefined || !PORT_TAKEN.has(code)) throw fail('Unavailable', `cannot bind RTP on ${ip}: ${code ?? String(err)}`);
    }
  }
  throw fail('Unavailable', `no free RTP port on ${ip} in ${range.min}-${range.max} after ${ports.length} attempts`);
}
