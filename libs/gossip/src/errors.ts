/**
 * The gossip library's error table: stable codes, each documented in the README (a test checks it).
 * Drop reasons for inbound datagrams are counted, not thrown; they are listed in {@link DropReason}.
 */
import { SwitchyardError } from '@switchyard/core';

export const GossipErrors = {
  GSP_ERR_CONFIG: 'the gossip configuration is invalid; `field` names the first bad value',
  GSP_ERR_KEYRING:
    'the keyring is empty, has a duplicate key id, a key shorter than 16 bytes, or names a missing primary key',
  GSP_ERR_BAD_ID: 'a host id, address or session id is empty or longer than the wire allows',
  GSP_ERR_STALE_CLAIM:
    'a claim would not win over the entry already known (lower epoch than the current one)',
  GSP_ERR_NOT_OWNER: 'close() of a session this host does not own',
  GSP_ERR_STATE: 'a lifecycle method was called in the wrong state (claim before start, start twice)',
  GSP_ERR_TOO_LARGE: 'a single event or message cannot fit in one datagram of the configured size',
  GSP_ERR_TRANSPORT: 'the transport could not bind, join the multicast group or send',
} as const;

export type GossipErrorCode = keyof typeof GossipErrors;

export class GossipError extends SwitchyardError<GossipErrorCode> {}

/** Why an inbound datagram was dropped; each reason has a counter in `GossipNode.stats().dropped`. */
export const DropReasons = {
  too_short: 'shorter than the fixed header plus the MAC',
  oversized: 'longer than maxDatagramBytes',
  bad_version: 'the version byte is not one this build speaks',
  unknown_type: 'the type byte names no message type',
  unknown_key: 'the key id is not in the keyring',
  bad_mac: 'the HMAC-SHA256 does not match (forged, corrupted or wrong key)',
  too_old: 'sent longer ago than maxMessageAgeMs (replayed or badly delayed)',
  from_future: 'sent more than maxMessageAgeMs in the future (clock skew or forged timestamp)',
  malformed: 'authenticated but the body does not decode to a valid message of its type',
  from_self: 'our own datagram came back (multicast loopback)',
} as const;

export type DropReason = keyof typeof DropReasons;
