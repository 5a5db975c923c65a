#!/usr/bin/env bash
# Clone benchmark on the lab: kvm-clone against scp -3 and rsync -S, moving
# the same image from alpha to beta, in one run. Prints wall times, MiB/s,
# ratios and kvm-clone's peak RSS (for a 2 GiB and an 8 GiB disk holding the
# same 1 GiB of data). Informational: nothing here passes or fails on time.
# See docs/benchmarks.md.
#
#   benches/clone_vs_peers.sh
#
# Environment:
#   KVM_CLONE_LAB_DIR     lab directory (default <repo>/target/lab)
#   KVM_CLONE_LAB_SCRIPT  lab script (default <repo>/tests/lab/lab)
#   BENCH_RUNS=N          run each tool N times and report the best (default 1)
#   BENCH_NO_BUILD=1      skip `cargo build --release`
#   BENCH_KEEP_CACHE=0    delete the cached source images at the end
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=${KVM_CLONE_LAB_DIR:-$ROOT/target/lab}
LABSH=${KVM_CLONE_LAB_SCRIPT:-$ROOT/tests/lab/lab}
export KVM_CLONE_LAB_DIR=$LAB
BIN=$ROOT/target/release/kvm-clone
CACHE=$ROOT/target/bench
POOL=/var/lib/libvirt/images # the pool directory as seen inside each host
DATA_MIB=1024                # guest data in every source image

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# Build as the invoking user, then become root: the hosts' pool directories
# and libvirt sockets belong to root.
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
fi
[ "$(id -u)" -eq 0 ] || exec sudo -E BENCH_NO_BUILD=1 "$0" "$@"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: run tests/lab/install-deps"

pool_dir() { echo "$LAB/hosts/$1/lib/images"; }
lvirsh() { local h=$1; shift; virsh -q -c "qemu+unix:///system?socket=$LAB/hosts/$h/run/libvirt-sock" "$@"; }
# Seconds since the epoch, with microseconds.
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# CPU seconds the whole machine has spent busy so far (every process: both
# hosts' sshd and qemu-nbd, the tool, the kernel), from /proc/stat.
busy() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }

# --- setup and cleanup ------------------------------------------------------

