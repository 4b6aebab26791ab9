import type { ConversationService } from './conversationService.js';
import type { EventService } from './eventService.js';
import type { LegService } from './legService.js';
import type { KnockingService } from './knockingService.js';
import type { MemberService } from './memberService.js';
import type { PlaybackService } from './playbackService.js';
import type { RecorderService } from './recorderService.js';
import type { SipLegService } from './sipLegService.js';
import type { RecordingService } from './recordingService.js';
import type { TokenRevocations } from './tokenRevocations.js';
import type { TransferService } from './transferService.js';
import type { WebhookService } from './webhookService.js';

/** The application services the interfaces call. */
export interface Services {
  conversations: ConversationService;
  members: MemberService;
  events: EventService;
  legs: LegService;
  transfers: TransferService;
  knocking: KnockingService;
  playback: PlaybackService;
  recorder: RecorderService;
  sipLegs: SipLegService;
  webhooks: WebhookService;
  recordings: RecordingService;
  tokens: TokenRevocations;
}
