#!/usr/bin/env bash
# Paid orders end to end over HTTP (issue 13): the release binary, rate limits off, the local
# `test` gateway, one published event with one paid ticket type large enough not to sell out.
# `benches/orders.rs` runs BENCH_BUYERS (default 128) concurrent buyers, each looping whole
# orders with a new email each: guest hold → initiate (gateway "test") → checkout page → Pay
# (the test gateway's signed webhook, applied: payment SUCCESS and booking CONFIRMED with its
# tickets in one transaction). It reports orders/s, p50/p99 of a whole order and every non-2xx
# answer per step. Afterwards the database must hold zero orders paid but unconfirmed: no SUCCESS
# payment whose booking is not CONFIRMED, SUCCESS payments = CONFIRMED bookings = completed
# orders, one ticket per confirmed booking, and the type's `sold` counter equal to them.
# Usage: scripts/bench-orders.sh [sqlite|postgres] [duration, default 15s]
#   postgres uses a database `ticketmax_bench_orders` on BENCH_PG (default
#   postgres://postgres@127.0.0.1:5432), dropped and created for the run.
#   BENCH_BUYERS and BENCH_WARMUP (seconds, default 2) are passed on to the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
duration=${2:-15s}
capacity=10000000

port=29520
# wrk-common.sh installs wrk when missing; this load generator is the bench binary, so a stand-in
# keeps it from installing anything.
wrk() { :; }
# shellcheck source=wrk-common.sh
source scripts/wrk-common.sh
unset -f wrk

# The bench executable, built now (release) so nothing compiles while the server is measured.
bench_exe=$(cargo bench --bench orders --no-run --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "orders" and m.get("executable"):
        print(m["executable"])' | tail -n1)
[ -x "$bench_exe" ] || { echo "could not build benches/orders.rs" >&2; exit 1; }

case "$backend" in
  sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
  postgres)
    pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
    PGOPTIONS="-c client_min_messages=warning" psql "$pg/postgres" -v ON_ERROR_STOP=1 -q \
      -c "DROP DATABASE IF EXISTS ticketmax_bench_orders WITH (FORCE)" \
      -c "CREATE DATABASE ticketmax_bench_orders"
    export DATABASE_URL="$pg/ticketmax_bench_orders"
    ;;
  *) echo "usage: $0 [sqlite|postgres] [duration]" >&2; exit 2 ;;
esac
export PORT=$port
export PUBLIC_BASE_URL=$base # the checkout links point at this server
export RATE_LIMIT_ENABLED=false
# Every buyer comes from loopback: the per-IP cap on guest holds (API.md §11.93) is off.
export GUEST_MAX_HOLDS_PER_IP=0
export PAYMENT_TEST_GATEWAY=true
export LOG_LEVEL=warn
export EMAIL_TRANSPORT=log
export UPLOAD_DEST="$work/uploads"
unset REDIS_URL REDIS_HOST APP_ENV

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
  -d "{\"title\":\"Paid orders benchmark\",\"description\":\"A hot on-sale, paid.\",\"category\":\"music\",
       \"location\":\"Lagos\",\"startsAt\":\"$starts\",\"status\":\"PUBLISHED\",
       \"ticketTypes\":[{\"name\":\"General\",\"price\":500000,\"capacity\":$capacity,\"maxPerOrder\":10}]}")
event_id=$(printf '%s' "$event" | json 'd["data"]["id"]')
type_id=$(printf '%s' "$event" | json 'd["data"]["ticketTypes"][0]["id"]')

echo "$backend, one paid ticket type of $capacity seats, test gateway, RATE_LIMIT_ENABLED=false GUEST_MAX_HOLDS_PER_IP=0, $duration"
BENCH_URL=$base BENCH_EVENT_ID=$event_id BENCH_TICKET_TYPE_ID=$type_id BENCH_DURATION=$duration \
  "$bench_exe" --bench | tee "$work/bench.out"
