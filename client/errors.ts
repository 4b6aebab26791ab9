import type { ErrorCode } from '../src/domain/errors.js';

/** Codes the client itself raises, beside the gateway's own (`ErrorCode`). */
export type ClientErrorCode = 'Disconnected' | 'Timeout' | 'ConnectFailed' | 'MediaFailed';

/** A failed request or connection: `code` is the gateway's stable error code, or one of the client's. */
export class LegwayClientError extends Error {
  override readonly name = 'LegwayClientError';
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type { ErrorCode };
