#!/usr/bin/env bash
# Compression benchmark on the lab: one full export of the same running VM
# (web01's definition, a fresh 2 GiB qcow2 holding 1 GiB of data: half
# incompressible, half text-like, as benches/export_vs_virtnbdbackup.sh
# builds it) into a fresh encrypted repository per codec: lz4, zstd level 3
# and zstd level 19 (export profiles written for the run). Prints wall time,
# bytes stored and peak RSS, and each against lz4. Informational: nothing
# passes or fails on time. Not part of tests/run. See docs/benchmarks.md.
#
#   benches/export_compression.sh
#
# Environment:
#   KVM_CLONE_LAB_DIR     lab directory (default <repo>/target/lab)
#   BENCH_NO_BUILD=1      skip `cargo build --release`
#   BENCH_RUNS=N          rounds (default 3); the table shows each codec's
#                         best wall time and highest peak RSS
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=${KVM_CLONE_LAB_DIR:-$ROOT/target/lab}
export KVM_CLONE_LAB_DIR=$LAB
BIN=$ROOT/target/release/kvm-clone
VM=bench-compress-$$
HALF_MIB=512
RUNS=${BENCH_RUNS:-3}
CODECS=(lz4 zstd3 zstd19)

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
fi
[ "$(id -u)" -eq 0 ] || exec sudo -E BENCH_NO_BUILD=1 "$0" "$@"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: run tests/lab/install-deps"

SOCK="$LAB/hosts/alpha/run/libvirt-sock"
[ -S "$SOCK" ] || die "alpha's libvirt socket $SOCK missing: is the lab up?"
URI="qemu+unix:///system?socket=$SOCK"
lvirsh() { virsh -q -c "$URI" "$@"; }
IMAGES="$LAB/hosts/alpha/lib/images"
WORK=$(mktemp -d /var/tmp/kvm-clone-bench.XXXXXX)

cleanup() {
  lvirsh destroy "$VM" >/dev/null 2>&1 || true
  lvirsh undefine --checkpoints-metadata "$VM" >/dev/null 2>&1 || true
  rm -f "$IMAGES/$VM.qcow2"
  lvirsh pool-refresh default >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building the source VM $VM: ${HALF_MIB} MiB random + ${HALF_MIB} MiB text"
{
  head -c $((HALF_MIB << 20)) /dev/urandom
  # Text-like: numbered lines of words, as logs and configs look.
  # (yes and nl end on SIGPIPE when head has enough: not a failure.)
  set +o pipefail
  yes 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod' |
    nl -ba | head -c $((HALF_MIB << 20))
  set -o pipefail
} >"$WORK/fill.raw"
[ "$(stat -c %s "$WORK/fill.raw")" -eq $((2 * HALF_MIB << 20)) ] || die "fill image is short"
truncate -s 2G "$WORK/fill.raw"
qemu-img convert -q -f raw -O qcow2 "$WORK/fill.raw" "$IMAGES/$VM.qcow2"
rm -f "$WORK/fill.raw"
lvirsh dumpxml --inactive web01 | grep -v '<uuid>\|<mac address' |
  sed "s|<name>web01</name>|<name>$VM</name>|; s|web01.qcow2|$VM.qcow2|" >"$WORK/vm.xml"
lvirsh define "$WORK/vm.xml" >/dev/null
lvirsh start "$VM" >/dev/null
sync
cat "$IMAGES/$VM.qcow2" >/dev/null

# One export profile per codec; full exports (no checkpoints kept between
# codecs), no read-back, so the table shows the codec's cost.
export KVM_CLONE_PROFILE_DIR="$WORK/profiles"
mkdir -p "$KVM_CLONE_PROFILE_DIR"
profile() { # name, compression lines
  printf 'name = "bench-%s"\nkind = "export"\nlive = "live"\nverify = false\nincremental = false\n%s\n' \
    "$1" "$2" >"$KVM_CLONE_PROFILE_DIR/bench-$1.toml"
}
profile lz4 'compression = "lz4"'
profile zstd3 $'compression = "zstd"\ncompression_level = 3'
profile zstd19 $'compression = "zstd"\ncompression_level = 19'

log "kvm-clone: $("$BIN" --version) (release build $BIN, $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?'))"
log "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"

export KVM_CLONE_CONFIG="$LAB/config.toml"
export KVM_CLONE_DATA_DIR="$WORK/data"
export KVM_CLONE_PASSPHRASE="bench-$$-passphrase"

# measure NAME CMD…: wall seconds and peak RSS (KiB) into $WALL and $RSS.
measure() {
  local name=$1; shift
  log "$name"
  sync
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { cat "$WORK/$name.err" >&2; die "$name failed"; }
  read -r WALL RSS <"$WORK/time"
  log "$name: ${WALL}s, peak RSS ${RSS} KiB"
}
# The bytes of every chunk file: what the codec stored (manifests aside).
bytes() { find "$1/chunks" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

declare -A BEST_WALL BEST_RSS BYTES ROUND_TIMES
for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS"
  for codec in "${CODECS[@]}"; do
    REPO="$WORK/repo-$codec"
    rm -rf "$REPO"
    "$BIN" repo init "$REPO" >/dev/null
    measure "$codec" "$BIN" export --from alpha --vm "$VM" --repo "$REPO" --profile "bench-$codec" --json
    log "$codec totals: $(jq -c .result.totals "$WORK/$codec.out" 2>/dev/null || cat "$WORK/$codec.out")"
    if [ -z "${BEST_WALL[$codec]:-}" ] || awk -v a="$WALL" -v b="${BEST_WALL[$codec]}" 'BEGIN { exit !(a < b) }'; then
      BEST_WALL[$codec]=$WALL
    fi
    if [ "${BEST_RSS[$codec]:-0}" -lt "$RSS" ]; then BEST_RSS[$codec]=$RSS; fi
    BYTES[$codec]=$(bytes "$REPO")
    ROUND_TIMES[$codec]="${ROUND_TIMES[$codec]:-}${ROUND_TIMES[$codec]:+ / }${WALL}"
  done
done
for codec in "${CODECS[@]}"; do
  log "$codec wall times by round (s): ${ROUND_TIMES[$codec]}"
done

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "| codec | wall | vs lz4 | stored | vs lz4 | peak RSS |"
echo "| --- | --- | --- | --- | --- | --- |"
for codec in "${CODECS[@]}"; do
  label=$codec
  case $codec in zstd3) label="zstd 3" ;; zstd19) label="zstd 19" ;; esac
  printf '| %s | %ss | %s | %s MiB | %s | %s MiB |\n' "$label" "${BEST_WALL[$codec]}" \
    "$(ratio "${BEST_WALL[$codec]}" "${BEST_WALL[lz4]}")" "$(mib "${BYTES[$codec]}")" \
    "$(ratio "${BYTES[$codec]}" "${BYTES[lz4]}")" "$(mib $((BEST_RSS[$codec] * 1024)))"
done
