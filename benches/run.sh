#!/usr/bin/env bash
# One benchmark run on a fresh database: build, start Vigía, load it, stop it.
# usage: bash benches/run.sh sqlite|postgres [CONCURRENCY] [DURATION_SECS]
set -euo pipefail
store=${1:?sqlite or postgres}; concurrency=${2:-64}; duration=${3:-20}
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
