import { describe, expect, it } from 'vitest';
import { ALLOW_HEADER } from '../../../src/sip/methods.js';
import { outgoingHeaderRewriter } from '../../../src/sip/outgoingHeaders.js';

const rewrite = outgoingHeaderRewriter('sip:192.0.2.9:5060');
const ok =
  'SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\nAllow: ACK,BYE,CANCEL,INFO,INVITE,MESSAGE,NOTIFY,OPTIONS,PRACK,REFER,REGISTER,SUBSCRIBE\r\nContact: <sip:192.0.2.9:5060>\r\nContent-Length: 4\r\n\r\nbody';

describe('outgoing header fields', () => {
  it('lists our methods in Allow, and adds transport=tcp to our Contact over TCP only', () => {
    expect(rewrite(ok, 'TCP')).toBe(
      `SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK1\r\n${ALLOW_HEADER}\r\nContact: <sip:192.0.2.9:5060;transport=tcp>\r\nContent-Length: 4\r\n\r\nbody`,
    );
    expect(rewrite(ok, 'UDP')).toContain('\r\nContact: <sip:192.0.2.9:5060>\r\n');
  });

  it("leaves others' Contacts, drops an empty Supported, and gives our INVITEs an Allow", () => {
    const invite = 'INVITE sip:x@y SIP/2.0\r\nm: <sip:someone@192.0.2.9:5060>\r\nSupported: \r\nContent-Length: 0\r\n\r\n';
    expect(rewrite(invite, 'TCP')).toBe(`INVITE sip:x@y SIP/2.0\r\nm: <sip:someone@192.0.2.9:5060>\r\nContent-Length: 0\r\n${ALLOW_HEADER}\r\n\r\n`);
    const bye = 'BYE sip:x@y SIP/2.0\r\nContent-Length: 0\r\n\r\n';
    expect(rewrite(bye, 'UDP')).toBe(bye);
  });
});
