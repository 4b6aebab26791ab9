/** The transports the gateway speaks SIP over. */
export type SipProtocol = 'UDP' | 'TCP';

/** Where a message came from: the transport and the packet's (or connection's) source address and port. */
export interface SipSource {
  readonly protocol: SipProtocol;
  /** Source IP address as text; IPv4-mapped IPv6 addresses are given as plain IPv4. */
  readonly address: string;
  readonly port: number;
}

/** Where a message goes: transport, an IP address (resolved) and port. */
export interface SipDestination {
  readonly protocol: SipProtocol;
  readonly address: string;
  readonly port: number;
}

/** The well-known SIP port (RFC 3261 §19.1.2), used when a URI or Via gives none. */
export const DEFAULT_SIP_PORT = 5060;

/** RFC 3261 timer base values (ms), used for UDP retransmissions. */
export const T1_MS = 500;
export const T2_MS = 4000;
