/**
 * SIP over a stream (RFC 3261 §18.3): messages are delimited by the blank line after the headers plus
 * Content-Length bytes of body. Used by the primary for the first message of a TCP connection and by workers for
 * every later one.
 */
import { findHeaderEnd } from './message.js';

export type FrameResult =
  | {
      kind: 'complete';
      /** where the message starts (after keep-alive CRLFs) */ start: number;
      length: number;
    }
  | { kind: 'incomplete' }
  | { kind: 'error'; reason: 'too-large' | 'bad-content-length' };

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$/im;

/** Finds the first complete message in `buf`; never throws. */
export function frameMessage(buf: Buffer, maxBytes: number): FrameResult {
  let start = 0;
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= buf.length) return { kind: 'incomplete' };
  const end = findHeaderEnd(buf, start, Math.min(buf.length, start + maxBytes));
  if (end.index < 0)
    return buf.length - start >= maxBytes ? { kind: 'error', reason: 'too-large' } : { kind: 'incomplete' };
  const head = buf.toString('latin1', start, end.index);
  const m = CONTENT_LENGTH.exec(head);
  if (!m || !/^\d{1,9}$/.test(m[1]!)) return { kind: 'error', reason: 'bad-content-length' };
  const total = end.index + end.sepLength - start + Number(m[1]);
  if (total > maxBytes) return { kind: 'error', reason: 'too-large' };
  if (start + total > buf.length) return { kind: 'incomplete' };
  return { kind: 'complete', start, length: total };
}

/** Accumulates stream bytes and hands out whole messages. */
export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  /** The next whole message, undefined when more bytes are needed; throws-free, errors are returned. */
  next(): Buffer | undefined | { error: 'too-large' | 'bad-content-length' } {
    const r = frameMessage(this.buf, this.maxBytes);
    if (r.kind === 'incomplete') {
      // drop bare keep-alive CRLFs so they do not accumulate
      if (this.buf.length && this.buf.every((b) => b === 13 || b === 10)) this.buf = Buffer.alloc(0);
      return undefined;
    }
    if (r.kind === 'error') return { error: r.reason };
    const msg = this.buf.subarray(r.start, r.start + r.length);
    this.buf = this.buf.subarray(r.start + r.length);
    return msg;
  }

  get buffered(): number {
    return this.buf.length;
  }
}
