#!/usr/bin/env bash
# Lighthouse (accessibility and best practices) on the console's main pages, signed in as the
# demo admin: the overview, an event's page, the applications and the users. Builds the release
# binary (CARGO_TARGET_DIR honoured), seeds a fresh SQLite database with `seed-demo`, starts the
# server, signs in through the form for the session cookie, and runs Lighthouse 12.2.3 (installed
# with `npm i -E` into LIGHTHOUSE_HOME, default ~/.cache/ticketmax-lighthouse, when missing)
# with the system's Chromium. Prints each page's two scores; exits non-zero below 90.
# Usage: scripts/lighthouse-console.sh   (CHROME_PATH overrides /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
port=29530
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
seeded=$("$bin" seed-demo)
admin=$(printf '%s\n' "$seeded" | sed -nE 's/^ *admin: *([^ ]+) \/ (.+)$/\1/p')
password=$(printf '%s\n' "$seeded" | sed -nE 's/^ *admin: *([^ ]+) \/ (.+)$/\2/p')
"$bin" serve &
pid=$!
for _ in $(seq 1 500); do
  curl -fs "$base/health" >/dev/null 2>&1 && break
  sleep 0.02
done

# Sign in through the form: its double-submit token, then the session cookie.
jar="$work/cookies"
csrf=$(curl -fs -c "$jar" "$base/admin/login" | sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' | head -n1)
curl -fs -b "$jar" -c "$jar" -o /dev/null "$base/admin/login" \
  --data-urlencode "csrf=$csrf" --data-urlencode "email=$admin" --data-urlencode "password=$password"
session=$(awk '$6 == "tm_console" { print $7 }' "$jar")
[ -n "$session" ] || { echo "sign-in failed" >&2; exit 1; }
event=$(curl -fs "$base/api/events?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')

echo "Lighthouse 12.2.3, $("$CHROME_PATH" --version 2>/dev/null || echo chromium), desktop preset off (mobile emulation)"
ok=1
for path in /admin "/admin/events/$event" /admin/applications /admin/users; do
  "$lighthouse" "$base$path" --quiet --output=json --output-path="$work/report.json" \
    --only-categories=accessibility,best-practices \
    --chrome-flags="--headless=new --no-sandbox" \
    --extra-headers="{\"Cookie\":\"tm_console=$session\"}" >/dev/null
  read -r a11y bp < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
# A lost cookie would score the sign-in page instead: refuse that.
if "/admin/login" in r["finalDisplayedUrl"]:
    sys.exit("redirected to the sign-in page: the session cookie was not sent")
c = r["categories"]
print(round(c["accessibility"]["score"] * 100), round(c["best-practices"]["score"] * 100))
for cat in ("accessibility", "best-practices"):
    for ref in c[cat]["auditRefs"]:
        a = r["audits"][ref["id"]]
        if a.get("score") is not None and a["score"] < 1 and ref.get("weight", 0) > 0:
            print("  failing", cat, a["id"], file=sys.stderr)' "$work/report.json")
  printf '%-45s accessibility %3s   best-practices %3s\n' "$path" "$a11y" "$bp"
  [ "$a11y" -ge 90 ] && [ "$bp" -ge 90 ] || ok=0
done
[ "$ok" -eq 1 ]
