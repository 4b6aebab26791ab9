import type { Logger } from 'pino';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import { createBridge, type MediaThreads } from '../media/threads/createBridge.js';
import { VideoSfu } from '../media/video/videoSfu.js';

/**
 * The media a conversation has on this node while it has legs here: one audio bridge and one video
 * forwarder, made by the first leg that needs them and closed when the last one leaves.
 */
export class ConversationMedia {
  private readonly bridges = new Map<string, ConversationBridge>();
  private readonly videos = new Map<string, VideoSfu>();

  constructor(
    private readonly logger: Logger,
    /** A leg of some bridge started or stopped speaking. */
    private readonly onSpeaking: (legId: string, on: boolean) => void,
    private readonly options: { threads: MediaThreads | undefined; maxSpeakers: number | undefined },
  ) {}

  /** The audio bridge of a conversation, made on first use. */
  bridgeFor(conversationId: string): ConversationBridge {
    let bridge = this.bridges.get(conversationId);
    if (!bridge) {
      bridge = createBridge(conversationId, this.onSpeaking, { ...this.options, logger: this.logger });
      this.bridges.set(conversationId, bridge);
    }
    return bridge;
  }

  /** The audio bridge of a conversation, if it has any legs now. */
  liveBridge(conversationId: string): ConversationBridge | undefined {
    const bridge = this.bridges.get(conversationId);
    return bridge && bridge.size > 0 ? bridge : undefined;
  }

  /** The video forwarder of a conversation, made on first use. */
  videoOf(conversationId: string): VideoSfu {
    let video = this.videos.get(conversationId);
    if (!video) {
      video = new VideoSfu(this.logger.child({ component: 'video', conversation_id: conversationId }));
      this.videos.set(conversationId, video);
    }
    return video;
  }

  /**
   * A leg of the conversation ended: frees what no leg uses any more. Returns true when the audio
   * bridge closed, so nothing of the conversation's media is left on this node.
   */
  release(conversationId: string): boolean {
    if (this.videos.get(conversationId)?.size === 0) this.videos.delete(conversationId);
    const bridge = this.bridges.get(conversationId);
    if (!bridge || bridge.size > 0) return false;
    bridge.close();
    this.bridges.delete(conversationId);
    return true;
  }
}
