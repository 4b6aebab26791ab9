import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { AUDIO_LEVEL_EXTENSION } from '../../src/media/audio/rtp.js';
import { writeLocalSdp, type LocalTransport } from '../../src/media/mediasoup/localSdp.js';
import { readOffer } from '../../src/media/mediasoup/offer.js';
import { answerSections } from '../../src/media/mediasoup/rtpParameters.js';
import { fakeOfferSdp } from '../support/fakeEngine.js';

/** The fake browser offer, its audio section carrying `extmaps`. */
function offerWith(...extmaps: string[]): string {
  return fakeOfferSdp().replace('a=mid:0\r\n', ['a=mid:0', ...extmaps, ''].join('\r\n'));
}

const LOCAL: LocalTransport = {
  iceUfrag: 'ufrag',
  icePwd: 'password-of-twenty-two',
  fingerprint: { algorithm: 'sha-256', value: 'AA:BB' },
  candidates: [{ foundation: 'udp', priority: 1, ip: '127.0.0.1', port: 40000, protocol: 'udp', type: 'host' }],
  setup: 'passive',
};
const MIX = { ssrc: 1234, cname: 'legway-x', streamId: 'legway-x', trackId: 'audio' };

/** The `a=extmap` lines of the answer's audio section, as uri → id. */
function answeredExtensions(offerSdp: string): Record<string, number> {
  const answer = sdpTransform.parse(writeLocalSdp(answerSections(readOffer(offerSdp), MIX), LOCAL, { id: 1, version: 1 }));
  const audio = answer.media.find((m) => m.type === 'audio');
  return Object.fromEntries((audio?.ext ?? []).map((e) => [e.uri, e.value]));
}

describe('the answer to a WebRTC offer and the RFC 6464 audio level', () => {
  it('accepts the audio level extension under the id the peer offered it', () => {
    const offer = offerWith(`a=extmap:1 ${AUDIO_LEVEL_EXTENSION}`, 'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid');
    expect(answeredExtensions(offer)[AUDIO_LEVEL_EXTENSION]).toBe(1);
  });

  it('does not answer with it when the peer did not offer it', () => {
    expect(answeredExtensions(offerWith())).not.toHaveProperty(AUDIO_LEVEL_EXTENSION);
  });

  it('does not answer with it when the peer only receives audio (there are no levels of its own to carry)', () => {
    const offer = offerWith(`a=extmap:1 ${AUDIO_LEVEL_EXTENSION}`).replace(/a=sendrecv/, 'a=recvonly');
    expect(answeredExtensions(offer)).not.toHaveProperty(AUDIO_LEVEL_EXTENSION);
  });
});
