# Shared by the wrk benchmark scripts (sourced, not run): installs wrk when missing, builds the
# release binary, and gives a temporary work directory, a server start that waits for /health,
# and a cleanup that stops the server and removes the directory on exit.
# The sourcing script sets `port` first; afterwards it has `bin`, `base` and `work`.
# TICKETMAX_BIN runs another server binary instead (an earlier build, for before/after runs).

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk…" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y wrk >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; }
fi

if [ -n "${TICKETMAX_BIN:-}" ]; then
  bin=$(realpath "$TICKETMAX_BIN")
else
  cargo build --release --quiet
  bin=$PWD/target/release/ticketmax
fi
base="http://127.0.0.1:$port"
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Starts `ticketmax serve` in the background (environment as exported) and waits for /health.
start_server() {
  "$bin" serve &
  pid=$!
  for _ in $(seq 1 500); do
    curl -fs "$base/health" >/dev/null 2>&1 && break
    sleep 0.02
  done
  curl -fs "$base/health" >/dev/null
}
