import { describe, expect, it } from 'vitest';
import { AUDIO_LEVEL_EXTENSION } from '../../src/media/audio/rtp.js';
import { readOffer } from '../../src/media/mediasoup/offer.js';
import { audioLevelExtensionOf, consumerAudioLevelId, OPUS, producerParameters } from '../../src/media/mediasoup/rtpParameters.js';
import { fakeOfferSdp } from '../support/fakeEngine.js';

/** The fake browser offer, its audio section carrying `extmaps`. */
function offerWith(...extmaps: string[]): string {
  return fakeOfferSdp().replace('a=mid:0\r\n', ['a=mid:0', ...extmaps, ''].join('\r\n'));
}

describe('RTP parameters for the RFC 6464 audio level', () => {
  it("finds the id the peer's audio section gives the extension, and none when it offers none", () => {
    const offer = readOffer(offerWith('a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', `a=extmap:1 ${AUDIO_LEVEL_EXTENSION}`));
    expect(audioLevelExtensionOf(offer)).toBe(1);
    expect(audioLevelExtensionOf(readOffer(offerWith()))).toBeUndefined();
  });

  it('declares it on the producer when given an id, beside mid, and reads the id a consumer carries it under', () => {
    const offer = readOffer(offerWith('a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', `a=extmap:1 ${AUDIO_LEVEL_EXTENSION}`));
    const withLevel = producerParameters(offer.audio, OPUS, [], 1);
    expect(withLevel.headerExtensions).toEqual([
      { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 },
      { uri: AUDIO_LEVEL_EXTENSION, id: 1 },
    ]);
    expect(producerParameters(offer.audio, OPUS, []).headerExtensions).toEqual([{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 }]);
    expect(consumerAudioLevelId({ codecs: [], headerExtensions: [{ uri: AUDIO_LEVEL_EXTENSION, id: 10 }] })).toBe(10);
    expect(consumerAudioLevelId({ codecs: [] })).toBeUndefined();
  });
});
