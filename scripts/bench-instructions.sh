#!/usr/bin/env bash
# User-space instructions a request costs the server, counted by valgrind's callgrind: exact and
# repeatable where wrk's rates move with the machine's hour (BENCHMARKS.md, "Instructions per
# cached read"). The server runs under callgrind on a temporary SQLite database seeded with 2,000
# events; 300 keep-alive requests warm it, the counters are zeroed, N more requests (one
# connection, only a Host header, as wrk sends) are counted, and the total is divided by N.
# Kernel time (the loopback TCP path) is not counted.
#
# Usage: scripts/bench-instructions.sh [event|list|health|nowork-event] [N, default 2000]
#   event         GET /api/events/{id} (kept answer)
#   list          GET /api/events (kept answer)
#   health        GET /health (the middleware stack around a trivial handler)
#   nowork-event  the no-work axum server (`benches/nowork.rs`) answering the bytes of `event`
# TICKETMAX_BIN runs another binary (default: target/release/ticketmax, built when missing).
# CALLGRIND_OUT=FILE keeps the profile of the counted requests (read it with callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-event}
n=${2:-2000}
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null || exit 1; }
target=${CARGO_TARGET_DIR:-target}
bin=${TICKETMAX_BIN:-$target/release/ticketmax}
[ -x "$bin" ] || cargo build --release --bin ticketmax
bin=$(realpath "$bin")
work=$(mktemp -d)
port=29621
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$work" && DATABASE_URL="sqlite://$work/seed.db" "$bin" seed-demo --events 2000 >/dev/null 2>&1)
export DATABASE_URL="sqlite://$work/seed.db" PORT=$port RATE_LIMIT_ENABLED=false LOG_LEVEL=warn \
  UPLOAD_DEST="$work/uploads" EMAIL_TRANSPORT=log SMS_TRANSPORT=log
unset REDIS_URL REDIS_HOST

# The event's id and answer, from the server run without valgrind.
(cd "$work" && exec "$bin" serve >/dev/null 2>&1) &
server=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
id=$(curl -fs "http://127.0.0.1:$port/api/events?limit=1&fields=id" | sed -E 's/.*"data":\[\{"id":"([0-9a-f-]{36})".*/\1/')
curl -fs "http://127.0.0.1:$port/api/events/$id" >"$work/event.json"
kill "$server"; wait "$server" 2>/dev/null || true

case $kind in
  event) path=/api/events/$id ;;
  list) path=/api/events ;;
  health) path=/health ;;
  nowork-event) path=/ ;;
  *) echo "unknown route: $kind" >&2; exit 2 ;;
esac
if [ "$kind" = nowork-event ]; then
  tool=$(cargo bench --bench nowork --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "nowork" and m.get("executable"):
        print(m["executable"])')
  NOWORK_BODY="$work/event.json" NOWORK_PORT=$port \
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$tool" --bench >/dev/null 2>&1 &
else
  (cd "$work" && exec valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve >/dev/null 2>&1) &
fi
server=$!
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.5; done

requests() {
  python3 - "$port" "$path" "$1" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[3])):
    c.putrequest("GET", sys.argv[2], skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
}
requests 300
callgrind_control -z "$server" >/dev/null 2>&1
requests "$n"
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
[ -n "${CALLGRIND_OUT:-}" ] && cp "$work/cg.out.1" "$CALLGRIND_OUT"
total=$(callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
served_by=$(basename "$bin")
[ "$kind" = nowork-event ] && served_by=nowork
echo "$kind: $((total / n)) instructions a request (user space, $n requests, $served_by)"
