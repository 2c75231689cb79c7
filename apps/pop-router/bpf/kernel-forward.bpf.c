// SPDX-License-Identifier: GPL-2.0
/*
 * Switchyard POP kernel forward (docs/pop-router.md "Kernel forward"): a tc ingress classifier (clsact,
 * direct-action) on a POP host's external interface. A UDP datagram whose (client IPv4, client port, service port)
 * is in `sy_fwd` was delegated by this host's dispatcher primary: its session is owned by another host. It is
 * encapsulated here exactly as the user-space vxlan path does (outer IPv4 + UDP + VXLAN + inner Ethernet, inner
 * destination = the tunnel address and port) and redirected out of `ifindex` with the kernel's neighbour lookup.
 * Anything else (a miss, a fragment, IP options, IPv6) goes up the stack unchanged (TC_ACT_OK): the primary's path.
 *
 * The owner's side (`--kernel-decap`, docs/pop-router.md "Kernel decapsulation"): when `sy_decap` is enabled, a
 * VXLAN datagram to this host's address and VXLAN port whose outer source is inside the POP network and whose
 * VXLAN/inner headers are exactly what a template makes (VNI, vx0's MAC, inner IPv4 UDP to the tunnel address and
 * port) is decapsulated here (`bpf_skb_adjust_room` −50 bytes at the MAC layer) and passed up the stack as the
 * inner packet: it reaches the tunnel-address socket with the client's own address, without the vxlan device's
 * pass (vx0, gro_cells, a second softirq). A decapsulated packet is never forwarded again (it returns at once).
 * VXLAN from outside the POP network, or anything not matching, goes up the stack unchanged, where the nftables
 * fence and vx0 decide as without this program.
 *
 * No libbpf headers: the few helpers are declared below from the kernel's uapi <linux/bpf.h> ids.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len,
                                   __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
                                   __u64 size) = (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
                                   __u64 flags) = (void *)BPF_FUNC_l4_csum_replace;
static __s64 (*bpf_csum_diff)(__be32 *from, __u32 from_size, __be32 *to, __u32 to_size,
                              __wsum seed) = (void *)BPF_FUNC_csum_diff;
static long (*bpf_skb_adjust_room)(struct __sk_buff *skb, __s32 len_diff, __u32 mode,
                                   __u64 flags) = (void *)BPF_FUNC_skb_adjust_room;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)BPF_FUNC_skb_pull_data;
static long (*bpf_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen,
                                  __u64 flags) = (void *)BPF_FUNC_redirect_neigh;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_redirect_peer)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect_peer;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)BPF_FUNC_map_update_elem;

#define bswap16(x) __builtin_bswap16(x)
#define bswap32(x) __builtin_bswap32(x)

/* Key: the client as the datagram names it (network byte order), and the service port it was sent to. */
struct fwd_key {
  __u32 saddr;
  __u16 sport;
  __u16 dport;
};

/*
 * Value (48 bytes + 8): written by the dispatcher's primary (little-endian host fields marked "host", the rest in
 * network byte order, exactly as they go on the wire). Layout mirrored in kernel-forward-map.ts.
 */
struct fwd_val {
  __u32 outer_src;   /* 0: this host's address towards the owner */
  __u32 outer_dst;   /* 4: the owner's address (its vx0 local address) */
  __u16 vxlan_port;  /* 8: the owner's VXLAN UDP port */
  __u16 inner_dport; /* 10: the template's inner destination port */
  __u32 inner_dst;   /* 12: the template's inner destination address (the tunnel address) */
  __u32 ifindex;     /* 16 (host): where the encapsulated packet leaves */
  __u8 vx_eth[22];   /* 20: the template's VXLAN header + inner Ethernet header */
  __u8 pad[6];       /* 42 */
  __u64 last_ns;     /* 48 (host): written by this program on each hit (idle detection) */
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct fwd_key);
  __type(value, struct fwd_val);
} sy_fwd SEC(".maps");

/*
 * [0] datagrams forwarded, [1] hits that could not be encapsulated (passed up the stack instead), [2] datagrams
 * decapsulated (owner side), [3] VXLAN to our port from outside the POP network (passed to the stack and its fence),
 * [4] VXLAN from the POP network not matching the template or not decapsulable (passed to vx0). The forward's
 * egress (of [0]): [5] sent with the cached next hop (`bpf_redirect`), [6] of those into the veth peer
 * (`bpf_redirect_peer`), [7] with the kernel's neighbour lookup (`bpf_redirect_neigh`: egress mode 0, or the owner's
 * MAC not learned), [8] ARP senders learned into `sy_nh`.
 */
