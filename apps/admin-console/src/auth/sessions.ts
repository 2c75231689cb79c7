/**
 * Operator sessions: a random id in an HttpOnly, SameSite=Strict cookie, a CSRF token per session (sent back by
 * the page as `x-csrf-token` on every mutation), an absolute expiry, and a bound on how many exist. Pure apart
 * from the random ids; the caller passes `now`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../shared/model.js';

export const COOKIE = 'sy_console';

export interface OperatorSession {
  id: string;
  role: Role;
  csrf: string;
  expiresAt: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, OperatorSession>();

  constructor(private readonly init: { ttlMs: number; maxSessions: number }) {}

  create(role: Role, now: number): OperatorSession {
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    if (this.sessions.size >= this.init.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const s = {
      id: randomBytes(32).toString('base64url'),
      role,
      csrf: randomBytes(32).toString('base64url'),
      expiresAt: now + this.init.ttlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined, now: number): OperatorSession | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** Constant-time check of the CSRF token a request carries. */
  static csrfMatches(s: OperatorSession, given: string | undefined): boolean {
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(s.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(value: string, maxAgeS: number, secure: boolean): string {
  return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}
