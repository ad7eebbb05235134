#!/usr/bin/env bash
# Startup time (process start to the first 200 from /health) and idle resident memory of the
# release binary on a fresh SQLite database. Usage: scripts/bench-startup.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release --quiet
bin=target/release/ticketmax
port=29517
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

total=0
worst=0
for i in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  start=$(date +%s%N)
  (cd "$work" && PORT=$port LOG_LEVEL=warn exec "$OLDPWD/$bin") &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.002; done
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  total=$((total + ms)); [ "$ms" -gt "$worst" ] && worst=$ms
  if [ "$i" -eq "$runs" ]; then
    sleep 2
    rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done
echo "startup to first /health 200 (fresh SQLite, migrations included): mean $((total / runs)) ms, worst ${worst} ms over $runs runs"
echo "idle RSS after start: $((rss_kb / 1024)) MiB (${rss_kb} KiB)"
