/**
 * The topology of the local stack: what runs and where, in one validated JSON file
 * (`tools/stack/topology.default.json` is the documented default). Every POP host gets its own loopback address
 * (`<pop.addressPrefix>.<n>`), so each host's dispatcher, pop-router and agent bind the same ports on different
 * addresses, as on separate machines.
 */
import fs from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, parseConfig } from '@switchyard/core';

const port = (def: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 65535, default: def, description });
const loopback = (def: string, description: string) =>
  Type.String({ pattern: '^127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$', default: def, description });

export const TopologySchema = Type.Object(
  {
    host: loopback(
      '127.0.0.1',
      'address of the shared services: Redis, schedulers, balancer, mixers, console',
    ),
    region: Type.String({
      pattern: '^[a-z0-9-]+$',
      default: 'default',
      description: 'region of every server',
    }),
    redis: Type.Object(
      { port: port(6390, "port of the stack's private Redis") },
      { default: {}, description: 'the registry and the schedulers’ store' },
    ),
    schedulers: Type.Object(
      {
        count: Type.Integer({ minimum: 0, maximum: 8, default: 2, description: 'global schedulers' }),
        basePort: port(8101, 'API port of the first scheduler; the others follow'),
      },
      { default: {} },
    ),
    pop: Type.Object(
      {
        id: Type.String({
          pattern: '^[a-z0-9-]+$',
          default: 'pop1',
          description: 'POP id; host ids are <id>-host<n>',
        }),
        hosts: Type.Integer({ minimum: 0, maximum: 16, default: 3, description: 'hosts in the POP' }),
        addressPrefix: Type.String({
          pattern: '^127\\.\\d{1,3}\\.\\d{1,3}$',
          default: '127.0.1',
          description: 'host n binds <addressPrefix>.<n>',
        }),
        sipPort: port(5060, "every host's SIP port (UDP and TCP) on its own address"),
        controlPort: port(8160, "every host's dispatcher control API port on its own address"),
        routerPort: port(8170, "every host's pop-router control API port on its own address"),
        gossipPort: port(7946, "every host's pop-router gossip port on its own address"),
        tunnelPort: port(4790, "every host's pop-router udp tunnel port on its own address"),
        workers: Type.Integer({ minimum: 1, maximum: 16, default: 2, description: 'SIP workers per host' }),
        capacity: Type.Integer({
          minimum: 1,
          default: 500,
          description: 'participants a host accepts (its capacity as a conference server)',
        }),
      },
      { default: {} },
    ),
    balancer: Type.Object(
      {
        port: port(8180, 'container balancer API port'),
        registerPort: port(8181, 'container balancer registration port (mixers dial in)'),
        mixers: Type.Integer({ minimum: 0, maximum: 16, default: 3, description: 'mixer containers' }),
        mixerBasePort: port(8190, 'control port of the first mixer; the others follow'),
      },
      { default: {} },
    ),
    console: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'run the admin console' }),
        port: port(8080, 'admin console port'),
      },
      { default: {} },
    ),
    simulatedServers: Type.Integer({
      minimum: 0,
      maximum: 500,
      default: 0,
      description:
        'extra simulated conference servers (fleet-sim) beside the POP hosts; 0 in the composed stack',
    }),
  },
  { additionalProperties: false },
);
export type Topology = Static<typeof TopologySchema>;

/** Validates (ConfigError names the field, e.g. `pop.hosts`), applies defaults, freezes. */
export function parseTopology(input: unknown): Readonly<Topology> {
  return parseConfig(TopologySchema, input, { convert: false });
}

/** Reads and validates a topology file. Throws ConfigError (field `topology` for unreadable JSON). */
export function loadTopology(file: string): Readonly<Topology> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      'topology',
      `unreadable ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return parseTopology(raw);
}

export interface PopHost {
  /** Host id, also its conference-server id and its pop-router id. */
  id: string;
  /** Its own loopback address. */
  address: string;
  sip: string;
  control: string;
  router: string;
}

export function popHosts(t: Readonly<Topology>): PopHost[] {
  return Array.from({ length: t.pop.hosts }, (_, i) => {
    const address = `${t.pop.addressPrefix}.${i + 1}`;
    return {
      id: `${t.pop.id}-host${i + 1}`,
      address,
      sip: `${address}:${t.pop.sipPort}`,
      control: `http://${address}:${t.pop.controlPort}`,
      router: `http://${address}:${t.pop.routerPort}`,
    };
  });
}
