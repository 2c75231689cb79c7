// SPDX-License-Identifier: GPL-2.0
/*
 * Measurement only (pop-forward --hop-stamps, docs/benchmarks/pop-router-forwarding.md): a tc ingress classifier
 * attached before the POP's own program (lower pref) on a host's interface. The bench client ends each OPTIONS with
 * a 16-hex-digit body, CLOCK_MONOTONIC ns at its send; this program reads the last 16 bytes of any UDP datagram to
 * 5060 (plain SIP) or to 4789 (VXLAN: the inner payload ends the packet too) and adds (now − stamp) to a 1 µs
 * histogram per kind (bpf_ktime_get_ns is CLOCK_MONOTONIC). It never changes the packet: TC_ACT_UNSPEC, the next
 * filter (the POP's program) runs as without it.
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
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 offset, void *to, __u32 len) =
    (void *)BPF_FUNC_skb_load_bytes;

#define BUCKETS 1024 /* 1 µs each; the last one holds everything ≥ 1023 µs */
/* key = kind * BUCKETS + µs; kind 0: UDP to 5060, kind 1: VXLAN (UDP to 4789) */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2 * BUCKETS);
  __type(key, __u32);
  __type(value, __u64);
} sy_hop SEC(".maps");

SEC("tc")
int sy_hop_stamp(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != __builtin_bswap16(ETH_P_IP)) return TC_ACT_UNSPEC;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP) return TC_ACT_UNSPEC;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return TC_ACT_UNSPEC;
  __u32 kind;
  if (udp->dest == __builtin_bswap16(5060))
    kind = 0;
  else if (udp->dest == __builtin_bswap16(4789))
    kind = 1;
  else
    return TC_ACT_UNSPEC;
  __u32 len = skb->len;
  if (len < 14 + 28 + 16) return TC_ACT_UNSPEC;
  __u8 hex[16];
  if (bpf_skb_load_bytes(skb, len - 16, hex, 16)) return TC_ACT_UNSPEC;
  __u64 t = 0;
#pragma unroll
  for (int i = 0; i < 16; i++) {
    __u8 c = hex[i];
    __u64 d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return TC_ACT_UNSPEC; /* not a stamped datagram */
    t = (t << 4) | d;
  }
  __u64 now = bpf_ktime_get_ns();
  if (t > now || now - t > 1000000000ULL) return TC_ACT_UNSPEC;
  __u64 us = (now - t) / 1000;
  __u32 key = kind * BUCKETS + (us < BUCKETS - 1 ? (__u32)us : BUCKETS - 1);
  __u64 *c = bpf_map_lookup_elem(&sy_hop, &key);
  if (c) *c += 1;
  return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
