#!/usr/bin/env bash
# What `npm start` runs, headless: the compiled network (dist/, from `npm run build`) comes up
# with its nodes as separate processes, a file fetched through three relays over SOCKS5 arrives
# intact, and stopping the network leaves no process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
node dist/src/cli.js network --headless --processes --relays 3 --exits 2 --socks 127.0.0.1:0 --control 127.0.0.1:0 >"$out" 2>&1 &
network=$!
trap 'kill "$network" 2>/dev/null || true; wait "$network" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 600); do
  grep -q "^network ready" "$out" && break
  kill -0 "$network" 2>/dev/null || { cat "$out"; echo "smoke: the network exited before it was ready"; exit 1; }
  sleep 0.2
done
ready=$(grep "^network ready" "$out") || { cat "$out"; echo "smoke: no 'network ready' line within 120 s"; exit 1; }
socks=$(sed -n 's/.* socks=\([^ ]*\).*/\1/p' <<<"$ready")
http=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$ready")
nodes=$(pgrep -P "$network" | tr '\n' ' ')
got=$(curl -sS --max-time 60 --socks5-hostname "$socks" "$http/bytes/1000000" | sha256sum | cut -d' ' -f1)
want=$(node --input-type=module -e 'import { generatedSha256 } from "./dist/src/network/destination.js"; console.log(generatedSha256(1000000));')
[ "$got" = "$want" ] || { echo "smoke: SHA-256 $got, expected $want"; exit 1; }
kill "$network"
wait "$network" || true
for pid in $nodes; do
  if kill -0 "$pid" 2>/dev/null; then echo "smoke: node $pid outlived the network"; exit 1; fi
done
echo "smoke: network up, 1 MB through three relays intact (sha256 $got), every node stopped"
