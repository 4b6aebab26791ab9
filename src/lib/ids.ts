import { randomUUID } from 'node:crypto';

/** Identifier formats: prefixed UUIDs as in the Vonage Conversation API; legs are bare UUIDs. */
export const ID_PATTERNS = {
  conversation: /^CON-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  member: /^MEM-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  user: /^USR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  leg: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  /** Bare UUIDs too: the catalogue's `audio:record*` bodies carry `recording_id` as a UUID. */
  recording: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
} as const;

export const newConversationId = (): string => `CON-${randomUUID()}`;
export const newMemberId = (): string => `MEM-${randomUUID()}`;
export const newUserId = (): string => `USR-${randomUUID()}`;
export const newLegId = (): string => randomUUID();
export const newRecordingId = (): string => randomUUID();
