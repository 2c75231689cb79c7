import { describe, expect, it } from 'vitest';
import { undocumentedCodes } from '@switchyard/testing';
import {
  GOSSIP_LAN_DEFAULTS,
  GOSSIP_TEST_PROFILE,
  GossipError,
  GossipErrors,
  DropReasons,
  parseGossipConfig,
} from '../src/index.js';

describe('config', () => {
  it('applies the LAN defaults and freezes', () => {
    const cfg = parseGossipConfig({});
    expect(cfg).toEqual(GOSSIP_LAN_DEFAULTS);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(parseGossipConfig(GOSSIP_TEST_PROFILE)).toEqual(GOSSIP_TEST_PROFILE);
  });

  it.each([
    [{ probeIntervalMs: 0 }, 'probeIntervalMs'],
    [{ probeTimeoutMs: 2000 }, 'probeTimeoutMs'],
    [{ gossipIntervalMs: 5000 }, 'gossipIntervalMs'],
    [{ maxDatagramBytes: 100 }, 'maxDatagramBytes'],
    [{ tombstoneTtlMs: 1000 }, 'tombstoneTtlMs'],
    [{ bogus: 1 } as never, 'bogus'],
  ])('rejects %j naming %s', (input, field) => {
    try {
      parseGossipConfig(input);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(GossipError);
      expect((err as GossipError).code).toBe('GSP_ERR_CONFIG');
      expect((err as GossipError).details?.['field']).toBe(field);
    }
  });

  it('every error code and drop reason is documented in the README', () => {
    const readme = new URL('../README.md', import.meta.url).pathname;
    expect(undocumentedCodes(GossipErrors, readme)).toEqual([]);
    expect(undocumentedCodes(DropReasons, readme)).toEqual([]);
  });
});
