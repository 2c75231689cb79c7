/**
 * The registration protocol's opening: one grammar for both ends. A container's connection starts with one
 * `hello` frame (same framing as the registry's push channel: 4-byte big-endian length, then msgpack).
 * - role `register`: the hello is followed at once by the push channel's first `hb` frame (the registration);
 *   the balancer answers `welcome` or `reject` after checking both, then the connection carries the push
 *   channel's frames (`hb` every heartbeat, `delta` on change, `bye`) from the container only;
 * - role `reverse`: after the `welcome` the connection becomes an HTTP/2 connection on which the container is
 *   the server and the balancer the client.
 */
import { Packr } from 'msgpackr';
import { LinkError } from './errors.js';

export const LINK_PROTOCOL_VERSION = 1;

/** Roles of a connection. */
export type LinkRole = 'register' | 'reverse';

export interface Hello {
  v: 1;
  k: 'hello';
  /** The shared registration token. */
  token: string;
  role: LinkRole;
  /** Container id (role `reverse` only: which registered container this connection serves). */
  id?: string;
}

export type Reply = { v: 1; k: 'welcome' } | { v: 1; k: 'reject'; code: string; message: string };

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Longest token and id accepted in a hello. */
export const HELLO_LIMITS = Object.freeze({
  maxTokenLength: 512, // tokens are opaque secrets; far longer is garbage
  maxIdLength: 128, // container ids are short names
});

export const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** Encodes one hello or reply as a frame. */
export function encodeLinkFrame(msg: Hello | Reply): Buffer {
  const body = packr.pack(msg);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

function unpack(body: Buffer, bad: (why: string, cause?: unknown) => LinkError): Record<string, unknown> {
  let m: unknown;
  try {
    m = packr.unpack(body);
  } catch (err) {
    throw bad('not msgpack', err);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw bad('not a map');
  const o = m as Record<string, unknown>;
  if (o['v'] !== LINK_PROTOCOL_VERSION) throw bad(`unsupported version ${String(o['v'])}`);
  return o;
}

const badHello = (why: string, cause?: unknown) =>
  new LinkError('LNK_ERR_BAD_HELLO', `bad hello: ${why}`, cause === undefined ? {} : { cause });

/** Decodes a frame body as a hello. Throws LNK_ERR_BAD_HELLO on anything else. */
export function decodeHello(body: Buffer): Hello {
  const o = unpack(body, badHello);
  if (o['k'] !== 'hello') throw badHello(`expected kind hello, got ${String(o['k'])}`);
  const token = o['token'];
  if (typeof token !== 'string' || token.length === 0 || token.length > HELLO_LIMITS.maxTokenLength)
    throw badHello('token must be a non-empty string');
  const role = o['role'];
  if (role !== 'register' && role !== 'reverse') throw badHello('role must be register or reverse');
  const id = o['id'];
  if (role === 'reverse') {
    if (typeof id !== 'string' || id.length > HELLO_LIMITS.maxIdLength || !ID_PATTERN.test(id))
      throw badHello('a reverse hello needs the container id');
    return { v: 1, k: 'hello', token, role, id };
  }
  return { v: 1, k: 'hello', token, role };
}

const badReply = (why: string, cause?: unknown) =>
  new LinkError('LNK_ERR_BAD_REPLY', `bad reply: ${why}`, cause === undefined ? {} : { cause });

/** Decodes a frame body as the balancer's reply. Throws LNK_ERR_BAD_REPLY on anything else. */
export function decodeReply(body: Buffer): Reply {
  const o = unpack(body, badReply);
  if (o['k'] === 'welcome') return { v: 1, k: 'welcome' };
  if (o['k'] === 'reject' && typeof o['code'] === 'string' && typeof o['message'] === 'string')
    return { v: 1, k: 'reject', code: o['code'], message: o['message'] };
  throw badReply(`unexpected kind ${String(o['k'])}`);
}

/**
 * The first frame of `buf`, if complete, and the bytes after it (which belong to what follows the opening: push
 * frames, or HTTP/2). Returns undefined while incomplete; throws LNK_ERR_FRAME_SIZE on a zero or oversized length.
 */
export function splitFirstFrame(buf: Buffer, maxBytes: number): { body: Buffer; rest: Buffer } | undefined {
  if (buf.length < 4) return undefined;
  const len = buf.readUInt32BE(0);
  if (len === 0 || len > maxBytes)
    throw new LinkError('LNK_ERR_FRAME_SIZE', `opening frame length ${len} outside 1..${maxBytes}`, {
      details: { len },
    });
  if (buf.length < 4 + len) return undefined;
  return { body: buf.subarray(4, 4 + len), rest: buf.subarray(4 + len) };
}
