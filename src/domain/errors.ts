/**
 * The error taxonomy. Every failure that crosses an edge (HTTP, socket, later SIP) is one of
 * these codes; each edge maps the code once to its own form (status + problem body, error ack).
 */
export const ERROR_CODES = {
  BadRequest: { status: 400, title: 'Bad request' },
  ValidationFailed: { status: 422, title: 'Validation failed' },
  Unauthorized: { status: 401, title: 'Unauthorized' },
  Forbidden: { status: 403, title: 'Forbidden' },
  NotFound: { status: 404, title: 'Not found' },
  ConversationNotFound: { status: 404, title: 'Conversation not found' },
  MemberNotFound: { status: 404, title: 'Member not found' },
  EventNotFound: { status: 404, title: 'Event not found' },
  UserNotFound: { status: 404, title: 'User not found' },
  LegNotFound: { status: 404, title: 'Leg not found' },
  RecordingNotFound: { status: 404, title: 'Recording not found' },
  ConversationNameTaken: { status: 409, title: 'Conversation name taken' },
  MemberExists: { status: 409, title: 'Member already exists' },
  InvalidState: { status: 409, title: 'Invalid state' },
  PayloadTooLarge: { status: 413, title: 'Payload too large' },
  UnsupportedMediaType: { status: 415, title: 'Unsupported media type' },
  RangeNotSatisfiable: { status: 416, title: 'Range not satisfiable' },
  RequestTimeout: { status: 408, title: 'Request timeout' },
  RateLimited: { status: 429, title: 'Too many requests' },
  LimitReached: { status: 429, title: 'Limit reached' },
  HeadersTooLarge: { status: 431, title: 'Request header fields too large' },
  UnknownRequest: { status: 404, title: 'Unknown request' },
  Unavailable: { status: 503, title: 'Service unavailable' },
  Internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A failure with a stable code, safe to show to the caller (never carries a stack to the edge). */
export class LegwayError extends Error {
  override readonly name = 'LegwayError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** Shorthand used across services: `throw fail('ConversationNotFound', '...')`. */
export function fail(code: ErrorCode, message: string, details?: unknown): LegwayError {
  return new LegwayError(code, message, details);
}

/** Normalises anything thrown into a LegwayError; unknown errors become `Internal` with a generic message. */
export function toLegwayError(err: unknown): LegwayError {
  if (err instanceof LegwayError) return err;
  return new LegwayError('Internal', 'internal error');
}
