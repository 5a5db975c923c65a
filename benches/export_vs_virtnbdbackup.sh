#!/usr/bin/env bash
# Export benchmark on the lab: kvm-clone export against virtnbdbackup, on
# one running VM of the benchmark's own (web01's definition, a fresh 2 GiB
# qcow2 holding 1 GiB of data: half incompressible, half text-like), in one
# run: a full export against `virtnbdbackup -l full --compress`, then, after
# a 1% change written through the running qemu, the incremental export
# against `virtnbdbackup -l inc --compress`. Prints wall time, bytes stored
# and peak RSS with ratios. kvm-clone encrypts (passphrase repository);
# virtnbdbackup does not. Informational: nothing passes or fails on time.
# Not part of tests/run. See docs/benchmarks.md.
#
#   benches/export_vs_virtnbdbackup.sh
#
# Environment:
#   KVM_CLONE_LAB_DIR     lab directory (default <repo>/target/lab)
#   BENCH_NO_BUILD=1      skip `cargo build --release`
#   BENCH_RUNS=N          rounds (default 3); the table shows each tool's
#                         best wall time and highest peak RSS
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=${KVM_CLONE_LAB_DIR:-$ROOT/target/lab}
export KVM_CLONE_LAB_DIR=$LAB
BIN=$ROOT/target/release/kvm-clone
POOL=/var/lib/libvirt/images # the pool directory inside the host
# Two identical VMs, one per tool: virtnbdbackup refuses to run on a domain
# that holds another tool's checkpoint ("Foreign checkpoint found").
KC_VM=bench-export-kc-$$
VNB_VM=bench-export-vnb-$$
HALF_MIB=512
RUNS=${BENCH_RUNS:-3}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
fi
[ "$(id -u)" -eq 0 ] || exec sudo -E BENCH_NO_BUILD=1 "$0" "$@"
[ -x /usr/bin/time ] || die "/usr/bin/time missing: run tests/lab/install-deps"
command -v virtnbdbackup >/dev/null || die "virtnbdbackup missing: run tests/lab/install-deps"

