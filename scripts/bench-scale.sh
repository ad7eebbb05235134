#!/usr/bin/env bash
# Throughput through nginx with 1 or N instances on one PostgreSQL and Redis (the setup of
# scripts/scale-test): guest holds (`POST /api/bookings/guest`, each request a new guest holding
# one ticket of a type too large to sell out) and cached reads (`GET /api/events`), each with wrk,
# 256 connections over 2 threads. Rate limits are off and the guest-hold cap too, since every
# request comes from loopback. wrk, nginx and the instances share the machine's cores, so compare
# runs made back to back; the load average is printed with the figures.
# Usage: scripts/bench-scale.sh [instances, default 3] [duration per figure, default 15s]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
instances=${1:-3}
duration=${2:-15s}
connections=256
threads=2
# shellcheck source=scale-common.sh
source scripts/scale-common.sh
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
fi

read -r event type < <(new_event 10000000)
cat >"$work/holds.lua" <<LUA
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
local n = 0
request = function()
  n = n + 1
  local body = '{"eventId":"$event","ticketTypeId":"$type","quantity":1,'
    .. '"customerEmail":"buyer' .. tid .. '-' .. n .. '@example.com","customerName":"Bench Buyer"}'
  return wrk.format("POST", "/api/bookings/guest", {["content-type"] = "application/json"}, body)
end
LUA

log "holds through nginx, $instances instance(s): wrk -t$threads -c$connections -d$duration"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/holds.lua" "$api" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors" || true
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
log "cached reads (GET /api/events) through nginx, $instances instance(s): wrk -t$threads -c$connections -d$duration"
curl -fs "$api/api/events" >/dev/null
wrk -t"$threads" -c"$connections" -d"$duration" --latency "$api/api/events" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors" || true
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
