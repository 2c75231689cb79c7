/**
 * The keyring: several keys are accepted, one (the primary) signs what we send. To rotate without downtime, add the
 * new key everywhere, then make it primary everywhere, then remove the old one.
 */
import { GossipError } from '../errors.js';

export interface KeyringInit {
  /** Key ids 0..255 (one byte on the wire) and their secrets (at least 16 bytes; a string is taken as UTF-8). */
  keys: ReadonlyArray<{ id: number; secret: Uint8Array | string }>;
  /** Id of the key used to sign outgoing datagrams. */
  primary: number;
}

export interface Keyring {
  readonly primaryId: number;
  readonly primary: Buffer;
  get(id: number): Buffer | undefined;
}

/** Validates and freezes a keyring. Throws `GSP_ERR_KEYRING` when empty, duplicated, short or missing the primary. */
export function createKeyring(init: KeyringInit): Keyring {
  const keys = new Map<number, Buffer>();
  if (!init.keys.length) throw new GossipError('GSP_ERR_KEYRING', 'keyring: at least one key is required');
  for (const k of init.keys) {
    if (!Number.isInteger(k.id) || k.id < 0 || k.id > 255) {
      throw new GossipError('GSP_ERR_KEYRING', `keyring: key id must be an integer 0..255, got ${k.id}`);
    }
    if (keys.has(k.id)) throw new GossipError('GSP_ERR_KEYRING', `keyring: duplicate key id ${k.id}`);
    const secret = typeof k.secret === 'string' ? Buffer.from(k.secret, 'utf8') : Buffer.from(k.secret);
    // never put the secret in the message
    if (secret.length < 16)
      throw new GossipError('GSP_ERR_KEYRING', `keyring: key ${k.id} is shorter than 16 bytes`);
    keys.set(k.id, secret);
  }
  const primary = keys.get(init.primary);
  if (!primary)
    throw new GossipError('GSP_ERR_KEYRING', `keyring: primary key ${init.primary} is not in the keyring`);
  return Object.freeze({ primaryId: init.primary, primary, get: (id: number) => keys.get(id) });
}
