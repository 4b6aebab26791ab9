/** The control plane's records, as services and interfaces see them (the store maps rows to these). */

export type ConversationState = 'active' | 'deleted';

export interface ConversationProperties {
  ttl?: number | undefined;
  custom_data?: Record<string, unknown> | undefined;
}

export interface Conversation {
  id: string;
  name: string;
  display_name?: string;
  state: ConversationState;
  properties: ConversationProperties;
  timestamp: { created: string; updated?: string; destroyed?: string };
}

export interface User {
  id: string;
  name: string;
  display_name?: string;
}

export type MemberState = 'invited' | 'joined' | 'left';

export interface MemberMedia {
  audio: boolean;
  video: boolean;
  muted: boolean;
  earmuffed: boolean;
}

export interface MemberChannel {
  type: 'app' | 'sip' | 'phone' | 'websocket';
  from?: string;
  to?: string;
}

export interface Member {
  id: string;
  conversation_id: string;
  user: User;
  state: MemberState;
  channel: MemberChannel;
  media: MemberMedia;
  timestamp: { invited?: string; joined?: string; left?: string };
  initiator?: string;
}

/** The event envelope: what is stored, listed, pushed to sockets and posted to webhooks. */
export interface ConversationEvent {
  id: number;
  type: string;
  from: string;
  to?: string;
  timestamp: string;
  body: Record<string, unknown>;
  conversation_id: string;
  deleted_at?: string;
}

/** `reason` of the member:left events that a conversation's deletion writes before conversation:deleted. */
export const CONVERSATION_DELETED = 'conversation deleted';

/** `from` of events that no member caused (conversation lifecycle, application actions). */
export const SYSTEM_ORIGIN = 'system';
