#!/usr/bin/env bash
# Catalogue throughput with wrk: the release binary on a temporary SQLite database seeded with
# 10,000 published events, rate limits off, 64 connections over 2 wrk threads.
#   1. GET /api/events                 (cached list; target >= 30,000 req/s, p99 < 5 ms)
#   2. GET /api/events/{id}            (one event; target >= 30,000 req/s)
#   3. GET /api/events?category=…&maxPrice=… with a different query on every request, so every
#      answer misses the cache (target >= 2,000 req/s)
# Usage: scripts/bench-catalogue.sh [duration, default 20s]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
connections=64
threads=2

port=29518
# shellcheck source=wrk-common.sh
source scripts/wrk-common.sh

export DATABASE_URL="sqlite://$work/bench.db"
export PORT=$port
export RATE_LIMIT_ENABLED=false
export LOG_LEVEL=warn
export UPLOAD_DEST="$work/uploads"
unset REDIS_URL REDIS_HOST

cd "$work"
"$bin" seed-demo --events 10000
start_server

id=$(curl -fs "$base/api/events?limit=1&fields=id" | sed -E 's/.*"data":\[\{"id":"([0-9a-f-]{36})".*/\1/')
case "$id" in
  ????????-????-????-????-????????????) ;;
  *) echo "could not read an event id from the list" >&2; exit 1 ;;
esac

# Warm the caches once, so the cached runs measure hits.
curl -fs "$base/api/events" >/dev/null
curl -fs "$base/api/events/$id" >/dev/null
curl -fs "$base/events/$id" >/dev/null
curl -fs "$base/" >/dev/null

cat > "$work/uncached.lua" <<'LUA'
-- Each request asks a query no earlier request asked (maxPrice = a per-thread range plus a
-- counter; every seeded price is below it, so each answer is a full page), so it misses the cache.
local categories = {"music", "technology", "comedy", "film", "food", "sports", "art", "business", "culture", "theatre"}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  n = n + 1
  local c = categories[(n % #categories) + 1]
  local price = 10000000 + tid * 100000000 + n
  return wrk.format("GET", "/api/events?category=" .. c .. "&maxPrice=" .. string.format("%d", price) .. "&limit=20")
end
LUA

run() {
  echo
  echo "== $1"
  shift
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@"
}

echo "SQLite, 10,000 published events, RATE_LIMIT_ENABLED=false, wrk -t$threads -c$connections -d$duration"
run "GET /api/events (cached list)" "$base/api/events"
run "GET /api/events/{id} (one event)" "$base/api/events/$id"
run "GET /api/events?category=…&maxPrice=… (uncached, a new query each request)" -s "$work/uncached.lua" "$base"
run "GET /events/{id} (the storefront's event page, HTML)" "$base/events/$id"
run "GET / (the storefront's home page, HTML)" "$base/"
echo
echo "cache counters after the runs:"
curl -fs "$base/metrics" | grep -E '^cache_(hits|misses)_total' || true
