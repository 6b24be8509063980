#!/usr/bin/env bash
# callprep on a real Slurm cluster of one node (this machine), end to end:
#
#   1. installs Slurm and MUNGE from Debian's packages if missing
#      (apt-get install slurm-wlm munge; needs root);
#   2. starts munged, slurmctld and slurmd in the background with their own
#      key, socket, ports, config and state in a temporary folder;
#   3. for each corpus (the bundled calls, and the bench corpus when given):
#      a one-machine `callprep run`, then `sbatch --array=0-3 --wait` of
#      deploy/slurm-array.sbatch (`callprep run --shard auto/4`), then
#      `callprep merge`, then `diff -r` of the merged folder against the
#      one-machine folder (manifest, report, every WAV and .npy);
#   4. prints the wall times, stops the daemons it started, removes the
#      temporary folder, and exits non-zero on any difference or failure.
#
# Usage: scripts/slurm_demo.sh [BENCH_CORPUS_DIR]
#   CALLPREP_BIN  the binary (default: target/release/callprep, built if missing)
#   SHARDS        array size N (default 4)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="${1:-}"
N="${SHARDS:-4}"
BIN="${CALLPREP_BIN:-$ROOT/target/release/callprep}"
if [[ ! -x "$BIN" ]]; then
    (cd "$ROOT" && cargo build --release --locked)
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "== installing slurm-wlm and munge (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge >/dev/null
fi

WORK="$(mktemp -d /tmp/slurm_demo.XXXXXX)"
PIDS=()
cleanup() {
    local rc=$?
    if [[ -n "${SLURM_CONF:-}" ]]; then
        scancel --user="$(id -un)" >/dev/null 2>&1 || true
    fi
    # Stop only the daemons this script started, newest first.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && -d "$WORK/log" ]]; then
        echo "== daemon logs (failure)"; tail -n 20 "$WORK"/log/*.log 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK"/{munge,state,spool,log,jobs}
chmod 700 "$WORK" "$WORK/munge"

echo "== munged (own key and socket in $WORK/munge)"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
SOCKET="$WORK/munge/munge.socket"
munged --foreground --force --key-file="$WORK/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/log/munged.log" \
    --seed-file="$WORK/munge/munged.seed" >>"$WORK/log/munged.out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S "$SOCKET" ]] && break; sleep 0.1; done
[[ -S "$SOCKET" ]] || { echo "munged did not start"; exit 1; }

echo "== slurm.conf (one node: $(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //'))"
NODE_HW="$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')"
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=callprepdemo
SlurmctldHost=localhost
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=localhost NodeAddr=127.0.0.1 $NODE_HW State=UNKNOWN
PartitionName=demo Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

echo "== slurmctld + slurmd"
slurmctld -D -i -f "$SLURM_CONF" >>"$WORK/log/slurmctld.out.log" 2>&1 &
PIDS+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >>"$WORK/log/slurmd.out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do
    state="$(sinfo -h -n localhost -o %T 2>/dev/null || true)"
    [[ "$state" == idle ]] && break
    sleep 0.2
done
sinfo
[[ "$state" == idle ]] || { echo "the node did not come up (state: '$state')"; exit 1; }

FAIL=0
# demo NAME INPUT: one-machine run vs an N-task array + merge, byte for byte.
demo() {
    local name="$1" input="$2" out="$WORK/$1"
    mkdir -p "$out"
    echo "== $name: one machine: callprep run $input -o $out/single --threads $(nproc)"
    local t0 t1 t2 t3
    t0=$(date +%s.%N)
    "$BIN" run "$input" -o "$out/single" --threads "$(nproc)" -q
    t1=$(date +%s.%N)
    echo "== $name: sbatch --array=0-$((N - 1)) --wait deploy/slurm-array.sbatch (callprep run --shard auto/$N)"
    CALLPREP_BIN="$BIN" CALLPREP_INPUT="$input" CALLPREP_OUT="$out" CALLPREP_SHARDS="$N" \
        sbatch --array="0-$((N - 1))" --cpus-per-task=1 --wait --quiet \
        --output="$WORK/jobs/$name-%A_%a.log" --chdir="$WORK" \
        "$ROOT/deploy/slurm-array.sbatch" \
        || { echo "!! $name: an array task failed"; cat "$WORK"/jobs/"$name"-*.log; FAIL=1; return; }
    t2=$(date +%s.%N)
    echo "== $name: callprep merge $out/shard- -o $out/merged"
    "$BIN" merge "$out/shard-" -o "$out/merged"
    t3=$(date +%s.%N)
    for k in $(seq 0 $((N - 1))); do
        printf '   shard %d/%d: %s chunk(s)\n' "$k" "$N" "$(wc -l <"$out/shard-$k/manifest.jsonl")"
    done
    if diff -r -q -x .callprep "$out/single" "$out/merged"; then
        printf '== %s: IDENTICAL: %d file(s), %s manifest row(s)\n' "$name" \
            "$(find "$out/merged" -path '*/.callprep' -prune -o -type f -print | wc -l)" \
            "$(wc -l <"$out/merged/manifest.jsonl")"
    else
        echo "!! $name: the merged output differs from the one-machine run"
        FAIL=1
    fi
    printf '== %s: wall time: one machine %.1f s; %d array tasks %.1f s (+ merge %.2f s)\n' \
        "$name" "$(echo "$t1 - $t0" | bc)" "$N" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"
}

demo calls "$ROOT/fixtures/calls"
if [[ -n "$BENCH" ]]; then
    demo bench "$BENCH"
fi
if [[ $FAIL -ne 0 ]]; then
    echo "== FAILED"
    exit 1
fi
echo "== PASSED: merged == one machine on every corpus"
