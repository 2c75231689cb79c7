#!/bin/bash
# The measurement of docs/benchmarks/pop-router-forwarding-popfwd6.md section 1 (root; after building the branch; the probe object:
#   patch -o /tmp/popfwd6-ab/probe.bpf.c apps/pop-router/bpf/kernel-forward.bpf.c docs/benchmarks/pop-router-forwarding-popfwd6.probe.patch
#   clang -O2 -g -target bpf -I /usr/include/x86_64-linux-gnu -c /tmp/popfwd6-ab/probe.bpf.c -o /tmp/popfwd6-ab/probe.bpf.o)
# one pop-forward run of this branch with the probe build of the program on k/d hosts; d2's egress mode flipped 0 <-> 2 every 2 s; d1's hop histogram dumped every 2 s
cd /work/wt/popfwd6
POPR_KERNEL_FORWARD_OBJECT=/tmp/popfwd6-ab/probe.bpf.o timeout 900 node tools/bench/dist/main.js pop-forward --setups direct,vxlan-kdecap --runs 9 --out /tmp/popfwd6-ab/probe-1 > /tmp/popfwd6-ab/probe-1.stdout 2> /tmp/popfwd6-ab/probe-1.stderr &
BP=$!
progmap() { # ns mapname
  id=$(ip netns exec $1 tc -j filter show dev pop0 ingress 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print([f["options"]["prog"]["id"] for f in d if f.get("options",{}).get("prog")][0])' 2>/dev/null) || return 1
  [ -z "$id" ] && return 1
  for m in $(bpftool -j prog show id $id | python3 -c 'import json,sys; print(" ".join(map(str,json.load(sys.stdin)["map_ids"])))'); do
    n=$(bpftool -j map show id $m | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])'); [ "$n" = "$2" ] && echo $m && return 0
  done; return 1
}
while kill -0 $BP 2>/dev/null; do E=$(progmap popns-fwd-d2 sy_egress) && P=$(progmap popns-fwd-d1 sy_probe) && break; sleep 3; done
echo "egress map $E probe map $P" >> /tmp/popfwd6-ab/probe.log
V=$(bpftool -j map lookup id $E key hex 00 00 00 00 | python3 -c 'import json,sys; print(" ".join(x[2:] if x.startswith("0x") else x for x in json.load(sys.stdin)["value"]))')
echo "value $V" >> /tmp/popfwd6-ab/probe.log
REST=$(echo $V | cut -d' ' -f2-)
mode=2
while kill -0 $BP 2>/dev/null; do
  if [ $mode = 2 ]; then mode=0; else mode=2; fi
  bpftool map update id $E key hex 00 00 00 00 value hex 0$mode $REST 2>>/tmp/popfwd6-ab/probe.log
  sleep 2
  bpftool -j map dump id $P > /tmp/popfwd6-ab/probe-dump.json.tmp 2>/dev/null && mv /tmp/popfwd6-ab/probe-dump.json.tmp /tmp/popfwd6-ab/probe-dump.json
done
echo "done $(date -u +%T)" >> /tmp/popfwd6-ab/probe.log
