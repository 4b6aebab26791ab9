import { contentLength, findHeadEnd, parseHead } from './sipText.js';

/**
 * Message framing (RFC 3261 §18.3). A datagram holds one message; a stream is cut by the
 * Content-Length of each head, with CRLFs between messages (keep-alives, RFC 5626 §3.5.1) skipped.
 */

/** One framing outcome: a whole message, or why there is none. */
export type Frame =
  /** A complete message: head, empty line, and exactly Content-Length bytes of body. */
  | { readonly kind: 'message'; readonly data: Buffer }
  /** The message would exceed the size limit; `head` is given when it was read whole (to answer 513). */
  | { readonly kind: 'too-large'; readonly head: Buffer | undefined }
  /** Content-Length is unreadable or contradictory: the message (and a stream after it) has no boundary. */
  | { readonly kind: 'bad-length'; readonly head: Buffer }
  /** The datagram ends before the body Content-Length announces (a request gets 400). */
  | { readonly kind: 'truncated'; readonly head: Buffer }
  /** No empty line ends the head: not a SIP message. */
  | { readonly kind: 'malformed'; readonly data: Buffer };

const CR = 0x0d;
const LF = 0x0a;

function skipLineBreaks(data: Buffer): number {
  let i = 0;
  while (i < data.length && (data[i] === CR || data[i] === LF)) i++;
  return i;
}

/** Content-Length of a head; a head too broken to read has none (the parser will refuse the message). */
function lengthOfHead(head: Buffer): number | undefined | 'invalid' {
  const parsed = parseHead(head.toString('utf8'));
  return parsed ? contentLength(parsed) : undefined;
}

/** Frames one datagram; `undefined` for a keep-alive (nothing but line breaks). */
export function frameDatagram(datagram: Buffer, maxMessageBytes: number): Frame | undefined {
  const start = skipLineBreaks(datagram);
  if (start === datagram.length) return undefined;
  const data = datagram.subarray(start);
  const headEnd = findHeadEnd(data);
  if (headEnd < 0) return data.length > maxMessageBytes ? { kind: 'too-large', head: undefined } : { kind: 'malformed', data };
  const head = data.subarray(0, headEnd);
  if (data.length > maxMessageBytes) return { kind: 'too-large', head };
  const length = lengthOfHead(head);
  if (length === 'invalid') return { kind: 'bad-length', head };
  const bodyStart = headEnd + 4;
  // Over UDP a missing Content-Length means "the rest of the datagram"; extra bytes beyond it are dropped.
  if (length === undefined) return { kind: 'message', data };
  if (bodyStart + length > data.length) return { kind: 'truncated', head };
  return { kind: 'message', data: data.subarray(0, bodyStart + length) };
}

/**
 * Cuts a TCP byte stream into messages. After a fatal frame (`too-large`, `bad-length`) the stream
 * cannot be resynchronised: the framer stops and the connection should be closed.
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private failed = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes held while waiting for the rest of a message. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  /** Whether a fatal frame was produced (nothing more will be framed). */
  get stopped(): boolean {
    return this.failed;
  }

  /** Adds received bytes; returns the frames they complete, in order. */
  push(chunk: Buffer): Frame[] {
    if (this.failed) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const skip = skipLineBreaks(this.buffer);
      if (skip > 0) this.buffer = this.buffer.subarray(skip);
      if (this.buffer.length === 0) break;
      const headEnd = findHeadEnd(this.buffer);
      if (headEnd < 0) {
        if (this.buffer.length > this.maxMessageBytes) frames.push(this.fail({ kind: 'too-large', head: undefined }));
        break;
      }
      const head = this.buffer.subarray(0, headEnd);
      const length = lengthOfHead(head);
      // An unreadable Content-Length leaves no boundary. A missing one (mandatory on streams, RFC 3261
      // §18.3) is read as 0: the empty line still ends the message, and the stream stays in step.
      if (length === 'invalid') {
        frames.push(this.fail({ kind: 'bad-length', head: Buffer.from(head) }));
        break;
      }
      const total = headEnd + 4 + (length ?? 0);
      if (total > this.maxMessageBytes) {
        frames.push(this.fail({ kind: 'too-large', head: Buffer.from(head) }));
        break;
      }
      if (this.buffer.length < total) break;
      frames.push({ kind: 'message', data: Buffer.from(this.buffer.subarray(0, total)) });
      this.buffer = this.buffer.subarray(total);
    }
    if (this.buffer.length === 0) this.buffer = Buffer.alloc(0);
    return frames;
  }

  private fail(frame: Frame): Frame {
    this.failed = true;
    this.buffer = Buffer.alloc(0);
    return frame;
  }
}
