/** Password hashing, the login limiter and sessions (pure parts), then the HTTP rules with fastify's inject(). */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@switchyard/core';
import { thrownBy } from '@switchyard/testing';
import { formatHash, hashPassword, parseHash, storedHash, verifyPassword } from '../src/auth/password.js';
import { LoginLimiter } from '../src/auth/login-limiter.js';
import { readCookie, SessionStore } from '../src/auth/sessions.js';

describe('password', () => {
  it('is kept as a scrypt hash that verifies only the right password; a stored hash round-trips', async () => {
    const h = await hashPassword('correct horse', 1024);
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct hors', h)).toBe(false);
    expect(await verifyPassword('', h)).toBe(false);
    expect(await verifyPassword('x'.repeat(5000), h)).toBe(false);
    const text = formatHash(h);
    expect(text).toMatch(/^scrypt\$1024\$/);
    expect(text).not.toContain('correct');
    expect(await verifyPassword('correct horse', await storedHash(text, 'passwordFile'))).toBe(true);
  });

  it('refuses a short password and a malformed hash, naming the field', async () => {
    await expect(storedHash('short', 'password')).rejects.toThrow(/password/);
    expect(thrownBy(() => parseHash('scrypt$1000$AAAA$AAAA', 'passwordFile'), ConfigError).field).toBe(
      'passwordFile',
    );
    expect(thrownBy(() => parseHash('md5$x', 'passwordFile'), ConfigError).field).toBe('passwordFile');
  });
});

describe('LoginLimiter', () => {
  it('allows `attempts` failures per window per address, then says how long to wait; a success clears it', () => {
    const l = new LoginLimiter({ attempts: 3, windowMs: 60_000, maxAddresses: 100 });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs('a', 1000 * i)).toBe(0);
      l.fail('a', 1000 * i);
    }
    expect(l.retryAfterMs('a', 3000)).toBe(57_000);
    expect(l.retryAfterMs('b', 3000)).toBe(0);
    expect(l.retryAfterMs('a', 60_000)).toBe(0);
    l.fail('c', 0);
    l.succeed('c');
    expect(l.tracked).toBe(0);
  });

  it('tracks at most maxAddresses (a flood of addresses cannot grow it)', () => {
    const l = new LoginLimiter({ attempts: 1, windowMs: 60_000, maxAddresses: 10 });
    for (let i = 0; i < 1000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`, i);
    expect(l.tracked).toBe(10);
  });
});

describe('SessionStore', () => {
  it('issues random ids and CSRF tokens, expires them, and bounds their number', () => {
    const s = new SessionStore({ ttlMs: 1000, maxSessions: 2 });
    const a = s.create('operator', 0);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrf).not.toBe(a.id);
    expect(s.get(a.id, 999)).toBe(a);
    expect(SessionStore.csrfMatches(a, a.csrf)).toBe(true);
    expect(SessionStore.csrfMatches(a, `${a.csrf}x`)).toBe(false);
    expect(SessionStore.csrfMatches(a, undefined)).toBe(false);
    expect(s.get(a.id, 1000)).toBeUndefined();
    const b = s.create('operator', 2000);
    s.create('operator', 2001);
    s.create('operator', 2002);
    expect(s.get(b.id, 2003)).toBeUndefined();
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(readCookie('a=1; sy_console=abc; b=2', 'sy_console')).toBe('abc');
    expect(readCookie('sy_consolex=1', 'sy_console')).toBeUndefined();
    expect(readCookie(undefined, 'sy_console')).toBeUndefined();
  });
});
