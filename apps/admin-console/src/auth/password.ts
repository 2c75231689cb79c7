/**
 * The operator password, kept only as a scrypt hash (node:crypto). The configured value is either the password
 * itself (hashed at start, the plain text dropped) or an already-hashed `scrypt$<N>$<salt b64>$<hash b64>`.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '@switchyard/core';

export interface PasswordHash {
  n: number;
  salt: Buffer;
  hash: Buffer;
}

const KEYLEN = 32;
/** scrypt cost: 2^14 takes tens of ms, which also slows guessing. */
export const SCRYPT_N = 16384;

function derive(password: string, salt: Buffer, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEYLEN, { N: n, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, n = SCRYPT_N): Promise<PasswordHash> {
  const salt = randomBytes(16);
  return { n, salt, hash: await derive(password, salt, n) };
}

export function formatHash(h: PasswordHash): string {
  return `scrypt$${h.n}$${h.salt.toString('base64')}$${h.hash.toString('base64')}`;
}

/** Parses `scrypt$N$salt$hash`; a ConfigError names `field` when it is malformed. */
export function parseHash(text: string, field: string): PasswordHash {
  const m = /^scrypt\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (!m) throw new ConfigError(field, 'expected "scrypt$N$salt$hash"');
  const n = Number(m[1]);
  if (n < 2 || n > 1 << 20 || (n & (n - 1)) !== 0)
    throw new ConfigError(field, 'scrypt N must be a power of 2');
  const hash = Buffer.from(m[3]!, 'base64');
  if (hash.length !== KEYLEN) throw new ConfigError(field, `the hash must be ${KEYLEN} bytes`);
  return { n, salt: Buffer.from(m[2]!, 'base64'), hash };
}

/** The stored hash of a configured secret: an existing hash is parsed, a plain password is hashed now. */
export async function storedHash(configured: string, field: string): Promise<PasswordHash> {
  if (configured.startsWith('scrypt$')) return parseHash(configured, field);
  if (configured.length < 8)
    throw new ConfigError(field, 'the operator password needs at least 8 characters');
  return hashPassword(configured);
}

export async function verifyPassword(candidate: string, stored: PasswordHash): Promise<boolean> {
  // bounded input: a huge body must not make scrypt the attacker's amplifier
  if (candidate.length === 0 || candidate.length > 1024) return false;
  const got = await derive(candidate, stored.salt, stored.n);
  return timingSafeEqual(got, stored.hash);
}