#define HITS_ENTRIES 9
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HITS_ENTRIES);
  __type(key, __u32);
  __type(value, __u64);
} sy_hits SEC(".maps");

/*
 * The owner side's configuration (one entry, written by the router with --kernel-decap; all zero = off). Network
 * byte order but `enabled`. Layout mirrored in kernel-decap-config.ts.
 */
struct decap_cfg {
  __u32 enabled;     /* 0 (host): 1 = decapsulate */
  __u32 local;       /* 4: this host's address (the outer destination) */
  __u32 net;         /* 8: the POP network: outer source & mask must equal net */
  __u32 mask;        /* 12 */
  __u16 vxlan_port;  /* 16: our VXLAN UDP port */
  __u16 inner_dport; /* 18: the tunnel port (the dispatcher's SIP port) */
  __u32 inner_dst;   /* 20: the tunnel address */
  __u32 vni_word;    /* 24: the VXLAN header's second word (VNI << 8) */
  __u8 mac[6];       /* 28: vx0's MAC, the inner Ethernet destination */
  __u8 pad[2];       /* 34 */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct decap_cfg);
} sy_decap SEC(".maps");

/*
 * How the forward leaves (one entry, written by the router at attach, `--kernel-forward-egress`; all zero = mode 0).
 * Layout mirrored in kernel-egress-config.ts.
 * - mode 0 (`neigh`): `bpf_redirect_neigh` for every datagram (the kernel's route and neighbour lookup each time).
 * - mode 1 (`redirect`): the owner's MAC as learned here from ARP (below), our MAC the one the client's datagram was
 *   sent to, and `bpf_redirect` to the interface's transmit: no route or neighbour lookup. An owner not learned (or
 *   learned more than NH_TTL_NS ago), outside `net/mask`, or a forward leaving by another interface than the one it
 *   came in on falls back to `bpf_redirect_neigh`.
 * - mode 2 (`peer`): as 1, and when the interface is `peer_ifindex` (a veth whose peer is in another network
 *   namespace: checked by the router), `bpf_redirect_peer`: the packet enters the peer's receive path at once (what
 *   the veth's transmit would deliver there, without its queue and a softirq pass).
 * (`bpf_fib_lookup` would give the MACs too but refuses unless IPv4 forwarding is on for the interface, which a POP
 * host does not need and should not turn on.)
 */
struct egress_cfg {
  __u32 mode;         /* 0 (host) */
  __u32 peer_ifindex; /* 4 (host) */
  __u32 net;          /* 8: the interface's on-link network (network order): ARP senders learned from it only */
  __u32 mask;         /* 12 */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct egress_cfg);
} sy_egress SEC(".maps");

/*
 * Next hops learned from ARP on this interface (requests and replies: sender IP → sender MAC, the same packets the
 * kernel's neighbour table learns from), key the IPv4 address (network order). Written by this program only.
 */
struct nh {
  __u8 mac[6];
  __u8 pad[2];
  __u64 learned_ns;
};

/* A learned MAC is used this long after the ARP it came from; then the kernel's lookup until ARP is seen again
 * (the kernel re-probes a neighbour it uses, and the reply is learned here). */
#define NH_TTL_NS 60000000000ULL

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct nh);
} sy_nh SEC(".maps");

#define ENCAP_LEN 50 /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */
#define ETH_LEN 14
#define INNER_IP (ETH_LEN + ENCAP_LEN)
#define INNER_UDP (INNER_IP + 20)

static __always_inline void count(__u32 i) {
  __u64 *c = bpf_map_lookup_elem(&sy_hits, &i);
  if (c) *c += 1;
}

struct arp_eth_ipv4 {
  __be16 htype;
  __be16 ptype;
  __u8 hlen;
  __u8 plen;
  __be16 op;
  __u8 sha[6];
  __u8 spa[4];
  __u8 tha[6];
  __u8 tpa[4];
} __attribute__((packed));

