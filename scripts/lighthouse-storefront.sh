#!/usr/bin/env bash
# Lighthouse (performance, accessibility, best practices) on the storefront's main pages: home,
# an event's page and the checkout (pay) page of a guest's held booking. Builds the release
# binary (CARGO_TARGET_DIR honoured), seeds a fresh SQLite database with `seed-demo`, starts the
# server, holds tickets through the event's checkout form as a guest for the booking's cookie, and
# runs Lighthouse 12.2.3 (installed with `npm i -E` into LIGHTHOUSE_HOME, default
# ~/.cache/ticketmax-lighthouse, when missing) with the system's Chromium, mobile emulation.
# Prints each page's three scores; exits non-zero below 95.
# Usage: scripts/lighthouse-storefront.sh   (CHROME_PATH overrides /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
port=29531
base="http://127.0.0.1:$port"
lh_home=${LIGHTHOUSE_HOME:-$HOME/.cache/ticketmax-lighthouse}
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}

if [ ! -x "$lh_home/node_modules/.bin/lighthouse" ]; then
  echo "installing lighthouse@12.2.3 into $lh_home…" >&2
  mkdir -p "$lh_home"
  (cd "$lh_home" && npm i -E --no-audit --no-fund --silent lighthouse@12.2.3 >/dev/null)
fi
lighthouse="$lh_home/node_modules/.bin/lighthouse"

cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/ticketmax"
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/lighthouse.db"
export PORT=$port PUBLIC_BASE_URL=$base RATE_LIMIT_ENABLED=false LOG_LEVEL=warn
export EMAIL_TRANSPORT=log UPLOAD_DEST="$work/uploads"
unset REDIS_URL REDIS_HOST APP_ENV
cd "$work"
"$bin" seed-demo >/dev/null
"$bin" serve &
pid=$!
for _ in $(seq 1 500); do
  curl -fs "$base/health" >/dev/null 2>&1 && break
  sleep 0.02
done

# The first event with a paid ticket type on sale, and a guest hold of it through the form.
read -r event type < <(curl -fs "$base/api/events?limit=50" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["data"]:
    for t in e["ticketTypes"]:
        if t["price"] > 0 and t["available"] > 0:
            print(e["id"], t["id"]); sys.exit(0)
sys.exit("no paid ticket type on sale")')
jar="$work/cookies"
csrf=$(curl -fs -c "$jar" "$base/events/$event/checkout?ticketType=$type&quantity=1" | sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' | head -n1)
checkout=$(curl -fs -b "$jar" -c "$jar" -o /dev/null -w '%{redirect_url}' "$base/events/$event/checkout" \
  --data-urlencode "csrf=$csrf" --data-urlencode "ticketType=$type" --data-urlencode "quantity=1" \
  --data-urlencode "name=Ada Buyer" --data-urlencode "email=ada@example.com")
guest=$(awk '$6 == "tm_guest" { print $7 }' "$jar")
case "$checkout" in */checkout/*) ;; *) echo "the hold failed: $checkout" >&2; exit 1 ;; esac

echo "Lighthouse 12.2.3, $("$CHROME_PATH" --version 2>/dev/null || echo chromium), mobile emulation"
ok=1
for url in "$base/" "$base/events/$event" "$checkout"; do
  "$lighthouse" "$url" --quiet --output=json --output-path="$work/report.json" \
    --only-categories=performance,accessibility,best-practices \
    --chrome-flags="--headless=new --no-sandbox" \
    --extra-headers="{\"Cookie\":\"tm_guest=$guest\"}" >/dev/null
  read -r perf a11y bp < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
if "/account/login" in r["finalDisplayedUrl"]:
    sys.exit("redirected to the sign-in page: the guest cookie was not sent")
c = r["categories"]
print(*(round(c[k]["score"] * 100) for k in ("performance", "accessibility", "best-practices")))
for cat in ("performance", "accessibility", "best-practices"):
    for ref in c[cat]["auditRefs"]:
        a = r["audits"][ref["id"]]
        if a.get("score") is not None and a["score"] < 0.9 and ref.get("weight", 0) > 0:
            print("  weak", cat, a["id"], a["score"], file=sys.stderr)' "$work/report.json")
  printf '%-50s performance %3s   accessibility %3s   best-practices %3s\n' "${url#"$base"}" "$perf" "$a11y" "$bp"
  [ "$perf" -ge 95 ] && [ "$a11y" -ge 95 ] && [ "$bp" -ge 95 ] || ok=0
done
[ "$ok" -eq 1 ]
