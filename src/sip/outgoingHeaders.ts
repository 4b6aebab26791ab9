import { ALLOW_HEADER } from './methods.js';
import type { SipProtocol } from './transport/types.js';

/** A head (with its last line's CRLF) that has an Allow line or an empty Supported line: one the rewriter may change. */
const MAY_REWRITE = /\r\n[ \t]*(?:allow[ \t]*:|(?:supported|k)[ \t]*:[ \t]*\r\n)/i;

/**
 * The last word on header fields sip.js writes by itself, applied to every message as it leaves:
 *
 * - Allow: sip.js's 2xx to an INVITE lists every method sip.js can parse (MESSAGE, REFER,
 *   SUBSCRIBE…), not those the gateway serves (`methods.ts`); our INVITEs get one (RFC 3261
 *   §13.2.1: it SHOULD be there), sip.js writes none;
 * - Supported: an empty one (our requests support no extension: see `sipServer.ts`) is left out;
 * - Contact: our one Contact URI carries no transport, which means UDP (RFC 3261 §19.1.1); over
 *   TCP it gets `;transport=tcp`, or a far end that follows it would send the rest of the dialog
 *   over UDP.
 *
 * Only the head is touched, so Content-Length stays true.
 */
export function outgoingHeaderRewriter(contactUri: string): (text: string, protocol: SipProtocol) => string {
  const ourContact = `<${contactUri}>`;
  return (text, protocol) => {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return text;
    // Most messages (a 180, the 200 to a BYE, an ACK) need nothing: they are sent as they are, unsplit.
    const head = text.slice(0, end + 2);
    if (!head.startsWith('INVITE ') && !MAY_REWRITE.test(head) && !(protocol === 'TCP' && head.includes(ourContact))) return text;
    const lines = text.slice(0, end).split('\r\n');
    const kept: string[] = [];
    let hasAllow = !lines[0]?.startsWith('INVITE ');
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
      const value = colon > 0 ? line.slice(colon + 1).trim() : '';
      if (name === 'allow') {
        kept.push(ALLOW_HEADER);
        hasAllow = true;
      } else if ((name === 'supported' || name === 'k') && value === '') continue;
      else if ((name === 'contact' || name === 'm') && protocol === 'TCP' && value.includes(ourContact)) {
        kept.push(line.replace(ourContact, `<${contactUri};transport=tcp>`));
      } else kept.push(line);
    }
    if (!hasAllow) kept.push(ALLOW_HEADER);
    return kept.join('\r\n') + text.slice(end);
  };
}
