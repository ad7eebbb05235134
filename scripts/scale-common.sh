# Shared by scripts/scale-test and scripts/bench-scale.sh (sourced, not run): installs nginx
# when missing, builds the release binary (CARGO_TARGET_DIR respected; TICKETMAX_BIN names
# another binary instead), makes a fresh PostgreSQL
# database and Redis key prefix, starts `$instances` instances on loopback ports (one JWT secret,
# TRUST_PROXY the local nginx) and nginx (deploy/nginx.conf with its upstream and port replaced),
# seeds a demo admin and organizer, and stops everything on exit.
# Environment: SCALE_PG (postgres://postgres@127.0.0.1:5432), SCALE_DB (ticketmax_scale, dropped
# and created), SCALE_REDIS (redis://127.0.0.1:6379), SCALE_PREFIX (tmscale:, its keys deleted
# first), SCALE_PORT (29600: nginx; instances on the next ports). Scripts listen below the
# kernel's ephemeral range (32768–60999) so an outbound connection never holds a port first.
# Afterwards the sourcing script has `api` (nginx), `port_of N`, `start N [VAR=value…]`,
# `stop N`, `client`, `json`, `sql`, `new_event CAPACITY`, `$organizer`, `$admin` (tokens) and
# `$organizer_id`.

pg=${SCALE_PG:-postgres://postgres@127.0.0.1:5432}
db=${SCALE_DB:-ticketmax_scale}
redis=${SCALE_REDIS:-redis://127.0.0.1:6379}
prefix=${SCALE_PREFIX:-tmscale:}
front=${SCALE_PORT:-29600}

log() { printf '\n== %s\n' "$*"; }

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if [ -n "${TICKETMAX_BIN:-}" ]; then
  # Another build (CI passes the debug binary its test run already built: the checks here are
  # about correctness, not speed).
  bin=$(realpath "$TICKETMAX_BIN")
else
  log "building the release binary"
  cargo build --release --quiet
  target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target=$root/$target ;; esac
  bin=$target/release/ticketmax
fi

work=$(mktemp -d)
pids=()
nginx_pid=""
cleanup() {
  for p in "${pids[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

psql "$pg/postgres" -v ON_ERROR_STOP=1 -q \
  -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
redis-cli -u "$redis" --scan --pattern "${prefix}*" | xargs -r redis-cli -u "$redis" del >/dev/null

export DATABASE_URL="$pg/$db" REDIS_URL="$redis" REDIS_PREFIX="$prefix"
export APP_ENV=development LOG_LEVEL=warn EMAIL_TRANSPORT=log SMS_TRANSPORT=log
# One secret for the cluster: a token issued by one instance is honoured by all.
export JWT_SECRET=scale-test-secret-scale-test-secret-0123
export PUBLIC_BASE_URL="http://127.0.0.1:$front" UPLOAD_DEST="$work/uploads"
export TRUST_PROXY=127.0.0.1 GUEST_MAX_HOLDS_PER_IP=0 RATE_LIMIT_ENABLED=false
export SHUTDOWN_TIMEOUT_SECS=10
api="http://127.0.0.1:$front"
port_of() { echo $((front + $1)); }

# start <n> [VAR=value…]: starts instance n (1–3) and waits for its /health.
start() {
  local n=$1; shift
  env "$@" PORT="$(port_of "$n")" "$bin" serve >>"$work/app$n.log" 2>&1 &
  pids[n]=$!
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$(port_of "$n")/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "instance $n did not start:" >&2; tail -20 "$work/app$n.log" >&2; exit 1
}
# stop <n>: SIGTERM, then waits for the drain to end.
stop() { kill -TERM "${pids[$1]}"; wait "${pids[$1]}" 2>/dev/null || true; pids[$1]=""; }

log "$instances instance(s) on ports $(port_of 1)–$(port_of "$instances"), nginx on $front"
(cd "$work" && "$bin" migrate >/dev/null && "$bin" seed-demo --events 1 >seeded.txt)
for n in $(seq 1 "$instances"); do start "$n"; done

upstreams=$(for n in $(seq 1 "$instances"); do printf '        server 127.0.0.1:%s max_fails=1 fail_timeout=2s;\\n' "$(port_of "$n")"; done)
sed -e '/resolver 127.0.0.11/d' -e '/zone ticketmax/d' \
    -e "s|^ *server app:3000 .*|$upstreams|" \
    -e "s|listen 80;|listen 127.0.0.1:$front;|" \
    -e "s|access_log off;|access_log $work/access.log main;|" \
    -e "s|^worker_processes auto;|worker_processes auto;\\npid $work/nginx.pid;\\nerror_log $work/nginx-error.log;|" \
    deploy/nginx.conf >"$work/nginx.conf"
# nginx's workers run as nobody: they write request bodies here.
mkdir -p "$work/nginx-tmp" && chmod 755 "$work" && chmod 777 "$work/nginx-tmp"
sed -i "s|^http {|http {\\n    client_body_temp_path $work/nginx-tmp/body;\\n    proxy_temp_path $work/nginx-tmp/proxy;|" "$work/nginx.conf"
"$nginx_bin" -t -q -c "$work/nginx.conf" -p "$work"
"$nginx_bin" -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 1 100); do curl -fs "$api/health" >/dev/null 2>&1 && break; sleep 0.05; done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
client() { python3 "$root/scripts/scale_client.py" "$@"; }
sql() { psql "$pg/$db" -At -v ON_ERROR_STOP=1 -c "$1"; }
login() {
  curl -fs "$api/api/user/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json 'd["data"]["accessToken"]'
}
seeded() { sed -nE "s/^ *$1: *([^ ]+) \/ (.+)$/\\$2/p" "$work/seeded.txt"; }
organizer=$(login "$(seeded organizer 1)" "$(seeded organizer 2)")
admin=$(login "$(seeded admin 1)" "$(seeded admin 2)")
organizer_id=$(sql "SELECT id FROM users WHERE email = '$(seeded organizer 1)'")

# new_event <capacity>: a published event with one paid type; prints "<event id> <type id>".
new_event() {
  local starts; starts=$(date -u -d '+30 days' +%Y-%m-%dT18:00:00Z)
  curl -fs "$api/api/events" -H 'content-type: application/json' -H "authorization: Bearer $organizer" \
    -d "{\"title\":\"Scale test $1\",\"description\":\"A stadium on-sale.\",\"category\":\"music\",
         \"location\":\"Lagos\",\"startsAt\":\"$starts\",\"status\":\"PUBLISHED\",
         \"ticketTypes\":[{\"name\":\"General\",\"price\":500000,\"capacity\":$1,\"maxPerOrder\":10}]}" \
    | json 'd["data"]["id"] + " " + d["data"]["ticketTypes"][0]["id"]'
}

