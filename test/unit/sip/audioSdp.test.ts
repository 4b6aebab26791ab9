import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { LegwayError } from '../../../src/domain/errors.js';
import { DEFAULT_SIP_CODECS, SIP_CODECS, type SipCodecName } from '../../../src/media/codecs/sipCodecs.js';
import type { MediaDirection } from '../../../src/media/rtp/rtpEndpoint.js';
import { answerDirection, isHold, negotiate, offeredConfig, readRemoteAudio, writeAnswer, writeOffer } from '../../../src/sip/sdp/audioSdp.js';

const offer = (lines: string[]) => ['v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', ...lines, ''].join('\r\n');
const local = { address: '127.0.0.1', port: 20_000, sessionId: 42, version: 1 };
const G711 = ['PCMU', 'PCMA'] as const;
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof LegwayError ? err.code : 'not a LegwayError';
  }
  return undefined;
};

describe('SIP audio SDP', () => {
  it("reads a trunk's offer: address, port, codecs in its order, telephone-event, static types without rtpmap", () => {
    const remote = readRemoteAudio(
      offer(['m=audio 40000 RTP/AVP 8 0 18 101', 'a=rtpmap:18 G729/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv']),
    );
    expect(remote).toEqual({
      address: '192.0.2.10',
      port: 40_000,
      rtcpPort: undefined,
      direction: 'sendrecv',
      codecs: [
        { codec: 'PCMA', payloadType: 8 },
        { codec: 'PCMU', payloadType: 0 },
      ],
      telephoneEvents: new Map([[8000, 101]]),
      ptime: 20,
      maxptime: undefined,
      nullAddress: false,
    });
    // Our preference decides among what is offered.
    expect(negotiate(remote, G711)).toEqual({ payloadType: 0, codec: 'PCMU', ptime: 20, telephoneEventPt: 101 });
    expect(negotiate(remote, ['PCMA', 'PCMU'])).toEqual({ payloadType: 8, codec: 'PCMA', ptime: 20, telephoneEventPt: 101 });
  });

  it('reads an offer whose rtpmap names a codec with digits only (found by the fuzzer: it used to throw a TypeError), ignoring that codec', () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 96 0', 'a=rtpmap:96 1/8000', 'a=sendrecv']));
    expect(remote.codecs).toEqual([{ codec: 'PCMU', payloadType: 0 }]);
  });

  it('picks Opus, then G.722, by the default preference, with telephone-event at the matching clock rate', () => {
    const phone = readRemoteAudio(
      offer([
        'm=audio 40000 RTP/AVP 0 9 96 101 102',
        'a=rtpmap:96 opus/48000/2',
        'a=fmtp:96 useinbandfec=1',
        'a=rtpmap:101 telephone-event/8000',
        'a=rtpmap:102 telephone-event/48000',
        'a=rtcp:40011',
      ]),
    );
    expect(phone.rtcpPort).toBe(40_011);
    expect(negotiate(phone, DEFAULT_SIP_CODECS)).toEqual({ payloadType: 96, codec: 'opus', ptime: 20, telephoneEventPt: 102 });
    expect(negotiate(phone, ['G722', 'PCMU'])).toEqual({ payloadType: 9, codec: 'G722', ptime: 20, telephoneEventPt: 101 });
    // Opus with only 8 kHz events: no telephone-event (their clock would not be the audio's); DTMF goes in band.
    const noWideEvents = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 96 101', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:101 telephone-event/8000']));
    expect(negotiate(noWideEvents, DEFAULT_SIP_CODECS)).toEqual({ payloadType: 96, codec: 'opus', ptime: 20 });
  });

  it('opus must be signalled as opus/48000/2, G.722 at its 8000 Hz RTP clock', () => {
    const odd = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 96 97', 'a=rtpmap:96 opus/48000', 'a=rtpmap:97 G722/16000']));
    expect(odd.codecs).toEqual([]);
  });

  it.each([
    [undefined, undefined, 20],
    [30, undefined, 30],
    [60, undefined, 60],
    [30, 20, 20],
    [25, undefined, 20],
    [120, undefined, 60],
  ])('their a=ptime %s, a=maxptime %s: we send %s ms of G.711', (ptime, maxptime, expected) => {
    const lines = ['m=audio 40000 RTP/AVP 0', ...(ptime ? [`a=ptime:${ptime}`] : []), ...(maxptime ? [`a=maxptime:${maxptime}`] : [])];
    expect(negotiate(readRemoteAudio(offer(lines)), G711).ptime).toBe(expected);
  });

  it('as offerer, the first codec of the answer stands', () => {
    const answer = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 8 0']));
    expect(negotiate(answer, G711, true).codec).toBe('PCMA');
  });

  it('a lone payload type and a media-level address are read too', () => {
    const remote = readRemoteAudio(offer(['m=audio 40002 RTP/AVP 0', 'c=IN IP4 198.51.100.7']));
    expect(remote).toMatchObject({ address: '198.51.100.7', port: 40_002, codecs: [{ codec: 'PCMU', payloadType: 0 }] });
    expect(remote.telephoneEvents.size).toBe(0);
  });

  it('answers with the chosen codec and telephone-event, in the direction RFC 3264 asks', () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=sendonly']));
    expect(isHold(remote)).toBe(true);
    const answer = sdpTransform.parse(writeAnswer(local, negotiate(remote, G711), answerDirection(remote.direction)));
    const m = answer.media[0]!;
    expect(m).toMatchObject({ type: 'audio', port: 20_000, protocol: 'RTP/AVP', direction: 'recvonly', ptime: 20 });
    expect(String(m.payloads)).toBe('0 101');
    expect(m.rtp).toEqual([
      { payload: 0, codec: 'PCMU', rate: 8000 },
      { payload: 101, codec: 'telephone-event', rate: 8000 },
    ]);
    expect(answer.connection?.ip).toBe('127.0.0.1');
  });

  it('answers Opus as opus/48000/2 with its fmtp and 48 kHz telephone-event, with the offer’s payload types', () => {
    const remote = readRemoteAudio(offer(['m=audio 40000 RTP/AVP 107 108', 'a=rtpmap:107 opus/48000/2', 'a=rtpmap:108 telephone-event/48000']));
    const m = sdpTransform.parse(writeAnswer(local, negotiate(remote, DEFAULT_SIP_CODECS), 'sendrecv')).media[0]!;
    expect(m.rtp).toEqual([
      { payload: 107, codec: 'opus', rate: 48_000, encoding: 2 },
      { payload: 108, codec: 'telephone-event', rate: 48_000 },
    ]);
    expect(m.fmtp.find((f) => f.payload === 107)?.config).toContain('useinbandfec=1');
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

  it('offers the configured codecs in order, with telephone-event at each clock rate they use', () => {
    const parsed = sdpTransform.parse(writeOffer(local, DEFAULT_SIP_CODECS));
    expect(String(parsed.media[0]!.payloads)).toBe('111 9 0 8 101 110');
    expect(parsed.media[0]!.rtp).toContainEqual({ payload: 110, codec: 'telephone-event', rate: 48_000 });
    expect(negotiate(readRemoteAudio(writeOffer(local, DEFAULT_SIP_CODECS)), DEFAULT_SIP_CODECS)).toMatchObject({ codec: 'opus', telephoneEventPt: 110 });
    const narrow = sdpTransform.parse(writeOffer(local, G711));
    expect(String(narrow.media[0]!.payloads)).toBe('0 8 101');
    expect(narrow.media[0]!.fmtp).toEqual([{ payload: 101, config: '0-16' }]);
    expect(offeredConfig(G711)).toEqual({ payloadType: 0, codec: 'PCMU', ptime: 20, telephoneEventPt: 101 });
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

  it('refuses to negotiate without a codec in common (the call gets 488)', () => {
    expect(code(() => negotiate(readRemoteAudio(offer(['m=audio 40000 RTP/AVP 18 9', 'a=rtpmap:18 G729/8000'])), G711))).toBe('BadRequest');
  });

  it("writes what sdp-transform's writer makes of the same description, for every codec, order, direction and address family", () => {
    /** The description as the gateway wrote it through sdp-transform before it wrote its SDP itself. */
    const reference = (at: typeof local, codecs: readonly SipCodecName[], events: { pt: number; rate: number }[], direction: MediaDirection): string => {
      const rtp = codecs.map((codec) => {
        const info = SIP_CODECS[codec];
        return {
          payload: info.offeredPayloadType,
          codec: info.encodingName,
          rate: info.clockRate,
          ...(info.channels !== undefined && { encoding: info.channels }),
        };
      });
      const fmtp = codecs.flatMap((codec) => {
        const info = SIP_CODECS[codec];
        return info.fmtp === undefined ? [] : [{ payload: info.offeredPayloadType, config: info.fmtp }];
      });
      for (const { pt, rate } of events) {
        rtp.push({ payload: pt, codec: 'telephone-event', rate });
        fmtp.push({ payload: pt, config: '0-16' });
      }
      const ipVer = at.address.includes(':') ? 6 : 4;
      return sdpTransform.write({
        version: 0,
        origin: { username: 'legway', sessionId: at.sessionId, sessionVersion: at.version, netType: 'IN', ipVer, address: at.address },
        name: 'legway',
        connection: { version: ipVer, ip: at.address },
        timing: { start: 0, stop: 0 },
        media: [
          { type: 'audio', port: at.port, protocol: 'RTP/AVP', payloads: rtp.map((r) => r.payload).join(' '), rtp, fmtp, ptime: 20, maxptime: 120, direction },
        ],
      });
    };
    const directions: MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
    const places = [local, { address: '2001:db8::1', port: 65_534, sessionId: 4_294_967_296_123, version: 7 }];
    const orders: SipCodecName[][] = [['PCMU'], ['PCMA', 'PCMU'], ['G722'], ['opus'], ['opus', 'G722', 'PCMU', 'PCMA'], ['PCMA', 'opus']];
    for (const at of places) {
      for (const direction of directions) {
        for (const codecs of orders) {
          const rates = new Set(codecs.map((c) => SIP_CODECS[c].clockRate));
          const events = [
            { pt: 101, rate: 8000 },
            { pt: 110, rate: 48_000 },
          ].filter((e) => rates.has(e.rate));
          expect(writeOffer(at, codecs, direction)).toBe(reference(at, codecs, events, direction));
          const first = SIP_CODECS[codecs[0]!];
          for (const telephoneEventPt of [undefined, 101, 126]) {
            const config = { payloadType: first.offeredPayloadType, codec: first.name, ptime: 20, ...(telephoneEventPt !== undefined && { telephoneEventPt }) };
            const answerEvents = telephoneEventPt === undefined ? [] : [{ pt: telephoneEventPt, rate: first.clockRate }];
            expect(writeAnswer(at, config, direction)).toBe(reference(at, [first.name], answerEvents, direction));
          }
        }
      }
    }
  });
});
