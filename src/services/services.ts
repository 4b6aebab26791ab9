import type { ConversationService } from './conversationService.js';
import type { EventService } from './eventService.js';
import type { LegService } from './legService.js';
import type { MemberService } from './memberService.js';
import type { WebhookService } from './webhookService.js';

/** The application services the interfaces call. */
export interface Services {
  conversations: ConversationService;
  members: MemberService;
  events: EventService;
  legs: LegService;
  webhooks: WebhookService;
}
