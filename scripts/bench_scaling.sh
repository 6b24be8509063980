#!/usr/bin/env bash
# scripts/bench_scaling.sh -- time and memory against recording length.
#
# Usage: scripts/bench_scaling.sh [CORPUS_DIR] [--repeats N] [--out DIR]
#
#   --out DIR   write the runs' outputs under DIR (e.g. /dev/shm/callprep-scaling,
#               tmpfs); default target/bench/scaling/out on disk. Each run's
#               output is removed right after it is measured.
#
# Takes the first 60-minute call of the benchmark corpus (scripts/bench.sh makes
# it: target/bench/corpus-3h by default), builds a 10-hour recording from ten
# copies of it (sox), and runs `callprep run --threads 1` and `--threads 2` on
# each, interleaved, N times (default 3), unobserved, then once more with the
# RSS poll. Prints median wall time, peak RSS of the process tree
# (scripts/measure.py) and the 10 h / 1 h ratios: cost should be
# linear (ratio <= 10.5) and memory independent of the length.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="target/bench/corpus-3h"
REPEATS=3
OUT_ARG=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeats) REPEATS="$2"; shift 2 ;;
        --out) OUT_ARG="$2"; shift 2 ;;
        *) CORPUS="$1"; shift ;;
    esac
done
PY=.venv-ref/bin/python
CALLPREP="${CALLPREP:-target/release/callprep}"
[[ -x "$CALLPREP" ]] || cargo build --release
WORK=target/bench/scaling
mkdir -p "$WORK/one" "$WORK/ten"
ONE="$(ls "$CORPUS"/*.wav | head -1)"
[[ -f "$WORK/one/call.wav" ]] || ln -f "$ONE" "$WORK/one/call.wav" 2>/dev/null || cp "$ONE" "$WORK/one/call.wav"
if [[ ! -f "$WORK/ten/call.wav" ]]; then
    sox $(for _ in $(seq 10); do echo "$WORK/one/call.wav"; done) "$WORK/ten/call.wav"
fi
RUNS="$WORK/runs.jsonl"; : > "$RUNS"
# Warm the page cache: a 10 h input (1.2 GB) evicted since the last bench
# would otherwise be read from disk in the first runs (wall above CPU).
cat "$WORK/one/call.wav" "$WORK/ten/call.wav" > /dev/null
OUT="${OUT_ARG:-$WORK/out}"
case "$(realpath -m "$OUT")" in /|"$(pwd)"|"$HOME") echo "bench_scaling.sh: refusing --out $OUT" >&2; exit 2 ;; esac
rm -rf "$OUT"; mkdir -p "$OUT"
# Timed runs unobserved (measure.py --interval 0), then one run per
# configuration with the RSS poll (as in bench.sh).
run_pass() {  # $1 = pass, $2 = repetitions, $3 = poll interval
    local pass="$1" reps="$2" interval="$3" r len t json
    for ((r = 1; r <= reps; r++)); do
        for len in one ten; do
            for t in 1 2; do
                sync
                json="$("$PY" scripts/measure.py --interval "$interval" -- "$CALLPREP" run "$WORK/$len" -o "$OUT/$len.$t.$r" --threads "$t" -q)"
                echo "{\"pass\": \"$pass\", \"len\": \"$len\", \"threads\": $t, \"m\": $json}" >> "$RUNS"
                echo "$pass rep $r $len threads=$t: $json" >&2
                rm -rf "$OUT/$len.$t.$r"
            done
        done
    done
}
run_pass time "$REPEATS" 0
run_pass memory 1 0.02
rm -rf "$OUT"
"$PY" - "$RUNS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
print("| recording | threads | median wall s | realtime factor | median peak RSS MB |")
print("|---|---|---|---|---|")
res = {}
for len_, hours in (("one", 1.0), ("ten", 10.0)):
    for t in (1, 2):
        pick = lambda p: [r["m"] for r in rows if r["len"] == len_ and r["threads"] == t
                          and r.get("pass", "time") == p]
        w = med([r["wall_s"] for r in pick("time")])
        m = med([r["peak_rss_mb"] for r in pick("memory")])
        res[(len_, t)] = (w, m)
        print(f"| {int(hours)} h | {t} | {w:.2f} | {hours * 3600 / w:.0f}x | {m:.1f} |")
for t in (1, 2):
    print(f"\n{t} thread(s): 10 h / 1 h time ratio {res[('ten', t)][0] / res[('one', t)][0]:.2f}, "
          f"memory ratio {res[('ten', t)][1] / res[('one', t)][1]:.2f}")
PYEOF
