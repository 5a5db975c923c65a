#!/usr/bin/env bash
# Idle cost at fleet scale, on the lab: N shut-off VMs (no disks) are
# defined on beta, then a kvm-clone daemon runs against both hosts with a
# TUI attached, and we measure over a quiet minute each one's CPU and
# memory; then `kvm-clone vms --host beta --json` against `virsh list
# --all`. A kvm-clone without a daemon is measured as its TUI alone (its
# own backend). The VMs are removed afterwards, whatever happens. Informational:
# nothing here passes or fails on time. See docs/benchmarks.md.
#
#   benches/fleet.sh [BIN...]     one or more kvm-clone binaries side by side
#
# Environment:
#   KVM_CLONE_LAB_DIR   lab directory (default <repo>/target/lab)
#   FLEET_VMS=N         VMs to define (default 1000)
#   FLEET_IDLE=S        seconds of each idle measurement (default 60)
#   BENCH_NO_BUILD=1    skip `cargo build --release`
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=${KVM_CLONE_LAB_DIR:-$ROOT/target/lab}
N=${FLEET_VMS:-1000}
IDLE=${FLEET_IDLE:-60}
log() { echo "fleet: $*" >&2; }

if [ "$#" -eq 0 ]; then
  if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
  set -- "$ROOT/target/release/kvm-clone"
fi
command -v tmux >/dev/null || { log "tmux missing: run tests/lab/install-deps"; exit 1; }
lvirsh() { local h=$1; shift; virsh -q -c "qemu+unix:///system?socket=$LAB/hosts/$h/run/libvirt-sock" "$@"; }
hz=$(getconf CLK_TCK)
# CPU seconds a process has used so far.
cpu() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
now() { echo "$EPOCHREALTIME"; }

TMP=$(mktemp -d)
cleanup() {
  tmux -L fleet kill-server 2>/dev/null || true
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null || true
  log "removing the fleet VMs"
  lvirsh beta list --all --name | grep '^fleet-' | sed 's/^/undefine /' >"$TMP/undefine.cmds" || true
  [ -s "$TMP/undefine.cmds" ] && lvirsh beta <"$TMP/undefine.cmds" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

log "defining $N shut-off VMs on beta"
for i in $(seq -w 1 "$N"); do
  cat >"$TMP/fleet-$i.xml" <<XML
<domain type='qemu'><name>fleet-$i</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>
XML
  echo "define $TMP/fleet-$i.xml"
done >"$TMP/define.cmds"
lvirsh beta <"$TMP/define.cmds" >/dev/null
total=$(lvirsh beta list --all --name | grep -c .)
log "beta has $total VMs"

printf '\n%-44s %10s %10s %10s %10s %10s\n' "binary" "daemon%" "daemonMiB" "tui%" "tuiMiB" "vms-json-s"
for BIN in "$@"; do
  export KVM_CLONE_CONFIG="$LAB/config.toml" KVM_CLONE_DATA_DIR="$TMP/data" XDG_CONFIG_HOME="$TMP/home"
  SOCK="$TMP/d.sock"
  rm -rf "$TMP/data" "$SOCK"
  d_pct=- d_mib=-
  if "$BIN" daemon --help >/dev/null 2>&1; then
    "$BIN" daemon --socket "$SOCK" 2>"$TMP/daemon.log" &
    DAEMON=$!
    for _ in $(seq 1 120); do [ -S "$SOCK" ] && break; sleep 0.5; done
    tui="$BIN --daemon --socket $SOCK"
  else
    # A kvm-clone without a daemon: the TUI owns the backend.
    tui="$BIN"
  fi
  tmux -L fleet new-session -d -x 120 -y 40 "$tui"
  TUI=$(tmux -L fleet list-panes -F '#{pane_pid}' | head -1)
  # The first full read of every VM, then quiet.
  sleep 25
  t0=$(now); u0=$(cpu "$TUI")
  [ -n "${DAEMON:-}" ] && c0=$(cpu "$DAEMON")
  sleep "$IDLE"
  t1=$(now); u1=$(cpu "$TUI")
  pct() { awk -v a="$1" -v b="$2" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", 100 * (b - a) / (e - s) }'; }
  u_pct=$(pct "$u0" "$u1"); u_mib=$(rss_mib "$TUI")
  if [ -n "${DAEMON:-}" ]; then
    d_pct=$(pct "$c0" "$(cpu "$DAEMON")"); d_mib=$(rss_mib "$DAEMON")
  fi
  tmux -L fleet kill-server 2>/dev/null || true
  if [ -n "${DAEMON:-}" ]; then kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=""; fi
  # In-process, as a script would run it.
  s=$(now)
  "$BIN" vms --host beta --json >"$TMP/vms.json"
  e=$(now)
  vms_s=$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }')
  printf '%-44s %10s %10s %10s %10s %10s\n' "$(basename "$(dirname "$BIN")")/$(basename "$BIN")" "$d_pct" "$d_mib" "$u_pct" "$u_mib" "$vms_s"
done
s=$(now); lvirsh beta list --all >/dev/null; e=$(now)
printf '\n%-44s %54s\n' "virsh list --all (beta)" "$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }')"
