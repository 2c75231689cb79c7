/**
 * Every setting of the pop-router, declared once: flags (kebab-case), env, `--help` with the real defaults,
 * validation and the frozen config all derive from this schema (see @switchyard/core `defineSettings`).
 */
import os from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { defineSettings, setting } from '@switchyard/core';
import { ROUTER_CORE_DEFAULTS } from './ownership/router-core.js';

/** Dotted IPv4 (the templates and the tunnel carry IPv4 client addresses). */
const IPV4 = '^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$';
const port = (min = 0) => Type.Integer({ minimum: min, maximum: 65535 });
const ms = (min = 1) => Type.Integer({ minimum: min, maximum: 3_600_000 });

export const PopRouterSettings = defineSettings({
  name: 'pop-router',
  summary: 'tier 2: session-ownership gossip across a POP and the host table of the local dispatcher',
  schema: Type.Object({
    id: setting(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
      os.hostname().slice(0, 64) || 'pop-host',
      "this host's id in the POP (unique; lower ids win ownership ties)",
      'POPR_ID',
    ),
    address: setting(
      Type.String({ pattern: IPV4 }),
      '127.0.0.1',
      "this host's address on the POP's internal network (gossip, tunnel endpoint)",
      'POPR_ADDRESS',
    ),
    gossipPort: setting(
      port(),
      7946,
      'gossip UDP port (the same on every host in multicast mode)',
      'POPR_GOSSIP_PORT',
    ),
    gossipTransport: setting(
      Type.Union([Type.Literal('multicast'), Type.Literal('unicast')]),
      'multicast',
      'multicast (one group datagram per broadcast) or unicast (fan-out; loopback and networks without multicast)',
      'POPR_GOSSIP_TRANSPORT',
    ),
    multicastGroup: setting(
      Type.String({ pattern: IPV4 }),
      '239.255.77.1',
      'gossip multicast group (TTL 1: the POP link only)',
      'POPR_MULTICAST_GROUP',
    ),
    seeds: setting(
      Type.Array(Type.String({ pattern: '^[^:]+:[0-9]{1,5}$' })),
      [],
      'host:port of members to join through (repeatable or comma-separated)',
      'POPR_SEEDS',
    ),
    gossipProfile: setting(
      Type.Union([Type.Literal('lan'), Type.Literal('test')]),
      'lan',
      "gossip timers: 'lan' (memberlist's LAN profile, 1 s rounds) or 'test' (200 ms rounds)",
      'POPR_GOSSIP_PROFILE',
    ),
    keyringFile: setting(
      Type.String(),
      '',
      'JSON keyring {"primary":1,"keys":[{"id":1,"secret":"…"}]} signing gossip and the udp tunnel (required)',
      'POPR_KEYRING_FILE',
    ),
    encapsulation: setting(
      Type.Union([Type.Literal('udp'), Type.Literal('vxlan')]),
      'udp',
      'udp (our authenticated header, no root) or vxlan (decapsulated by the owner kernel; Linux, vx0 set up)',
      'POPR_ENCAPSULATION',
    ),
    tunnelPort: setting(
      port(),
      4790,
      'udp mode: UDP port of the tunnel socket on --address (the same on every host; 0 = any, for tests)',
      'POPR_TUNNEL_PORT',
    ),
    tunnelMaxAgeMs: setting(
      ms(),
      30_000,
      'udp mode: tunnel packets stamped further from our clock are dropped',
      'POPR_TUNNEL_MAX_AGE_MS',
    ),
    vxlanPort: setting(port(1), 4789, 'vxlan mode: UDP port of vx0 on every host', 'POPR_VXLAN_PORT'),
    vni: setting(
      Type.Integer({ minimum: 0, maximum: 16_777_215 }),
      42,
      'vxlan mode: VXLAN network id of vx0',
      'POPR_VNI',
    ),
    innerAddress: setting(
      Type.String({ pattern: IPV4 }),
      '198.19.0.101',
      "vxlan mode: inner destination, an address on every host where the dispatcher's tunnel socket listens",
      'POPR_INNER_ADDRESS',
    ),
    vxlanSetup: setting(
      Type.Boolean(),
      false,
      'vxlan mode, root: create vx0 (its MAC from --id), the inner address on lo and rp_filter 0 when missing; ' +
        'undone on stop. Without it the router checks them and names what is missing',
      'POPR_VXLAN_SETUP',
    ),
    kernelForward: setting(
      Type.Boolean(),
      false,
      'vxlan mode, root: attach the kernel forward (eBPF at tc ingress of --kernel-forward-device) so the ' +
        "dispatcher can delegate a client's datagrams for another host to the kernel; detached on stop",
      'POPR_KERNEL_FORWARD',
    ),
    kernelDecap: setting(
      Type.Boolean(),
      false,
      'vxlan mode, root: decapsulate VXLAN from the POP network in the same tc program (before vx0: no vxlan ' +
        'device pass); vx0 stays for anything it does not take. Detached on stop',
      'POPR_KERNEL_DECAP',
    ),
    kernelDecapSources: setting(
      Type.String({ pattern: '^$|^[0-9.]+/[0-9]{1,2}$' }),
      '',
      'the POP network (CIDR) whose VXLAN the tc program decapsulates; empty = the subnet of --address on its ' +
        'interface. VXLAN from elsewhere is left to the stack (and its nftables fence)',
      'POPR_KERNEL_DECAP_SOURCES',
    ),
    kernelForwardEgress: setting(
      Type.Union([
        Type.Literal('auto'),
        Type.Literal('neigh'),
        Type.Literal('redirect'),
        Type.Literal('peer'),
      ]),
      'auto',
      "how the kernel forward's packets leave: neigh (the kernel's route and neighbour lookup per packet), " +
        "redirect (the owner's MAC learned from ARP on the interface, no lookup), peer (as redirect, into the peer " +
        'of a veth whose peer is in another namespace); auto = peer on such a veth, else redirect',
      'POPR_KERNEL_FORWARD_EGRESS',
    ),
    kernelForwardDevice: setting(
      Type.String({ maxLength: 15 }),
      '',
      "the interface clients' datagrams arrive on (tc ingress); empty = the one holding --address",
      'POPR_KERNEL_FORWARD_DEVICE',
    ),
    kernelForwardObject: setting(
      Type.String(),
      '',
      'the compiled BPF object; empty = dist/bpf/kernel-forward.bpf.o of this package (built when clang exists)',
      'POPR_KERNEL_FORWARD_OBJECT',
    ),
    sipPort: setting(
      port(1),
      5060,
      "vxlan mode: the dispatcher's SIP port (inner destination port)",
      'POPR_SIP_PORT',
    ),
    dispatcherSocket: setting(
      Type.String(),
      '',
      "the local dispatcher's seqpacket socket (<runtime-dir>/workers.seqpacket); empty: no dispatcher",
      'POPR_DISPATCHER_SOCKET',
    ),
    linkRetryMs: setting(
      ms(10),
      500,
      'delay between attempts to (re)connect to the dispatcher',
      'POPR_LINK_RETRY_MS',
    ),
    releaseLingerMs: setting(
      Type.Integer({ minimum: 0, maximum: 3_600_000 }),
      ROUTER_CORE_DEFAULTS.releaseLingerMs,
      'a session stays claimed here this long after its last dialog ended (64·T1 = Timer B/F), released after it ' +
        'unless a new dialog opens; a draining host releases at once; 0 = release at once',
      'POPR_RELEASE_LINGER_MS',
    ),
    host: setting(Type.String({ minLength: 1 }), '127.0.0.1', 'control API listen address', 'POPR_HOST'),
    port: setting(port(), 7947, 'control API port (0 = any free port)', 'POPR_PORT'),
    token: setting(Type.String(), '', 'bearer token for API mutations (prefer --token-file)', 'POPR_TOKEN', {
      secret: true,
    }),
    tokenFile: setting(Type.String(), '', 'file holding the bearer token', 'POPR_TOKEN_FILE'),
  }),
  examples: [
    'pop-router --id h1 --address 10.0.0.1 --keyring-file /etc/switchyard/pop-keyring.json \\\n' +
      '  --dispatcher-socket /run/switchyard/dispatcher/workers.seqpacket --token-file /run/secrets/pop-token',
    'pop-router --id h1 --address 127.0.3.1 --gossip-transport unicast --seeds 127.0.3.2:7946 ...',
  ],
});

export type PopRouterConfig = Static<typeof PopRouterSettings.schema>;