/* An ARP packet on this interface: learn its sender when inside the on-link network (egress modes 1 and 2). */
static __always_inline void learn_arp(struct __sk_buff *skb, void *data, void *end) {
  struct arp_eth_ipv4 *a = data + ETH_HLEN;
  if ((void *)(a + 1) > end) return;
  if (a->htype != bswap16(1) || a->ptype != bswap16(ETH_P_IP) || a->hlen != 6 || a->plen != 4) return;
  if (a->op != bswap16(1) && a->op != bswap16(2)) return;
  if (a->sha[0] & 1) return; /* a multicast or broadcast sender MAC: never a next hop */
  __u32 zero = 0;
  struct egress_cfg *e = bpf_map_lookup_elem(&sy_egress, &zero);
  if (!e || !e->mode) return;
  __u32 spa;
  __builtin_memcpy(&spa, a->spa, 4);
  if (!spa || (spa & e->mask) != e->net) return;
  struct nh n = {};
  __builtin_memcpy(n.mac, a->sha, 6);
  n.learned_ns = bpf_ktime_get_ns();
  bpf_map_update_elem(&sy_nh, &spa, &n, BPF_ANY);
  count(8);
}

struct encap {
  struct iphdr ip;
  struct udphdr udp;
  __u8 vx_eth[22];
};

#define DECAP_NOT_OURS 0xffff

/* Owner side: see the file comment. DECAP_NOT_OURS: not VXLAN to us (the forward lookup follows). */
static __always_inline int decap(struct __sk_buff *skb, struct iphdr *ip, struct udphdr *udp) {
  __u32 zero = 0;
  struct decap_cfg *c = bpf_map_lookup_elem(&sy_decap, &zero);
  if (!c || !c->enabled || udp->dest != c->vxlan_port || ip->daddr != c->local) return DECAP_NOT_OURS;
  if ((ip->saddr & c->mask) != c->net) {
    count(3); /* outside the POP network: never decapsulated here; the stack's fence drops it */
    return TC_ACT_OK;
  }
  __u16 outer_len = bswap16(ip->tot_len);
  if (skb->len < INNER_UDP + 8 || bpf_skb_pull_data(skb, INNER_UDP + 8)) goto pass;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if (data + INNER_UDP + 8 > end) goto pass;
  __u8 *vx = data + ETH_LEN + 28;
  if (vx[0] != 0x08 || vx[1] | vx[2] | vx[3]) goto pass;
  if (*(__u32 *)(vx + 4) != c->vni_word) goto pass;
  struct ethhdr *ieth = (void *)(vx + 8);
  __u8 *m = ieth->h_dest;
  if ((m[0] ^ c->mac[0]) | (m[1] ^ c->mac[1]) | (m[2] ^ c->mac[2]) | (m[3] ^ c->mac[3]) | (m[4] ^ c->mac[4]) |
      (m[5] ^ c->mac[5]))
    goto pass;
  if (ieth->h_proto != bswap16(ETH_P_IP)) goto pass;
  struct iphdr *iip = (void *)(ieth + 1);
  if (iip->version != 4 || iip->ihl != 5 || iip->protocol != IPPROTO_UDP || iip->daddr != c->inner_dst) goto pass;
  if (iip->frag_off & bswap16(0x3fff)) goto pass;
  if (bswap16(iip->tot_len) + ENCAP_LEN != outer_len) goto pass;
  struct udphdr *iudp = (void *)(iip + 1);
  if (iudp->dest != c->inner_dport) goto pass;
  if (bpf_skb_adjust_room(skb, -ENCAP_LEN, BPF_ADJ_ROOM_MAC, 0)) goto pass;
  count(2);
  return TC_ACT_OK; /* the inner packet goes up the stack; never forwarded again */
pass:
  count(4);
  return TC_ACT_OK;
}

/*
 * Sends the encapsulated packet (its outer Ethernet header still the received one: destination our MAC) towards the
 * owner: see struct egress_cfg.
 */