TMP=""
cleanup() {
  local h d p
  for h in alpha beta; do
    lvirsh "$h" version >/dev/null 2>&1 || continue
    for d in $(lvirsh "$h" list --all --name | grep '^bench-' || true); do
      # Volumes the domain uses, in case a tool named them unexpectedly.
      for p in $(lvirsh "$h" domblklist "$d" --details 2>/dev/null | awk '$2 == "disk" {print $4}'); do
        case $p in "$POOL"/*) rm -f "$(pool_dir "$h")/${p#"$POOL"/}" ;; esac
      done
      lvirsh "$h" destroy "$d" >/dev/null 2>&1 || true
      lvirsh "$h" undefine --nvram "$d" >/dev/null 2>&1 || lvirsh "$h" undefine "$d" >/dev/null 2>&1 || true
    done
    # .bench-*: rsync's temporary file when it was interrupted.
    rm -f "$(pool_dir "$h")"/bench-* "$(pool_dir "$h")"/.bench-*
    lvirsh "$h" pool-refresh default >/dev/null 2>&1 || true
  done
  [ -n "$TMP" ] && rm -rf "$TMP"
  [ "${BENCH_KEEP_CACHE:-1}" = 0 ] && rm -rf "$CACHE"
  return 0
}

# Deterministic, incompressible bytes: AES-CTR keystream of a fixed key.
keystream() { # seed MiB
  head -c "$(($2 * 1024 * 1024))" /dev/zero |
    openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" -iv "$(printf '%032x' 0)"
}

# A qcow2 of `virt_mib` virtual MiB holding 8 extents of 128 MiB of keystream
# every `stride_mib` MiB, holes between them. Built once, kept in the cache.
make_image() { # name virt_mib stride_mib
  local img="$CACHE/$1.qcow2" raw="$CACHE/$1.raw.tmp" i
  [ -s "$img" ] && return 0
  mkdir -p "$CACHE"
  log "building $img"
  rm -f "$raw"
  truncate -s "${2}M" "$raw"
  for i in 0 1 2 3 4 5 6 7; do
    keystream "$((101 + i))" 128 | dd of="$raw" bs=1M seek="$((i * $3))" conv=notrunc status=none
  done
  qemu-img convert -q -f raw -O qcow2 "$raw" "$img.tmp"
  mv "$img.tmp" "$img"
  rm -f "$raw"
}

domain_type() { if [ -w /dev/kvm ]; then echo kvm; else echo qemu; fi; }

# A shut-off VM on alpha whose one disk is a copy of a cached image.
define_src() { # name image
  cp --sparse=always "$CACHE/$2.qcow2" "$(pool_dir alpha)/$1.qcow2"
  lvirsh alpha pool-refresh default >/dev/null
  lvirsh alpha define /dev/stdin >/dev/null <<EOF
<domain type='$(domain_type)'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$POOL/$1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# Guest-visible content of a copy on beta equals the source on alpha. Both
# pool directories are visible from this machine, so qemu-img compare reads
# the two images directly (it probes each format itself).
verify() { # src_name beta_path_in_host
  qemu-img compare -q "$(pool_dir alpha)/$1.qcow2" "$(pool_dir beta)/${2#"$POOL"/}" ||
    die "copy $2 on beta differs from $1 on alpha"
}

# Every tool starts with the source in the page cache (all hosts share this
# machine's), so none pays for the first read from disk.
warm() { cat "$(pool_dir alpha)/$1.qcow2" >/dev/null; }

# --- the runs ---------------------------------------------------------------

# Results per row: best wall seconds over the runs, MiB moved, and for
# kvm-clone the highest peak RSS and the CPU time of the best run.
declare -A SECS=() MOVED=() RSS=() CPU=() BUSY=()
ROWS=()
RUNS=${BENCH_RUNS:-1}

# Exit 0 when this run is the row's best so far, and record it.
keep_best() { # label seconds
  log "  $2 s"
  if [ -z "${SECS[$1]:-}" ] || awk -v a="$2" -v b="${SECS[$1]}" 'BEGIN { exit !(a < b) }'; then
    SECS[$1]=$2
    return 0
  fi
  return 1
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Peers: time the tool plus an fsync of the copy, since kvm-clone flushes
# its images before it defines the domain.
run_peer() { # label dest_name cmd...
  local label=$1 dest=$2 t0 t1 b0 b1 i copy
  shift 2
  copy="$(pool_dir beta)/$dest"
  ROWS+=("$label")
  log "$label"
  for ((i = 0; i < RUNS; i++)); do
    rm -f "$copy"
    warm bench-src
    b0=$(busy)
    t0=$(now)
    "$@"
    sync "$copy"
    t1=$(now)
    b1=$(busy)
    verify bench-src "$POOL/$dest"
    if keep_best "$label" "$(elapsed "$t0" "$t1")"; then
      BUSY[$label]=$(elapsed "$b0" "$b1")
    fi
    MOVED[$label]=$(mib "$(stat -c %s "$copy")")
  done
  rm -f "$copy"
}

# Undefines a domain on beta and deletes the disks it names.
drop_beta_domain() { # name
  local p
  for p in $(lvirsh beta domblklist "$1" --details 2>/dev/null | awk '$2 == "disk" {print $4}'); do
    case $p in "$POOL"/*) rm -f "$(pool_dir beta)/${p#"$POOL"/}" ;; esac
  done
  lvirsh beta undefine --nvram "$1" >/dev/null 2>&1 || lvirsh beta undefine "$1" >/dev/null
  lvirsh beta pool-refresh default >/dev/null
}

KC_AVAILABLE=0
run_kvm_clone() { # label src_name new_name
  local label=$1 src=$2 new=$3 t0 t1 b0 b1 i path rss moved out="$TMP/$3"
  ROWS+=("$label")
  [ $KC_AVAILABLE = 1 ] || return 0
  log "$label"
  for ((i = 0; i < RUNS; i++)); do
    lvirsh beta dominfo "$new" >/dev/null 2>&1 && drop_beta_domain "$new"
    rm -rf "$out"
    mkdir -p "$out/data"
    warm "$src"
    b0=$(busy)
    t0=$(now)
    if ! KVM_CLONE_CONFIG="$LAB/config.toml" KVM_CLONE_DATA_DIR="$out/data" \
      /usr/bin/time -v -o "$out/time.txt" \
      "$BIN" clone --from alpha --vm "$src" --to beta --name "$new" --profile fast --json \
      >"$out/result.json" 2>"$out/stderr"; then
      cat "$out/result.json" "$out/stderr" >&2
      die "$label failed"
    fi
    t1=$(now)
    b1=$(busy)
    lvirsh beta dominfo "$new" >/dev/null || die "$label: no domain $new on beta"
    path=$(lvirsh beta domblklist "$new" --details | awk '$2 == "disk" {print $4; exit}')
    [ -n "$path" ] || die "$label: $new on beta has no disk"
    verify "$src" "$path"
    if keep_best "$label" "$(elapsed "$t0" "$t1")"; then
      BUSY[$label]=$(elapsed "$b0" "$b1")
      CPU[$label]=$(awk -F': ' '/User time|System time/ {t += $2} END {printf "%.2f", t}' "$out/time.txt")
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$out/time.txt")
    if [ -z "${RSS[$label]:-}" ] || awk -v a="$rss" -v b="${RSS[$label]}" 'BEGIN { exit !(a > b) }'; then
      RSS[$label]=$rss
    fi
    moved=$(sed -n 's/.*"bytes_moved": *\([0-9][0-9]*\).*/\1/p' "$out/result.json" | head -1)
    MOVED[$label]=$([ -n "$moved" ] && mib "$moved" || echo "?")
  done
}

