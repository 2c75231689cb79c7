/** Reads the POP keyring file (JSON), translating every failure into `POP_ERR_KEYRING`. The secrets are never logged. */
import fs from 'node:fs';
import { hasCode } from '@switchyard/core';
import { createKeyring, type KeyringInit } from '@switchyard/gossip';
import { deriveTunnelKeys, type TunnelKeys } from '@switchyard/pop-wire';
import { PopRouterError } from './errors.js';

export interface LoadedKeyring {
  keyring: KeyringInit;
  tunnelKeys: TunnelKeys;
}

/** `{"primary":1,"keys":[{"id":1,"secret":"at least 16 bytes"}]}` → the gossip keyring and the derived tunnel keys. */
export function loadKeyringFile(path: string): LoadedKeyring {
  if (!path)
    throw new PopRouterError('POP_ERR_KEYRING', 'keyringFile: a keyring file is required (--keyring-file)');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PopRouterError('POP_ERR_KEYRING', `keyringFile: cannot read ${path} as JSON`, { cause: err });
  }
  const k = raw as { primary?: unknown; keys?: unknown };
  if (
    typeof k !== 'object' ||
    k === null ||
    typeof k.primary !== 'number' ||
    !Array.isArray(k.keys) ||
    !k.keys.every(
      (x: { id?: unknown; secret?: unknown }) => typeof x?.id === 'number' && typeof x?.secret === 'string',
    )
  )
    throw new PopRouterError(
      'POP_ERR_KEYRING',
      `keyringFile: ${path} is not {"primary":N,"keys":[{"id":N,"secret":"…"}]}`,
    );
  const keyring = { primary: k.primary, keys: k.keys as Array<{ id: number; secret: string }> };
  try {
    createKeyring(keyring);
    return { keyring, tunnelKeys: deriveTunnelKeys(keyring) };
  } catch (err) {
    // translated by code, never by message text
    if (hasCode(err, 'GSP_ERR_KEYRING') || hasCode(err, 'PWR_ERR_KEY'))
      throw new PopRouterError('POP_ERR_KEYRING', `keyringFile: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

/** The API token from `token` or the first line of `tokenFile`; throws `POP_ERR_CONFIG` when neither gives one. */
export function resolveToken(token: string, tokenFile: string): string {
  if (token) return token;
  if (tokenFile) {
    try {
      const t = fs.readFileSync(tokenFile, 'utf8').split('\n')[0]!.trim();
      if (t) return t;
    } catch (err) {
      throw new PopRouterError('POP_ERR_CONFIG', `tokenFile: cannot read ${tokenFile}`, {
        cause: err,
        details: { field: 'tokenFile' },
      });
    }
  }
  throw new PopRouterError(
    'POP_ERR_CONFIG',
    'token: a bearer token is required (--token-file or POPR_TOKEN)',
    {
      details: { field: 'token' },
    },
  );
}
