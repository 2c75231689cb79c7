import {
  Codec,
  GOSSIP_LAN_DEFAULTS,
  GossipState,
  createKeyring,
  seededRandom,
  type Action,
  type GossipConfig,
} from '../src/index.js';

export const KEYRING = { keys: [{ id: 1, secret: 'test-key-0123456789abcdef' }], primary: 1 };

export function codec(cfg: Partial<GossipConfig> = {}): Codec {
  return new Codec(createKeyring(KEYRING), { ...GOSSIP_LAN_DEFAULTS, ...cfg });
}

export function makeState(
  id: string,
  opts: { seeds?: string[]; config?: Partial<GossipConfig>; seed?: number } = {},
) {
  const c = codec();
  return new GossipState({
    id,
    addr: `${id}:1`,
    seeds: opts.seeds ?? [],
    config: { ...GOSSIP_LAN_DEFAULTS, ...opts.config },
    random: seededRandom(opts.seed ?? 7),
    sizeOf: (v) => c.sizeOf(v),
  });
}

export const sends = (a: readonly Action[]) => a.filter((x) => x.type === 'send');
export const broadcasts = (a: readonly Action[]) => a.filter((x) => x.type === 'broadcast');
export const events = (a: readonly Action[]) => a.flatMap((x) => (x.type === 'event' ? [x.event] : []));
