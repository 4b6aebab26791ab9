import { contentLength, parseHead, type MessageHead } from './sipText.js';

/**
 * Message framing (RFC 3261 §18.3). A datagram holds one message; a stream is cut by the
 * Content-Length of each head, with CRLFs between messages (keep-alives, RFC 5626 §3.5.1) skipped.
 */

/** One framing outcome: a whole message, or why there is none. */
export type Frame =
  /** A complete message: head, empty line, and exactly Content-Length bytes of body; a datagram's head as parsed here. */
  | { readonly kind: 'message'; readonly data: Buffer; readonly head?: MessageHead }
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
const HEADER_END = Buffer.from('\r\n\r\n');

function skipLineBreaks(data: Buffer, from = 0, to = data.length): number {
  let i = from;
  while (i < to && (data[i] === CR || data[i] === LF)) i++;
  return i;
}

/** Content-Length of a head; a head too broken to read has none (the parser will refuse the message). */
function lengthOfHead(head: Buffer): number | undefined | 'invalid' {
  return lengthOf(parseHead(head.toString('utf8')));
}

function lengthOf(parsed: MessageHead | undefined): number | undefined | 'invalid' {
  return parsed ? contentLength(parsed) : undefined;
}

/** Frames one datagram; `undefined` for a keep-alive (nothing but line breaks). */
export function frameDatagram(datagram: Buffer, maxMessageBytes: number): Frame | undefined {
  const start = skipLineBreaks(datagram);
  if (start === datagram.length) return undefined;
  const data = datagram.subarray(start);
  const headEnd = data.indexOf(HEADER_END);
  if (headEnd < 0) return data.length > maxMessageBytes ? { kind: 'too-large', head: undefined } : { kind: 'malformed', data };
  const head = data.subarray(0, headEnd);
  if (data.length > maxMessageBytes) return { kind: 'too-large', head };
  const parsed = parseHead(head.toString('utf8'));
  const length = lengthOf(parsed);
  if (length === 'invalid') return { kind: 'bad-length', head };
  const bodyStart = headEnd + 4;
  // The parsed head goes along, so that the message is not read twice (none when it was unreadable).
  const known = parsed === undefined ? {} : { head: parsed };
  // Over UDP a missing Content-Length means "the rest of the datagram"; extra bytes beyond it are dropped.
  if (length === undefined) return { kind: 'message', data, ...known };
  if (bodyStart + length > data.length) return { kind: 'truncated', head };
  return { kind: 'message', data: data.subarray(0, bodyStart + length), ...known };
}

/**
 * Cuts a TCP byte stream into messages. After a fatal frame (`too-large`, `bad-length`) the stream
 * cannot be resynchronised: the framer stops and the connection should be closed.
 *
 * A peer may send a message a byte at a time. The framer keeps what it learned between chunks —
 * how far the search for the empty line got, and the message's total length once its head is read
 * — so every byte is examined a bounded number of times, and bytes are appended into a buffer that
 * grows by doubling (not copied whole on every chunk).
 */
export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  /** Held bytes are `buffer[start, end)`. */
  private start = 0;
  private end = 0;
  /** Bytes of the current message (from `start`) already searched for the empty line without finding it. */
  private searched = 0;
  /** The current message's total length (head, empty line, body), once its head is read. */
  private total: number | undefined;
  private failed = false;
  private scanned = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes held while waiting for the rest of a message. */
  get pendingBytes(): number {
    return this.end - this.start;
  }

  /** Whether part of a message is held (keep-alive line breaks do not start one). */
  get inMessage(): boolean {
    return this.end > this.start;
  }

  /** Whether a fatal frame was produced (nothing more will be framed). */
  get stopped(): boolean {
    return this.failed;
  }

  /** Bytes examined so far by the search for the end of heads (each at most a few times, however the stream is cut). */
  get bytesScanned(): number {
    return this.scanned;
  }

  /** Adds received bytes; returns the frames they complete, in order. */
  push(chunk: Buffer): Frame[] {
    if (this.failed) return [];
    this.append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      if (this.total === undefined) {
        if (this.searched === 0) this.start = skipLineBreaks(this.buffer, this.start, this.end);
        if (this.start === this.end) break;
        const head = this.readHead();
        if (head === 'incomplete') break;
        if (typeof head !== 'number') {
          frames.push(head);
          break;
        }
        this.total = head;
      }
      const total = this.total;
      if (this.end - this.start < total) break;
      frames.push({ kind: 'message', data: Buffer.from(this.buffer.subarray(this.start, this.start + total)) });
      this.start += total;
      this.total = undefined;
      this.searched = 0;
    }
    if (this.start === this.end) this.start = this.end = 0;
    return frames;
  }

  /** Looks for the end of the current head in the bytes not searched yet: the message's total length, a fatal frame, or not yet. */
  private readHead(): number | Frame | 'incomplete' {
    const held = this.buffer.subarray(this.start, this.end);
    // The empty line may straddle the previous chunk's end: back up by its length less one.
    const from = Math.max(0, this.searched - (HEADER_END.length - 1));
    const headEnd = held.indexOf(HEADER_END, from);
    this.scanned += (headEnd < 0 ? held.length : headEnd + HEADER_END.length) - from;
    if (headEnd < 0) {
      this.searched = held.length;
      return held.length > this.maxMessageBytes ? this.fail({ kind: 'too-large', head: undefined }) : 'incomplete';
    }
    const head = held.subarray(0, headEnd);
    const length = lengthOfHead(head);
    // An unreadable Content-Length leaves no boundary. A missing one (mandatory on streams, RFC 3261
    // §18.3) is read as 0: the empty line still ends the message, and the stream stays in step.
    if (length === 'invalid') return this.fail({ kind: 'bad-length', head: Buffer.from(head) });
    const total = headEnd + HEADER_END.length + (length ?? 0);
    if (total > this.maxMessageBytes) return this.fail({ kind: 'too-large', head: Buffer.from(head) });
    return total;
  }

  private append(chunk: Buffer): void {
    const held = this.end - this.start;
    if (this.end + chunk.length > this.buffer.length) {
      const needed = held + chunk.length;
      if (needed <= this.buffer.length / 2) {
        // Room enough once the consumed bytes in front are dropped.
        this.buffer.copy(this.buffer, 0, this.start, this.end);
      } else {
        const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2, 4096));
        this.buffer.copy(grown, 0, this.start, this.end);
        this.buffer = grown;
      }
      this.start = 0;
      this.end = held;
    }
    chunk.copy(this.buffer, this.end);
    this.end += chunk.length;
  }

  private fail(frame: Frame): Frame {
    this.failed = true;
    this.buffer = Buffer.alloc(0);
    this.start = this.end = 0;
    this.total = undefined;
    return frame;
  }
}
