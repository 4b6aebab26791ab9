import type { Logger } from 'pino';
import { AudioBridge } from '../bridge/audioBridge.js';
import type { ConversationBridge } from '../bridge/conversationBridge.js';
import type { MediaThreads } from './mediaThreads.js';
import { ThreadBridge } from './threadBridge.js';

export type { MediaThreads } from './mediaThreads.js';

/** A conversation's bridge: on the media threads when there are some, else in this process (a fake media engine). */
export function createBridge(
  conversationId: string,
  onSpeaking: (legId: string, on: boolean) => void,
  options: { threads: MediaThreads | undefined; logger: Logger; maxSpeakers: number | undefined },
): ConversationBridge {
  const { threads, maxSpeakers } = options;
  if (threads) return new ThreadBridge(conversationId, threads, onSpeaking, maxSpeakers);
  return new AudioBridge(conversationId, onSpeaking, options.logger.child({ component: 'bridge', conversation_id: conversationId }), { maxSpeakers });
}
