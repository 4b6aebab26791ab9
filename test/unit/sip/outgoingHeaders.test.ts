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

  it('rewrites what needs it in any message, in any case and spacing, and leaves everything else as it was', () => {
    const ringing = (extra: string): string => `SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n${extra}Content-Length: 0\r\n\r\n`;
    expect(rewrite(ringing('Supported: \r\n'), 'UDP')).toBe(ringing(''));
    expect(rewrite(ringing('k :\t\r\n'), 'UDP')).toBe(ringing(''));
    expect(rewrite(ringing('allow : INVITE, MESSAGE\r\n'), 'UDP')).toBe(ringing(`${ALLOW_HEADER}\r\n`));
    // The body is never read as header fields, and a Supported with a value stays.
    const kept = ringing('Supported: timer\r\nX-Allow: yes\r\n').replace('Content-Length: 0\r\n\r\n', 'Content-Length: 12\r\n\r\nAllow: x\r\nk:\r\n');
    expect(rewrite(kept, 'TCP')).toBe(kept);
    // Our Contact over UDP stays; over TCP it names the transport.
    const contact = ringing('Contact: <sip:192.0.2.9:5060>\r\n');
    expect(rewrite(contact, 'UDP')).toBe(contact);
    expect(rewrite(contact, 'TCP')).toBe(ringing('Contact: <sip:192.0.2.9:5060;transport=tcp>\r\n'));
  });
});
