/** Checks of what offer/answer hands a SIP leg's RTP session, shared by the endpoint and its thread proxy. */
import { isIP, isIPv6 } from 'node:net';
import { fail } from '../../domain/errors.js';
import { SIP_CODECS } from '../codecs/sipCodecs.js';
import type { MediaDirection, RtpCodecConfig } from './rtpEndpoint.js';
import { isUnspecified, type UdpAddress } from './udpAddress.js';

export const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

function checkPayloadType(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 127) throw fail('BadRequest', `${what} ${value} is not 0..127`);
}

/** `BadRequest` unless the codec settled on can be sent as configured. */
export function checkCodecConfig(config: RtpCodecConfig): void {
  checkPayloadType(config.payloadType, 'payload type');
  if (config.telephoneEventPt !== undefined) {
    checkPayloadType(config.telephoneEventPt, 'telephone-event payload type');
    if (config.telephoneEventPt === config.payloadType) throw fail('BadRequest', 'telephone-event and audio share a payload type');
  }
  const info = SIP_CODECS[config.codec];
  if (!info.sendPtimes.includes(config.ptime)) throw fail('BadRequest', `ptime ${config.ptime} is not one ${config.codec} is sent with`);
}

/** `BadRequest` unless the far end's media address is an IP of the local address's family and a port. */
export function checkRemote(localIp: string, remote: UdpAddress): void {
  const family = isIP(remote.address);
  if (family === 0) throw fail('BadRequest', `remote media address ${JSON.stringify(remote.address)} is not an IP address`);
  if (!Number.isInteger(remote.port) || remote.port < 0 || remote.port > 65535) throw fail('BadRequest', `remote media port ${remote.port} is not 0..65535`);
  if ((family === 6) !== isIPv6(localIp) && !isUnspecified(remote.address)) {
    throw fail('BadRequest', `remote media address ${remote.address} is not of the local address's family`);
  }
}

/** `BadRequest` for anything but an SDP direction. */
export function checkDirection(direction: MediaDirection): void {
  if (!DIRECTIONS.includes(direction)) throw fail('BadRequest', `unknown media direction ${JSON.stringify(direction)}`);
}
