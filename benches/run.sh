#!/usr/bin/env bash
# One benchmark run on a fresh database: build, start Vigía, load it, stop it.
# usage: bash benches/run.sh sqlite|postgres [CONCURRENCY] [DURATION_SECS] [bound]
# `bound` first imports a registry naming the load tool's 5 000 hosts (on 50 clusters,
# under 500 services), so every alert is bound to a CI and correlated.
set -euo pipefail
store=${1:?sqlite or postgres}; concurrency=${2:-64}; duration=${3:-20}; registry=${4:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --manifest-path "$repo/Cargo.toml" -q
cargo bench --manifest-path "$repo/Cargo.toml" --bench load --no-run -q 2>/dev/null
scratch=$(mktemp -d /tmp/vigia-bench.XXXXXX)
cp -r "$repo/rules" "$scratch/"
cd "$scratch"
if [ "$store" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS vigia_bench' -c 'CREATE DATABASE vigia_bench'
    export VIGIA_DATABASE__URL=postgres://postgres@127.0.0.1:5432/vigia_bench
fi
if [ "$registry" = bound ]; then
    printf 'units:\n  - { code: LOAD, name: Load test }\n' > units.yaml
    awk 'BEGIN {
        print "id,name,type,unit,criticality,identifiers,depends_on"
        for (c = 0; c < 50; c++) printf "cl-%02d,Cluster %d,hardware,LOAD,critical,,\n", c, c
        for (h = 0; h < 5000; h++)
            printf "srv-load-%04d,Server %d,server,LOAD,medium,10.99.%d.%d:9100,cl-%02d\n", h, h, int(h / 256), h % 256, h % 50
        for (s = 0; s < 500; s++) {
            deps = ""
            for (k = 0; k < 10; k++) deps = deps (k ? ";" : "") sprintf("srv-load-%04d", s * 10 + k)
            printf "svc-load-%03d,Service %d,service,LOAD,high,,%s\n", s, s, deps
        }
    }' > registry.csv
    "$repo/target/release/vigia" ci import units.yaml
    "$repo/target/release/vigia" ci import registry.csv
fi
export VIGIA_TOKEN=$("$repo/target/release/vigia" token create --name load --role monitor 2>/dev/null)
VIGIA_LOG__LEVEL=warn "$repo/target/release/vigia" serve > serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 50); do curl -sf 127.0.0.1:8080/readyz > /dev/null && break; sleep 0.2; done
echo "store $store, concurrency $concurrency; $(uptime)"
(cd "$repo" && cargo bench -q --bench load -- --concurrency "$concurrency" --duration-secs "$duration")
curl -s 127.0.0.1:8080/metrics | grep -E '^vigia_intake_batch_(alerts|duration_seconds)_(sum|count)'
if [ "$store" = postgres ]; then
    kill $server; wait $server || true
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE vigia_bench'
fi