static __always_inline int egress(struct __sk_buff *skb, struct fwd_val *v, __u64 now) {
  __u32 zero = 0;
  struct egress_cfg *e = bpf_map_lookup_elem(&sy_egress, &zero);
  if (!e || !e->mode || v->ifindex != skb->ingress_ifindex) goto neigh;
  __u32 dst = v->outer_dst;
  struct nh *n = bpf_map_lookup_elem(&sy_nh, &dst);
  if (!n || n->learned_ns + NH_TTL_NS < now) goto neigh;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) goto neigh;
  __builtin_memcpy(eth->h_source, eth->h_dest, 6); /* the client's datagram came to our MAC */
  __builtin_memcpy(eth->h_dest, n->mac, 6);
  count(5);
  if (e->mode == 2 && v->ifindex == e->peer_ifindex) {
    count(6);
    return bpf_redirect_peer(v->ifindex, 0);
  }
  return bpf_redirect(v->ifindex, 0);
neigh:
  count(7);
  return bpf_redirect_neigh(v->ifindex, 0, 0, 0);
}

SEC("tc")
int sy_forward(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_OK;
  if (eth->h_proto == bswap16(ETH_P_ARP)) {
    learn_arp(skb, data, end);
    return TC_ACT_OK; /* the kernel handles the ARP as always */
  }
  if (eth->h_proto != bswap16(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP) return TC_ACT_OK;
  if (ip->frag_off & bswap16(0x3fff)) return TC_ACT_OK; /* a fragment: the stack reassembles it */
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return TC_ACT_OK;
  int d = decap(skb, ip, udp);
  if (d != DECAP_NOT_OURS) return d;
  /* decap() may have pulled data: re-derive the packet pointers */
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_OK;
  ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return TC_ACT_OK;
  struct fwd_key k = {.saddr = ip->saddr, .sport = udp->source, .dport = udp->dest};
  struct fwd_val *v = bpf_map_lookup_elem(&sy_fwd, &k);
  if (!v) return TC_ACT_OK;
  __u32 old_daddr = ip->daddr;
  __u16 old_dport = udp->dest;
  __u16 ip_len = bswap16(ip->tot_len);
  __u16 csum0 = udp->check;
  if (ip_len > 0xffff - ENCAP_LEN) goto fail;

  struct encap h = {};
  h.ip.version = 4;
  h.ip.ihl = 5;
  h.ip.tot_len = bswap16(ip_len + ENCAP_LEN);
  h.ip.frag_off = bswap16(0x4000); /* DF, as the user-space path's socket sends */
  h.ip.ttl = 64;
  h.ip.protocol = IPPROTO_UDP;
  h.ip.saddr = v->outer_src;
  h.ip.daddr = v->outer_dst;
  __s64 sum = bpf_csum_diff(0, 0, (__be32 *)&h.ip, sizeof(h.ip), 0);
  if (sum < 0) goto fail;
  __u32 s = (__u32)sum;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  h.ip.check = (__u16)~s;
  /* source port from the client's port: spreads clients over the owner's receive queues like the kernel's vxlan */
  h.udp.source = bswap16(0xc000 | (bswap16(k.sport) & 0x3fff));
  h.udp.dest = v->vxlan_port;
  h.udp.len = bswap16(ip_len + ENCAP_LEN - 20);
  h.udp.check = 0; /* allowed for IPv4 (RFC 7348 recommends 0) */
  __builtin_memcpy(h.vx_eth, v->vx_eth, sizeof(h.vx_eth));

  if (bpf_skb_adjust_room(skb, ENCAP_LEN, BPF_ADJ_ROOM_MAC,
                          BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
                              BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_LEN)))
    goto fail;
  if (bpf_skb_store_bytes(skb, ETH_LEN, &h, ENCAP_LEN, 0)) return TC_ACT_SHOT;
  /* the inner packet goes to the tunnel address and port, as the user-space template's does */
  if (csum0)
    bpf_l4_csum_replace(skb, INNER_UDP + 6, old_daddr, v->inner_dst, BPF_F_PSEUDO_HDR | sizeof(__u32));
  if (csum0) bpf_l4_csum_replace(skb, INNER_UDP + 6, old_dport, v->inner_dport, sizeof(__u16));
  bpf_l3_csum_replace(skb, INNER_IP + 10, old_daddr, v->inner_dst, sizeof(__u32));
  bpf_skb_store_bytes(skb, INNER_IP + 16, &v->inner_dst, sizeof(__u32), 0);
  bpf_skb_store_bytes(skb, INNER_UDP + 2, &v->inner_dport, sizeof(__u16), 0);
  __u64 now = bpf_ktime_get_ns();
  v->last_ns = now;
  count(0);
  return egress(skb, v, now);
fail:
  count(1);
  return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
