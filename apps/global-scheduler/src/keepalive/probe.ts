/**
 * A keep-alive probe: is this conference server alive? The record says how to ask (contract C1): `meta.probe`
 * `'sip'` → a SIP OPTIONS request over UDP to `record.address`, any SIP response counts; otherwise `meta.probe` is
 * the URL of an HTTP endpoint (`'http'`, today's agents), a 2xx counts.
 */
import type { ServiceRecord } from '@switchyard/registry';

/** Resolves true when the server answered within `timeoutMs`; never rejects. */
export type Probe = (record: ServiceRecord, timeoutMs: number) => Promise<boolean>;

/** How a record asks to be probed. */
export type ProbeTarget = { kind: 'sip'; address: string } | { kind: 'http'; url: string } | { kind: 'none' };

export function probeTargetOf(record: Pick<ServiceRecord, 'address' | 'meta'>): ProbeTarget {
  const p = record.meta['probe'];
  if (p === 'sip') return { kind: 'sip', address: record.address };
  if (p !== undefined && /^https?:\/\//.test(p)) return { kind: 'http', url: p };
  return { kind: 'none' };
}