result=$(grep '^RESULT ' "$work/bench.out")
field() { printf '%s\n' "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
completed=$(field completed)
failures=$(($(field non_2xx) + $(field other_failures)))

# The invariant, read from the database itself. The bench finished every order it started, so
# nothing of this event is mid-payment any more.
case "$backend" in
  sqlite)
    db="$work/bench.db"
    of_event="lower(hex(b.event_id)) = '${event_id//-/}'"
    type_is="lower(hex(id)) = '${type_id//-/}'"
    if command -v sqlite3 >/dev/null 2>&1; then
      sql() { sqlite3 -readonly "$db" "$1"; }
    else
      sql() { python3 -c "import sqlite3,sys; print(sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True).execute(sys.argv[2]).fetchone()[0])" "$db" "$1"; }
    fi
    ;;
  postgres)
    of_event="b.event_id = '$event_id'"
    type_is="id = '$type_id'"
    sql() { psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -Atqc "$1"; }
    ;;
esac
paid_unconfirmed=$(sql "SELECT count(*) FROM payments p JOIN bookings b ON b.id = p.booking_id
  WHERE $of_event AND p.status = 'SUCCESS' AND b.status <> 'CONFIRMED'")
paid=$(sql "SELECT count(*) FROM payments p JOIN bookings b ON b.id = p.booking_id
  WHERE $of_event AND p.status = 'SUCCESS'")
confirmed=$(sql "SELECT count(*) FROM bookings b WHERE $of_event AND b.status = 'CONFIRMED'")
tickets=$(sql "SELECT count(*) FROM tickets t JOIN bookings b ON b.id = t.booking_id
  WHERE $of_event AND b.status = 'CONFIRMED'")
sold=$(sql "SELECT sold FROM ticket_types WHERE $type_is")
pending=$(sql "SELECT count(*) FROM bookings b WHERE $of_event AND b.status = 'PENDING'")

# What each order cost the server in CPU (user + system, all its threads, the outbox worker's
# emails included: read once the outbox is empty), a figure that other load on the machine
# disturbs far less than orders per second.
for _ in $(seq 1 100); do
  [ "$(sql "SELECT count(*) FROM outbox WHERE status IN ('PENDING', 'PROCESSING')")" -eq 0 ] && break
  sleep 0.1
done
read -r -a stat < "/proc/$pid/stat"
cpu_ms=$(( (stat[13] + stat[14]) * 1000 / $(getconf CLK_TCK) ))
echo "server CPU: ${cpu_ms} ms for $paid paid orders = $(python3 -c "print(f'{$cpu_ms / max($paid, 1):.2f}')") ms per order"
echo "paid but unconfirmed (SUCCESS payment, booking not CONFIRMED): $paid_unconfirmed"
echo "SUCCESS payments: $paid   CONFIRMED bookings: $confirmed   tickets of them: $tickets   type sold counter: $sold"
echo "orders completed by the bench: $completed   bookings still PENDING (failed orders): $pending"
ok=1
if [ "$paid_unconfirmed" -ne 0 ]; then
  echo "FAILED: $paid_unconfirmed orders paid but not confirmed" >&2
  ok=0
fi
if [ "$paid" -ne "$confirmed" ] || [ "$confirmed" -ne "$tickets" ] || [ "$sold" -ne "$confirmed" ] ||
  [ "$paid" -ne "$completed" ]; then
  echo "FAILED: payments SUCCESS, bookings CONFIRMED, tickets, sold and completed orders differ" >&2
  ok=0
fi
if [ "$failures" -ne 0 ]; then
  echo "FAILED: $failures steps answered other than expected (see the bench output above)" >&2
  ok=0
fi
[ "$ok" -eq 1 ] && echo "zero orders paid but unconfirmed; SUCCESS payments = CONFIRMED bookings"
[ "$ok" -eq 1 ]
