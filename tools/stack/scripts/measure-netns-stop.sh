#!/usr/bin/env bash
# Measures Ctrl-C of `npm start -- --netns` (root): starts the namespace stack with the default topology (the
# console's port moved to a free one), waits until it is up, sends SIGINT to it by pid, and prints how long it took
# until the process exited and every sy-stack-* namespace was gone, with the load average and the processes it ran.
# Usage (repo root, built): sudo tools/stack/scripts/measure-netns-stop.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=$(mktemp -d /tmp/sy-stop-XXXXXX)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
node -e "const t=require('./tools/stack/topology.default.json'); t.console.port=$port; require('fs').writeFileSync('$dir/topology.json', JSON.stringify(t))"
node tools/stack/dist/main.js --netns --dir "$dir/state" --topology "$dir/topology.json" >"$dir/out.log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q 'Ctrl-C stops everything' "$dir/out.log" && break
  kill -0 $pid 2>/dev/null || { echo "stack exited while starting:"; tail -20 "$dir/out.log"; exit 1; }
  sleep 1
done
grep -q 'Ctrl-C stops everything' "$dir/out.log" || { echo "not up after 600 s"; exit 1; }
procs=$(grep -cE '^\[stack\] (ready|restarted) ' "$dir/out.log" || true)
load=$(cat /proc/loadavg)
t0=$(date +%s.%N)
kill -INT $pid
wait $pid || true
t1=$(date +%s.%N)
for _ in $(seq 1 100); do ip netns list | grep -q '^sy-stack-' || break; sleep 0.1; done
t2=$(date +%s.%N)
left=$(ip netns list | grep -c '^sy-stack-' || true)
printf 'Ctrl-C to exit: %.1f s; to no namespace left: %.1f s (%s namespaces left); components ready: %s; load before: %s\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$left" "$procs" "$load"
grep -E 'stopped|deleted|timed out|exiting' "$dir/out.log" | tail -5
rm -rf "$dir"
