/**
 * Keys of the `udp` tunnel, derived from the gossip keyring: `HMAC-SHA256(secret, label)` per key id, so the
 * dispatcher (which signs tunnel packets) never holds the gossip secrets themselves, and rotating the gossip keyring
 * rotates the tunnel keys with it.
 */
import { createHmac } from 'node:crypto';
import { PopWireError } from '../errors.js';

const LABEL = 'switchyard/pop-tunnel/v1';

export interface TunnelKeys {
  /** Key id that signs what we send. */
  readonly primary: number;
  /** Accepted keys by id (0..255), 32 bytes each. */
  readonly keys: ReadonlyMap<number, Buffer>;
}

/** A gossip keyring as the derivations read it. */
export interface KeyringSecrets {
  primary: number;
  keys: ReadonlyArray<{ id: number; secret: Uint8Array | string }>;
}

/**
 * `HMAC-SHA256(secret, label)` per key id: one derived key set per purpose (`what` names it in errors). Throws
 * `PWR_ERR_KEY` on a bad id, a short secret or a missing primary.
 */
export function deriveKeys(keyring: KeyringSecrets, label: string, what: string): TunnelKeys {
  const keys = new Map<number, Buffer>();
  for (const k of keyring.keys) {
    const secret = typeof k.secret === 'string' ? Buffer.from(k.secret, 'utf8') : Buffer.from(k.secret);
    if (!Number.isInteger(k.id) || k.id < 0 || k.id > 255 || secret.length < 16)
      throw new PopWireError('PWR_ERR_KEY', `${what} key ${k.id}: id must be 0..255 and secret ≥ 16 bytes`);
    keys.set(k.id, createHmac('sha256', secret).update(label).digest());
  }
  if (!keys.has(keyring.primary))
    throw new PopWireError('PWR_ERR_KEY', `${what} key: primary ${keyring.primary} is not in the keyring`);
  return { primary: keyring.primary, keys };
}

/** Derives the tunnel keys of a keyring. Throws `PWR_ERR_KEY` on a bad id, a short secret or a missing primary. */
export function deriveTunnelKeys(keyring: KeyringSecrets): TunnelKeys {
  return deriveKeys(keyring, LABEL, 'tunnel');
}

/** Plain form for the router → dispatcher link (base64 keys). */
export interface TunnelKeysWire {
  primary: number;
  keys: Array<{ id: number; key: string }>;
}

export function tunnelKeysToWire(k: TunnelKeys): TunnelKeysWire {
  return { primary: k.primary, keys: [...k.keys].map(([id, key]) => ({ id, key: key.toString('base64') })) };
}

/** Throws `PWR_ERR_KEY` when a key is short or the primary is missing. */
export function tunnelKeysFromWire(w: TunnelKeysWire): TunnelKeys {
  const keys = new Map<number, Buffer>();
  for (const { id, key } of w.keys) {
    const b = Buffer.from(key, 'base64');
    if (b.length < 16 || !Number.isInteger(id) || id < 0 || id > 255)
      throw new PopWireError('PWR_ERR_KEY', `tunnel key ${id} is malformed`);
    keys.set(id, b);
  }
  if (!keys.has(w.primary)) throw new PopWireError('PWR_ERR_KEY', `tunnel key: primary ${w.primary} missing`);
  return { primary: w.primary, keys };
}
