import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { LegwayError } from '../../../src/domain/errors.js';
import { answerDirection, isHold, negotiate, readRemoteAudio, writeAnswer, writeOffer } from '../../../src/sip/sdp/audioSdp.js';

const offer = (lines: string[]) => ['v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', ...lines, ''].join('\r\n');
const local = { address: '127.0.0.1', port: 20_000, sessionId: 42, version: 1 };
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof LegwayError ? err.code : 'not a LegwayError';
  }
  return undefined;
};

describe('SIP audio SDP', () => {
  it("reads a trunk's offer: address, port, G.711 in its order, telephone-event, static types without rtpmap", () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 8 0 18 101', 'a=rtpmap:18 G729/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv']));
    expect(remote).toEqual({
      address: '192.0.2.10',
      port: 40_000,
      direction: 'sendrecv',
      codecs: [
        { codec: 'PCMA', payloadType: 8 },
        { codec: 'PCMU', payloadType: 0 },
      ],
      telephoneEventPt: 101,
      nullAddress: false,
    });
    expect(negotiate(remote)).toEqual({ payloadType: 8, codec: 'PCMA', ptime: 20, telephoneEventPt: 101 });
  });

  it('a lone payload type and a media-level address are read too', () => {
    const remote = readRemoteAudio(offer(['m=audio 40002 RTP/AVP 0', 'c=IN IP4 198.51.100.7']));
    expect(remote).toMatchObject({ address: '198.51.100.7', port: 40_002, codecs: [{ codec: 'PCMU', payloadType: 0 }], telephoneEventPt: undefined });
  });

  it('answers with the chosen codec and telephone-event, 20 ms, in the direction RFC 3264 asks', () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=sendonly']));
    expect(isHold(remote)).toBe(true);
    const answer = sdpTransform.parse(writeAnswer(local, negotiate(remote), answerDirection(remote.direction)));
    const m = answer.media[0]!;
    expect(m).toMatchObject({ type: 'audio', port: 20_000, protocol: 'RTP/AVP', direction: 'recvonly', ptime: 20 });
    expect(String(m.payloads)).toBe('0 101');
    expect(m.rtp).toEqual([
      { payload: 0, codec: 'PCMU', rate: 8000 },
      { payload: 101, codec: 'telephone-event', rate: 8000 },
    ]);
    expect(answer.connection?.ip).toBe('127.0.0.1');
  });

  it.each([
    ['sendrecv', 'sendrecv', false],
    ['sendonly', 'recvonly', true],
    ['recvonly', 'sendonly', false],
    ['inactive', 'inactive', true],
  ] as const)('their %s is answered %s (hold: %s)', (theirs, ours, hold) => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 0', `a=${theirs}`]));
    expect(answerDirection(remote.direction)).toBe(ours);
    expect(isHold(remote)).toBe(hold);
  });

  it('c=0.0.0.0 is the old form of hold', () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 0', 'c=IN IP4 0.0.0.0']));
    expect(isHold(remote)).toBe(true);
  });

  it('offers PCMU, PCMA and telephone-event', () => {
    const parsed = sdpTransform.parse(writeOffer(local));
    expect(String(parsed.media[0]!.payloads)).toBe('0 8 101');
    expect(parsed.media[0]!.fmtp).toEqual([{ payload: 101, config: '0-16' }]);
    expect(negotiate(readRemoteAudio(writeOffer(local)))).toMatchObject({ codec: 'PCMU', telephoneEventPt: 101 });
  });

  it.each([
    ['no audio', offer(['m=video 40000 RTP/AVP 96'])],
    ['only SRTP', offer(['m=audio 40000 RTP/SAVP 0'])],
    ['a rejected stream', offer(['m=audio 0 RTP/AVP 0'])],
    ['no address', ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0', 'm=audio 40000 RTP/AVP 0', ''].join('\r\n')],
    ['empty', ''],
    ['too large', offer(['m=audio 40000 RTP/AVP 0', ...Array.from({ length: 2000 }, (_, i) => `a=x-junk:${String(i)}`)])],
  ])('refuses %s with BadRequest', (_, sdp) => {
    expect(code(() => readRemoteAudio(sdp))).toBe('BadRequest');
  });

  it('refuses to negotiate without G.711 (the call gets 488)', () => {
    expect(code(() => negotiate(readRemoteAudio(offer(['m=audio 40000 RTP/AVP 18 9', 'a=rtpmap:18 G729/8000']))))).toBe('BadRequest');
  });
});
