#!/usr/bin/env bash
# Guest holds over HTTP with wrk: the release binary, rate limits off, one published event with
# one paid ticket type large enough not to sell out during the run, 256 connections over 2 wrk
# threads, each request a new guest (its own email) holding one ticket through
# `POST /api/bookings/guest`. The whole request path is measured: JSON validation, the hold
# engine, the booking and its outbox message, the guest token, the 201 answer, and the outbox
# worker delivering each "booking pending" email (EMAIL_TRANSPORT=log). Afterwards the event's
# availability must show one seat gone per 201 answer (plus at most the requests in flight when
# wrk stopped).
# Usage: scripts/bench-holds-http.sh [sqlite|postgres] [duration, default 15s]
#   postgres uses a database `ticketmax_bench_http` on BENCH_PG (default
#   postgres://postgres@127.0.0.1:5432), dropped and created for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${2:-15s}
connections=256
threads=2
capacity=10000000

port=29519
# shellcheck source=wrk-common.sh
source scripts/wrk-common.sh

case "$backend" in
  sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
  postgres)
    pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
    psql "$pg/postgres" -v ON_ERROR_STOP=1 -q \
      -c "DROP DATABASE IF EXISTS ticketmax_bench_http WITH (FORCE)" \
      -c "CREATE DATABASE ticketmax_bench_http"
    export DATABASE_URL="$pg/ticketmax_bench_http"
    ;;
  *) echo "usage: $0 [sqlite|postgres] [duration]" >&2; exit 2 ;;
esac
export PORT=$port
export RATE_LIMIT_ENABLED=false
# Every buyer comes from loopback: the per-IP cap on guest holds (API.md §11.93) is off.
export GUEST_MAX_HOLDS_PER_IP=0
export LOG_LEVEL=warn
export EMAIL_TRANSPORT=log
export UPLOAD_DEST="$work/uploads"
unset REDIS_URL REDIS_HOST

cd "$work"
seeded=$("$bin" seed-demo --events 1)
organizer=$(printf '%s\n' "$seeded" | sed -nE 's/^ *organizer: *([^ ]+) \/ (.+)$/\1/p')
password=$(printf '%s\n' "$seeded" | sed -nE 's/^ *organizer: *([^ ]+) \/ (.+)$/\2/p')
start_server

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

token=$(curl -fs "$base/api/user/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$organizer\",\"password\":\"$password\"}" | json 'd["data"]["accessToken"]')
starts=$(date -u -d '+30 days' +%Y-%m-%dT18:00:00Z)
event=$(curl -fs "$base/api/events" -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d "{\"title\":\"On-sale benchmark\",\"description\":\"A hot on-sale.\",\"category\":\"music\",
       \"location\":\"Lagos\",\"startsAt\":\"$starts\",\"status\":\"PUBLISHED\",
       \"ticketTypes\":[{\"name\":\"General\",\"price\":500000,\"capacity\":$capacity,\"maxPerOrder\":10}]}")
event_id=$(printf '%s' "$event" | json 'd["data"]["id"]')
type_id=$(printf '%s' "$event" | json 'd["data"]["ticketTypes"][0]["id"]')

cat > "$work/holds.lua" <<LUA
-- Each request is a new guest (thread id and a counter in the email), so the holding limit per
-- buyer never refuses it; every answer other than 201 is counted and reported.
local threads = {}
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local n = 0
created = 0
others = 0
request = function()
  n = n + 1
  local body = '{"eventId":"$event_id","ticketTypeId":"$type_id","quantity":1,'
    .. '"customerEmail":"buyer' .. tid .. '-' .. n .. '@example.com","customerName":"Bench Buyer"}'
  return wrk.format("POST", "/api/bookings/guest", {["content-type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status == 201 then created = created + 1 else others = others + 1 end
end
function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("others")
  end
  io.write(string.format("holds (201): %d   other answers: %d\n", c, o))
  local f = io.open("$work/created", "w")
  f:write(tostring(c))
  f:close()
end
LUA

echo "$backend, one ticket type of $capacity seats, RATE_LIMIT_ENABLED=false GUEST_MAX_HOLDS_PER_IP=0, wrk -t$threads -c$connections -d$duration"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/holds.lua" "$base"

created=$(cat "$work/created")
sleep 1.2 # availability may lag by up to 1 s
available=$(curl -fs "$base/api/events/$event_id/availability" | json 'd["data"]["totalAvailable"]')
taken=$((capacity - available))
# wrk stops with a request in flight on each connection: the server may have held those seats
# without wrk counting the answers, so up to one seat per connection may be taken unanswered.
echo "seats taken according to availability: $taken; 201 answers counted by wrk: $created"
if [ "$taken" -lt "$created" ] || [ "$taken" -gt $((created + connections)) ]; then
  echo "MISMATCH: seats taken and holds answered differ by more than the requests in flight" >&2
  exit 1
fi
