import { describe, expect, it } from 'vitest';
import { serverTransactionId, type TransactionParts } from '../../../src/sip/transport/transactionId.js';
import { parseVia } from '../../../src/sip/transport/via.js';

function parts(method: string, via: string, extra: Partial<TransactionParts> = {}): TransactionParts {
  return { method, topVia: parseVia(via)!, requestUri: 'sip:room@192.0.2.9', callId: 'c1', cseq: 7, fromTag: 'f1', toTag: undefined, ...extra };
}
const never = (): boolean => false;

describe('server transaction ids (RFC 3261 §17.2.3)', () => {
  it('with the magic cookie: branch, sent-by and method, the ACK and CANCEL with their INVITE', () => {
    const via = 'SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw';
    const invite = serverTransactionId(parts('INVITE', via), never);
    expect(serverTransactionId(parts('ACK', via), never)).toBe(invite);
    expect(serverTransactionId(parts('CANCEL', via), never)).toBe(invite);
    expect(serverTransactionId(parts('INVITE', 'SIP/2.0/UDP HOST5.example.net:5060;branch=z9hG4bKkdjuw;rport'), never)).toBe(invite);
    expect(serverTransactionId(parts('INVITE', 'SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw'), never)).not.toBe(invite);
    expect(serverTransactionId(parts('OPTIONS', via), never)).not.toBe(invite);
  });

  it('without the cookie: Request-URI, tags, Call-ID, CSeq and top Via', () => {
    const via = 'SIP/2.0/UDP 192.0.2.5';
    const invite = serverTransactionId(parts('INVITE', via), never);
    expect(invite).toMatch(/^rfc2543\./);
    expect(serverTransactionId(parts('INVITE', via), never)).toBe(invite);
    expect(serverTransactionId(parts('CANCEL', via), never)).toBe(invite);
    expect(serverTransactionId(parts('INVITE', via, { cseq: 8 }), never)).not.toBe(invite);
    expect(serverTransactionId(parts('INVITE', via, { requestUri: 'sip:other@192.0.2.9' }), never)).not.toBe(invite);
    expect(serverTransactionId(parts('INVITE', 'SIP/2.0/UDP 192.0.2.6'), never)).not.toBe(invite);
    expect(serverTransactionId(parts('INVITE', 'SIP/2.0/UDP 192.0.2.5;branch=390skdjuw'), never)).toMatch(/^rfc2543\./);
  });

  it("gives an RFC 2543 ACK its INVITE's id only while that INVITE awaits it", () => {
    const via = 'SIP/2.0/UDP 192.0.2.5';
    const invite = serverTransactionId(parts('INVITE', via), never);
    const ack = parts('ACK', via, { toTag: 'ours' });
    expect(serverTransactionId(ack, (id) => id === invite)).toBe(invite);
    const toDialog = serverTransactionId(ack, never);
    expect(toDialog).not.toBe(invite);
    expect(toDialog).toMatch(/^rfc2543\./);
  });
});