main() {
  [ -x "$LABSH" ] || die "no lab script at $LABSH"
  "$LABSH" up
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  cleanup # leftovers of an interrupted run
  TMP=$(mktemp -d /tmp/kvm-clone-bench.XXXXXX)

  make_image bench-2g 2048 256
  make_image bench-8g 8192 1024
  define_src bench-src bench-2g
  define_src bench-src8 bench-8g

  if "$BIN" clone --help >/dev/null 2>&1; then KC_AVAILABLE=1; fi

  local key=$LAB/id_ed25519 kh=$LAB/known_hosts gcm=aes128-gcm@openssh.com rsync_cmd
  run_kvm_clone "kvm-clone clone (2 GiB disk)" bench-src bench-kc
  run_peer "scp -3" bench-scp.qcow2 \
    scp -q -3 -F "$LAB/ssh_config" "alpha:$POOL/bench-src.qcow2" "beta:$POOL/bench-scp.qcow2"
  run_peer "scp -3 -c $gcm" bench-scp.qcow2 \
    scp -q -3 -c "$gcm" -F "$LAB/ssh_config" "alpha:$POOL/bench-src.qcow2" "beta:$POOL/bench-scp.qcow2"
  # rsync cannot copy between two remotes: it runs on alpha and pushes to
  # beta with the lab's key (the lab directory is visible inside the hosts).
  for cipher in "" "$gcm"; do
    printf -v rsync_cmd '%q ' rsync -S -e \
      "ssh -i $key -o IdentitiesOnly=yes -o UserKnownHostsFile=$kh -o StrictHostKeyChecking=yes -o BatchMode=yes -p 2222${cipher:+ -c $cipher}" \
      "$POOL/bench-src.qcow2" "root@127.0.0.2:$POOL/bench-rsync.qcow2"
    run_peer "rsync -S${cipher:+ (ssh -c $cipher)}" bench-rsync.qcow2 "$LABSH" ssh alpha "$rsync_cmd"
  done
  run_kvm_clone "kvm-clone clone (8 GiB disk)" bench-src8 bench-kc8

  report
}

report() {
  local kc="kvm-clone clone (2 GiB disk)" base="" row secs rate ratio
  [ $KC_AVAILABLE = 1 ] && base=${SECS[$kc]}
  echo
  echo "Clone of a shut-off VM, alpha -> beta, $DATA_MIB MiB of incompressible data"
  echo "(2 GiB virtual qcow2 unless noted; the 8 GiB variant holds the same data)."
  echo "Best of $RUNS run(s). Peers' times include an fsync of the copy."
  echo "MiB/s = $DATA_MIB MiB / wall s. ratio = wall s / kvm-clone (2 GiB) wall s."
  echo "CPU s = kvm-clone's own user + system time (not the hosts' sshd or qemu-nbd)."
  echo "machine CPU s = CPU time the whole machine spent during the run: both hosts' sshd and"
  echo "qemu-nbd (or scp/rsync/ssh), the tool and the kernel; anything else running adds to it."
  echo
  printf '%-42s %8s %8s %7s %10s %7s %13s %14s\n' tool "wall s" "MiB/s" ratio "MiB moved" "CPU s" "peak RSS MiB" "machine CPU s"
  for row in "${ROWS[@]}"; do
    if [ -z "${SECS[$row]:-}" ]; then
      printf '%-42s %s\n' "$row" "kvm-clone clone: not available in this build"
      continue
    fi
    secs=${SECS[$row]}
    rate=$(awk -v s="$secs" -v d="$DATA_MIB" 'BEGIN { printf "%.1f", d / s }')
    ratio=n/a
    [ -n "$base" ] && ratio=$(awk -v s="$secs" -v b="$base" 'BEGIN { printf "%.2f", s / b }')
    printf '%-42s %8s %8s %7s %10s %7s %13s %14s\n' "$row" "$secs" "$rate" "$ratio" "${MOVED[$row]}" "${CPU[$row]:--}" "${RSS[$row]:--}" "${BUSY[$row]:--}"
  done
  echo
  echo "Every copy was verified with qemu-img compare against the source (guest-visible content)."
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
}

main "$@"
