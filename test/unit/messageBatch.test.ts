import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MessageBatch } from '../../src/media/threads/messageBatch.js';

describe('MessageBatch (messages to a media thread)', () => {
  it("posts one turn's messages as one array, in the order they were queued, with every buffer to move", async () => {
    const posts: { messages: string[]; transfer: ArrayBuffer[] }[] = [];
    const batch = new MessageBatch<string>((messages, transfer) => posts.push({ messages, transfer }));
    const samples = new ArrayBuffer(8);
    batch.push('rtpConfigure');
    batch.push('play', [samples]);
    batch.push('addLeg');
    expect(posts).toEqual([]);
    await nextTurn();
    expect(posts).toEqual([{ messages: ['rtpConfigure', 'play', 'addLeg'], transfer: [samples] }]);

    batch.push('remove');
    await nextTurn();
    expect(posts.map((p) => p.messages)).toEqual([['rtpConfigure', 'play', 'addLeg'], ['remove']]);
  });

  it('drops what is queued when cleared (the thread is gone), and posts nothing for an empty turn', async () => {
    const posts: string[][] = [];
    const batch = new MessageBatch<string>((messages) => posts.push(messages));
    batch.push('rtpClose');
    batch.clear();
    await nextTurn();
    expect(posts).toEqual([]);
    batch.push('snapshot');
    await nextTurn();
    expect(posts).toEqual([['snapshot']]);
  });
});
