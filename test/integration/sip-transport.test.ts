/**
 * The SIP server against real SIPp calls, over UDP and TCP: OPTIONS, INVITE refused busy, CANCEL,
 * the trunk allowlist, and an outbound INVITE sent through the same sip.js core.
 */
import { pino } from 'pino';
import { URI, type Core } from 'sip.js';
import { afterEach, describe, expect, it } from 'vitest';
import { SipServer, type InboundInvite, type SipServerOptions } from '../../src/sip/sipServer.js';
import { settledTimerCount, waitUntil } from '../support/resources.js';
import { runSipp, sippMissing, startSipp, type StartedSipp } from '../sipp/sipp.js';

const missing = sippMissing();
if (missing) console.warn(`SIP integration tests skipped: ${missing}`);

const TRANSPORTS = [
  { flag: 'u1', name: 'UDP' },
  { flag: 't1', name: 'TCP' },
] as const;

describe.skipIf(missing !== undefined)('SIP server with SIPp', () => {
  let server: SipServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(options: Partial<SipServerOptions> = {}): Promise<SipServer> {
    server = await SipServer.start({ host: '127.0.0.1', port: 0, trunks: ['127.0.0.1/32'], logger: pino({ level: 'silent' }), ...options });
    return server;
  }

  /**
   * Everything a finished call leaves behind is gone: transactions, dialogs, retransmissions. After a
   * 2xx, an INVITE transaction stays Accepted for 64·T1 (Timers L and M, RFC 6026) to absorb
   * retransmissions: those are expected here.
   */
  async function expectIdle(s: SipServer, accepted: { serverTransactions?: number; clientTransactions?: number } = {}): Promise<void> {
    await waitUntil(
      () =>
        s.core.userAgentServers.size === (accepted.serverTransactions ?? 0) &&
        s.core.userAgentClients.size === (accepted.clientTransactions ?? 0) &&
        s.core.dialogs.size === 0 &&
        s.transport.pendingRetransmissions === 0,
      {
        timeoutMs: 3000,
        what: () =>
          `SIP core idle (uas ${s.core.userAgentServers.size}, uac ${s.core.userAgentClients.size}, dialogs ${s.core.dialogs.size}, retransmissions ${s.transport.pendingRetransmissions})`,
      },
    );
  }

  /** Waits for `promise`, failing at once (with SIPp's trace) if SIPp ends first. */
  function unlessSippEnds<T>(promise: Promise<T>, sipp: StartedSipp): Promise<T> {
    return Promise.race([promise, sipp.finished.then((run) => Promise.reject(new Error(`SIPp ended first:\n${run.trace}`)))]);
  }

  for (const { flag, name } of TRANSPORTS) {
    describe(`over ${name}`, () => {
      it('answers OPTIONS with 200, Allow, Accept, Supported and a stamped Via', async () => {
        const s = await start();
        const run = await runSipp({ scenario: 'uac-options-expect-200.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(run.code, run.trace).toBe(0);
        expect(s.transport.counters.malformed).toBe(0);
      });

      it('remembers where a request came from only while its responses need it', async () => {
        // T1 of 50 ms: an answered INVITE's record is kept 64·T1 = 3.2 s.
        const s = await start({ transport: { retransmitTiming: { t1: 50, t2: 400 } } });
        const options = await runSipp({ scenario: 'uac-options-expect-200.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(options.code, options.trace).toBe(0);
        // A non-INVITE request is forgotten once it has its final response.
        expect(s.transport.rememberedRequests).toBe(0);
        const invite = await runSipp({ scenario: 'uac-invite-expect-486.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(invite.code, invite.trace).toBe(0);
        // The rejected INVITE is kept while its 486 may still be retransmitted and ACKed…
        expect(s.transport.rememberedRequests).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 64 * 50 + 200));
        const again = await runSipp({ scenario: 'uac-options-expect-200.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(again.code, again.trace).toBe(0);
        // …and no longer after 64·T1: the transport holds the requests in progress, not five minutes of them.
        expect(s.transport.rememberedRequests).toBe(0);
      });

      it('answers an INVITE with 100 and 486 by default, and takes the ACK into the transaction', async () => {
        const s = await start();
        const run = await runSipp({ scenario: 'uac-invite-expect-486.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(run.code, run.trace).toBe(0);
        await expectIdle(s);
      });

      it('hands the INVITE to its owner, and answers a CANCEL with 200 and the INVITE with 487', async () => {
        const invites: InboundInvite[] = [];
        let cancelled = false;
        const s = await start({
          onInvite: (invite) => {
            invites.push(invite);
            invite.request.progress({ statusCode: 180 });
            invite.cancelled.addEventListener('abort', () => (cancelled = true));
          },
        });
        const run = await runSipp({ scenario: 'uac-invite-cancel-expect-487.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(run.code, run.trace).toBe(0);
        expect(invites).toHaveLength(1);
        expect(invites[0]!.source).toMatchObject({ protocol: name, address: '127.0.0.1' });
        expect(invites[0]!.request.message.getHeader('content-type')).toBe('application/sdp');
        expect(cancelled).toBe(true);
        await expectIdle(s);
      });

      it('lets its owner answer 200 with SDP, then receive the ACK, an INFO and the BYE inside the dialog', async () => {
        const seen: string[] = [];
        const answer = 'v=0\r\no=legway 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
        const s = await start({
          onInvite: ({ request }) => {
            request.progress({ statusCode: 180 });
            const { session } = request.accept({ statusCode: 200, body: { contentDisposition: 'session', contentType: 'application/sdp', content: answer } });
            session.delegate = {
              onAck: () => void seen.push('ACK'),
              onInfo: (info) => {
                seen.push(`INFO ${info.message.body.trim().split('\r\n')[0] ?? ''}`);
                info.accept();
              },
              onBye: (bye) => {
                seen.push('BYE');
                bye.accept();
              },
            };
          },
        });
        const run = await runSipp({ scenario: 'uac-invite-expect-200-info-bye.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(run.code, run.trace).toBe(0);
        expect(seen).toEqual(['ACK', 'INFO Signal=5', 'BYE']);
        await expectIdle(s, { serverTransactions: 1 });
      });

      it('refuses an INVITE from outside the trunk allowlist with 403', async () => {
        const invites: InboundInvite[] = [];
        const s = await start({ trunks: ['10.0.0.0/8'], onInvite: (invite) => invites.push(invite) });
        const run = await runSipp({ scenario: 'uac-invite-expect-403.xml', transport: flag, target: `127.0.0.1:${s.port}` });
        expect(run.code, run.trace).toBe(0);
        expect(invites).toHaveLength(0);
        await expectIdle(s);
      });

      it("places a call to a host outside the trunks and takes the callee's BYE inside the dialog", async () => {
        const s = await start({ trunks: ['10.0.0.0/8'] });
        const callee = await startSipp({ scenario: 'uas-invite-answer-200-then-bye.xml', transport: flag });
        const target = new URI('sip', 'callee', '127.0.0.1', callee.port, flag === 't1' ? { transport: 'tcp' } : {});
        const message = s.core.makeOutgoingRequestMessage(
          'INVITE',
          target,
          new URI('sip', 'legway', '127.0.0.1', s.port),
          target,
          {},
          [`Contact: ${s.contact}`],
          {
            contentDisposition: 'session',
            contentType: 'application/sdp',
            content: 'v=0\r\no=legway 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40004 RTP/AVP 0\r\n',
          },
        );
        const hungUp = new Promise<void>((resolve, reject) => {
          s.core.invite(message, {
            onAccept: (response) => {
              response.session.delegate = {
                onBye: (bye) => {
                  bye.accept();
                  resolve();
                },
              };
              response.ack();
            },
            onReject: (response) => reject(new Error(`rejected ${response.message.statusCode}`)),
          });
        });
        await unlessSippEnds(hungUp, callee);
        const run = await callee.finished;
        expect(run.code, run.trace).toBe(0);
        await expectIdle(s, { clientTransactions: 1 });
      });

      it('sends an INVITE through the core, ACKs the 200 and hangs up with BYE; close() then leaves nothing running', async () => {
        const timersBefore = await settledTimerCount();
        const s = await start();
        const callee = await startSipp({ scenario: 'uas-invite-answer-200.xml', transport: flag });
        const target = new URI('sip', 'callee', '127.0.0.1', callee.port, flag === 't1' ? { transport: 'tcp' } : {});
        const from = new URI('sip', 'legway', '127.0.0.1', s.port);
        const offer = 'v=0\r\no=legway 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
        const message = s.core.makeOutgoingRequestMessage('INVITE', target, from, target, {}, [`Contact: ${s.contact}`], {
          contentDisposition: 'session',
          contentType: 'application/sdp',
          content: offer,
        });
        const progress: number[] = [];
        const answered = new Promise<Core.Session>((resolve, reject) => {
          s.core.invite(message, {
            onProgress: (response) => progress.push(response.message.statusCode ?? 0),
            onAccept: (response) => {
              response.ack();
              resolve(response.session);
            },
            onReject: (response) => reject(new Error(`rejected ${response.message.statusCode}`)),
          });
        });
        const session = await unlessSippEnds(answered, callee);
        expect(progress).toContain(180);
        expect(session.answer?.content).toContain('m=audio');
        const byeStatus = await new Promise<number>((resolve) => {
          session.bye({ onAccept: (response) => resolve(response.message.statusCode ?? 0), onReject: (response) => resolve(response.message.statusCode ?? 0) });
        });
        expect(byeStatus).toBe(200);
        const run = await callee.finished;
        expect(run.code, run.trace).toBe(0);
        session.dispose();
        await expectIdle(s, { clientTransactions: 1 });

        await Promise.all([s.close(), s.close()]);
        await s.close();
        expect(await settledTimerCount()).toBeLessThanOrEqual(timersBefore);
        expect(process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP' || r === 'TCPSERVERWRAP' || r === 'TCPWRAP')).toEqual([]);
      });
    });
  }
});