SOCK="$LAB/hosts/alpha/run/libvirt-sock"
[ -S "$SOCK" ] || die "alpha's libvirt socket $SOCK missing: is the lab up?"
URI="qemu+unix:///system?socket=$SOCK"
lvirsh() { virsh -q -c "$URI" "$@"; }
# virtnbdbackup runs on this machine but inside alpha's mount namespace, with
# the plain local URI: it then sees alpha's libvirtd at qemu:///system and the
# disk at its domain path (for its `qemu-img info`), and does what it does on
# a real host. Its NBD socket and output live under /var/tmp, which the lab
# does not hide. (A qemu+unix URI makes it demand --user/--password.)
ALPHA_NS=$(cat "$LAB/hosts/alpha/libvirtd.pid")
VNB_CMD=(nsenter -m -t "$ALPHA_NS" -- virtnbdbackup -U qemu:///system)
IMAGES="$LAB/hosts/alpha/lib/images"
WORK=$(mktemp -d /var/tmp/kvm-clone-bench.XXXXXX)

cleanup() {
  for vm in "$KC_VM" "$VNB_VM"; do
    lvirsh destroy "$vm" >/dev/null 2>&1 || true
    lvirsh undefine --checkpoints-metadata "$vm" >/dev/null 2>&1 || true
    rm -f "$IMAGES/$vm.qcow2"
  done
  lvirsh pool-refresh default >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building the source VMs $KC_VM and $VNB_VM: ${HALF_MIB} MiB random + ${HALF_MIB} MiB text"
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
qemu-img convert -q -f raw -O qcow2 "$WORK/fill.raw" "$IMAGES/$KC_VM.qcow2"
cp --sparse=always "$IMAGES/$KC_VM.qcow2" "$IMAGES/$VNB_VM.qcow2"
rm -f "$WORK/fill.raw"
for vm in "$KC_VM" "$VNB_VM"; do
  lvirsh dumpxml --inactive web01 | grep -v '<uuid>\|<mac address' |
    sed "s|<name>web01</name>|<name>$vm</name>|; s|web01.qcow2|$vm.qcow2|" >"$WORK/vm.xml"
  lvirsh define "$WORK/vm.xml" >/dev/null
  lvirsh start "$vm" >/dev/null
done
# Both tools start alike: the fresh images written out (a writeback in
# progress would slow whichever runs first) and both read into the page
# cache, as a VM's disk that has been running a while would be.
sync
cat "$IMAGES/$KC_VM.qcow2" "$IMAGES/$VNB_VM.qcow2" >/dev/null

# Which build and how busy the machine is: both change the numbers.
log "kvm-clone: $("$BIN" --version) (release build $BIN, $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?'))"
log "virtnbdbackup $(virtnbdbackup --version 2>&1)"
log "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"

export KVM_CLONE_CONFIG="$LAB/config.toml"
export KVM_CLONE_DATA_DIR="$WORK/data"
export KVM_CLONE_PASSPHRASE="bench-$$-passphrase"

# measure NAME CMD…: wall seconds and peak RSS (KiB) into $WALL and $RSS.
measure() {
  local name=$1; shift
  log "$name"
  # Nobody pays for the previous run's writeback: kvm-clone makes its chunks
  # durable (syncfs) before it commits a snapshot, which would otherwise also
  # flush what virtnbdbackup left in the page cache (it does not sync).
  sync
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { cat "$WORK/$name.err" >&2; die "$name failed"; }
  read -r WALL RSS <"$WORK/time"
  log "$name: ${WALL}s, peak RSS ${RSS} KiB"
}
# The bytes of every file under a directory: what each tool stored. (`du -sb`
# would also count each directory as 4 KiB, and the repository has one per
# chunk-id prefix.)
bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# change VM: a 1% change, 20 MiB in 5 places, through the running qemu.
change() {
  local vm=$1 dev out
  dev=$(lvirsh qemu-monitor-command "$vm" --hmp 'info block' |
    sed -n 's/^ *Attached to: *//p' | head -1 | tr -d '[:space:]')
  [ -n "$dev" ] || die "no disk device in 'info block'"
  log "1% change on $vm: 5 x 4 MiB through qemu-io on $dev"
  for off in 64 300 700 1100 1500; do
    out=$(lvirsh qemu-monitor-command "$vm" --hmp "qemu-io -d $dev \"write -P 0x5a ${off}M 4M\"")
    case $out in *rror*) die "qemu-io: $out" ;; esac
  done
}

# One round: full exports by both tools, the 1% change, incrementals.
# Each round starts a fresh repository and output directory, so its full
# export is a full one; each VM keeps only its own tool's newest checkpoint.
# best NAME: keeps the lowest wall time and highest RSS over the rounds.
declare -A BEST_WALL BEST_RSS BYTES
keep() {
  local name=$1 bytes=$2
  if [ -z "${BEST_WALL[$name]:-}" ] || awk -v a="$WALL" -v b="${BEST_WALL[$name]}" 'BEGIN { exit !(a < b) }'; then
    BEST_WALL[$name]=$WALL
  fi
  if [ "${BEST_RSS[$name]:-0}" -lt "$RSS" ]; then BEST_RSS[$name]=$RSS; fi
  BYTES[$name]=$bytes
  ROUND_TIMES[$name]="${ROUND_TIMES[$name]:-}${ROUND_TIMES[$name]:+ / }${WALL}"
}
declare -A ROUND_TIMES
for round in $(seq 1 "$RUNS"); do
  log "round $round of $RUNS"
  REPO="$WORK/repo"
  VNB="$WORK/virtnbdbackup"
  rm -rf "$REPO" "$VNB"
  "$BIN" repo init "$REPO" >/dev/null

  measure kc-full "$BIN" export --from alpha --vm "$KC_VM" --repo "$REPO" --json
  keep kc-full "$(bytes "$REPO")"
  log "kc-full totals: $(jq -c .result.totals "$WORK/kc-full.out" 2>/dev/null || cat "$WORK/kc-full.out")"
  measure vnb-full "${VNB_CMD[@]}" -d "$VNB_VM" -l full --compress -o "$VNB"
  keep vnb-full "$(bytes "$VNB")"

  change "$KC_VM"
  change "$VNB_VM"

  before=$(bytes "$REPO")
  measure kc-inc "$BIN" export --from alpha --vm "$KC_VM" --repo "$REPO" --json
  keep kc-inc $(($(bytes "$REPO") - before))
  log "kc-inc totals: $(jq -c .result.totals "$WORK/kc-inc.out" 2>/dev/null || cat "$WORK/kc-inc.out")"
  before=$(bytes "$VNB")
  measure vnb-inc "${VNB_CMD[@]}" -d "$VNB_VM" -l inc --compress -o "$VNB"
  keep vnb-inc $(($(bytes "$VNB") - before))
done
for name in kc-full vnb-full kc-inc vnb-inc; do
  log "$name wall times by round (s): ${ROUND_TIMES[$name]}"
done
KC_FULL=("${BEST_WALL[kc-full]}" "${BEST_RSS[kc-full]}" "${BYTES[kc-full]}")
VNB_FULL=("${BEST_WALL[vnb-full]}" "${BEST_RSS[vnb-full]}" "${BYTES[vnb-full]}")
KC_INC=("${BEST_WALL[kc-inc]}" "${BEST_RSS[kc-inc]}" "${BYTES[kc-inc]}")
VNB_INC=("${BEST_WALL[vnb-inc]}" "${BEST_RSS[vnb-inc]}" "${BYTES[vnb-inc]}")

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }'; }
row() { # label kc[] vnb[]
  local label=$1 kw=$2 kr=$3 kb=$4 vw=$5 vr=$6 vb=$7
  printf '| %s | %ss | %ss | %s | %s MiB | %s MiB | %s | %s MiB | %s MiB |\n' \
    "$label" "$kw" "$vw" "$(ratio "$kw" "$vw")" "$(mib "$kb")" "$(mib "$vb")" \
    "$(ratio "$kb" "$vb")" "$(mib $((kr * 1024)))" "$(mib $((vr * 1024)))"
}
echo
echo "| run | kvm-clone | virtnbdbackup | speed-up | kvm-clone stored | virtnbdbackup stored | size ratio | kvm-clone peak RSS | virtnbdbackup peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
row "full (1 GiB data)" "${KC_FULL[@]}" "${VNB_FULL[@]}"
row "incremental (1%)" "${KC_INC[@]}" "${VNB_INC[@]}"
