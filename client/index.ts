/**
 * legway's browser client: `LegwayClient` for users (conversations, events, replay after
 * reconnecting), `Call` for their WebRTC audio and video, `OperatorClient` for `/operator`.
 */
export { LegwayClient, type ClientOptions, type Joined, type KnockingAnswer, type RtcOfferPush } from './client.js';
export { Call, type CallOptions, type CallStatus, type CallMedia } from './call.js';
export { OperatorClient, type LiveLeg, type ListedConversation, type ListedMember, type PlayParams, type SayParams } from './operator.js';
export type { ConnectionChange, ConnectionOptions, ConnectionState, TokenSource } from './connection.js';
export { LegwayClientError, type ClientErrorCode, type ErrorCode } from './errors.js';
export type { AnyEventType, EventListener, EventType, LegwayEvent } from './events.js';
export { devLogin, type DevLogin } from './devLogin.js';
