#!/usr/bin/env bash
# scripts/bench.sh -- end-to-end benchmark: callprep vs. the reference Python pipeline.
#
# Usage:
#   scripts/bench.sh [--hours 3] [--repeats 3] [--corpus DIR] [--out DIR] [--skip-build]
#
#   --hours H      size of the synthetic corpus in stereo hours (default 3)
#   --repeats R    repetitions of every configuration (default 3); the median is reported
#   --corpus DIR   corpus directory (default target/bench/corpus-<H>h). If DIR already
#                  holds *.wav files it is used as is; otherwise it is generated with
#                  `scripts/make_calls.py bench --out DIR --hours H`.
#   --out DIR      scratch output directory, one fresh subfolder per run, removed once the run is
#                  measured (a run writes ~0.6 GB for the 3 h corpus; kept, 35 runs would fill RAM
#                  on tmpfs and squeeze the page cache, slowing every later run) (default
#                  target/bench/out). Point it at tmpfs (e.g. /dev/shm/callprep-bench) to
#                  take disk-write noise out of the numbers; the default measures real disk.
#   --skip-build   do not run `cargo build --release`
#   Environment: CALLPREP=path overrides the binary (default target/release/callprep).
#
# What it does:
#   1. `cargo build --release`; creates .venv-ref from scripts/requirements-ref.txt if missing.
#   2. Generates the corpus if needed (stereo 8 kHz PCM16 WAVs incl. two 60-min calls).
#   3. Runs, interleaved (each repetition runs every configuration in turn, output dir
#      wiped before every run):
#        callprep-t1     callprep run CORPUS -o OUT --threads 1 --quiet
#        callprep-t2     callprep run CORPUS -o OUT --threads 2 --quiet
#        python-w1       python scripts/py_reference.py CORPUS -o OUT --workers 1
#        python-w2       python scripts/py_reference.py CORPUS -o OUT --workers 2
#        python-same-w1 / -w2   the same with --spans-from: the reference still decodes and
#                        runs webrtcvad and its collector on every frame, but cuts the chunks
#                        callprep cut (read from one untimed callprep run made before the
#                        timed passes) -- the identical job. Before the timed passes, one
#                        such run is checked against callprep's output with
#                        scripts/compare_outputs.py (same WAV samples, mel within 1e-3).
#        long-callprep-t1 / -t2   callprep on only the longest (60-min) call, to show
#                        parallelism inside a single file.
#        callprep-t1-libfvad   as callprep-t1 with --vad-engine libfvad (the C VAD), to
#                        show what the Rust VAD port buys.
#   4. Measures wall and CPU time of every run (scripts/measure.py, exit taken by wait4,
#      nothing polling alongside), then, in one extra run per configuration, peak RSS of
#      the whole process tree (psutil poll every 20 ms, RSS summed over the process and
#      all its descendants).
#   5. Prints a Markdown table (median wall, realtime factor = stereo audio seconds per
#      wall second, median peak RSS, callprep/Python speed ratios at equal worker counts,
#      2-vs-1 thread scaling) plus machine info, and writes it to target/bench/results.md.
#      The python-wN-warm rows and ratios take the same Python runs from the moment every
#      worker has imported librosa and warmed up (py_reference.py reports its start-up and
#      its work separately): the throughput of a batch long enough that start-up does not
#      count. callprep starts in milliseconds, so its wall needs no such split.
#      The plain python-wN runs do not cut the same amount of audio into chunks as callprep
#      (callprep pads and merges; the reference is the textbook py-webrtcvad collector): the
#      per-output-hour ratios divide each wall by the hours of chunks written. The
#      python-same-wN runs remove the difference: their ratios are the identical job's.
#      Raw per-run measurements: target/bench/runs.jsonl; per-run logs: target/bench/logs/.
set -euo pipefail

HOURS=3
REPEATS=3
CORPUS=""
OUT=""
SKIP_BUILD=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --hours) HOURS="$2"; shift 2 ;;
        --hours=*) HOURS="${1#*=}"; shift ;;
        --repeats) REPEATS="$2"; shift 2 ;;
        --repeats=*) REPEATS="${1#*=}"; shift ;;
        --corpus) CORPUS="$2"; shift 2 ;;
        --corpus=*) CORPUS="${1#*=}"; shift ;;
        --out) OUT="$2"; shift 2 ;;
        --out=*) OUT="${1#*=}"; shift ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# Paths given by the caller are relative to the caller's cwd; everything else to the repo.
[[ -n "$CORPUS" ]] && CORPUS="$(realpath -m "$CORPUS")"
[[ -n "$OUT" ]] && OUT="$(realpath -m "$OUT")"
[[ -n "${CALLPREP:-}" && "$CALLPREP" == */* ]] && CALLPREP="$(realpath -m "$CALLPREP")"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH="target/bench"
OUT="${OUT:-$BENCH/out}"
LOGS="$BENCH/logs"
LONG_DIR="$BENCH/long-call"
RUNS="$BENCH/runs.jsonl"
RESULTS="$BENCH/results.md"
CORPUS="${CORPUS:-$BENCH/corpus-${HOURS}h}"
CALLPREP="${CALLPREP:-target/release/callprep}"
PY=".venv-ref/bin/python"

# OUT is rm -rf'ed before every run: refuse anything that looks like a real directory.
case "$(realpath -m "$OUT")" in
    /|"$ROOT"|"$(realpath -m "$CORPUS")"|"$(realpath -m "$CORPUS")"/*|"$HOME")
        echo "bench.sh: refusing to use $OUT as the (wiped) output directory" >&2; exit 2 ;;
esac
case "$(realpath -m "$CORPUS")/" in
    "$(realpath -m "$OUT")"/*)
        echo "bench.sh: the corpus must not live inside the (wiped) output directory $OUT" >&2; exit 2 ;;
esac

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- 1. build + venv -------------------------------------------------------------------
if [[ "$SKIP_BUILD" -eq 0 ]]; then
    log "cargo build --release"
    cargo build --release
fi
if [[ ! -x "$CALLPREP" ]]; then
    echo "bench.sh: callprep binary not found at $CALLPREP" >&2
    exit 1
fi

if ! [[ -x "$PY" ]] || ! "$PY" -c 'import numpy, soundfile, librosa, webrtcvad, psutil' 2>/dev/null; then
    log "setting up .venv-ref"
    [[ -x "$PY" ]] || python3 -m venv .venv-ref
    .venv-ref/bin/pip install -r scripts/requirements-ref.txt
fi

# ---- 2. corpus -------------------------------------------------------------------------
has_wavs() { [[ -d "$1" ]] && [[ -n "$(find "$1" -type f -iname '*.wav' -print -quit)" ]]; }

if has_wavs "$CORPUS"; then
    log "using existing corpus $CORPUS"
else
    log "generating ${HOURS} h corpus in $CORPUS"
    rm -rf "$CORPUS.partial"
    mkdir -p "$(dirname "$CORPUS")"
    "$PY" scripts/make_calls.py bench --out "$CORPUS.partial" --hours "$HOURS"
    rm -rf "$CORPUS"
    mv "$CORPUS.partial" "$CORPUS"   # only a complete corpus ever appears under $CORPUS
fi

mkdir -p "$BENCH" "$LOGS"

# Durations (stereo seconds) of the corpus and its longest file.
read -r CORPUS_FILES CORPUS_SECONDS LONG_SECONDS LONG_WAV < <("$PY" - "$CORPUS" <<'EOF'
import sys
from pathlib import Path
import soundfile as sf
files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
durs = [(sf.info(str(p)).duration, p) for p in files]
longest = max(durs, key=lambda d: (d[0], str(d[1])))
print(len(files), f"{sum(d for d, _ in durs):.3f}", f"{longest[0]:.3f}", longest[1])
EOF
)
log "corpus: $CORPUS_FILES files, $CORPUS_SECONDS s; longest: $LONG_WAV ($LONG_SECONDS s)"

# Single-long-file corpus: the longest call (+ its .json sidecar) alone in a directory.
rm -rf "$LONG_DIR"
mkdir -p "$LONG_DIR"
for f in "$LONG_WAV" "${LONG_WAV%.*}.json"; do
    [[ -e "$f" ]] || continue
    ln -f "$f" "$LONG_DIR/" 2>/dev/null || cp "$f" "$LONG_DIR/"
done

LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOADAVG%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "WARNING: load average is $LOADAVG -- other processes will distort the timings"
fi

# Warm the page cache so the first configuration is not penalised by cold reads.
find "$CORPUS" -type f -exec cat {} + > /dev/null

# The identical job: one untimed callprep run gives the chunk list the python-same-wN
# runs cut; one python-same run is checked against it, chunk for chunk.
SPANS="$BENCH/spans.jsonl"
COMPARE="$BENCH/compare.txt"
rm -rf "$OUT"
mkdir -p "$OUT"
log "identical job: callprep's chunk list, then one checked reference run"
"$CALLPREP" run "$CORPUS" -o "$OUT/spans" --quiet
cp "$OUT/spans/manifest.jsonl" "$SPANS"
"$PY" scripts/py_reference.py "$CORPUS" -o "$OUT/check" --spans-from "$SPANS" > "$LOGS/check.log"
set +e
"$PY" scripts/compare_outputs.py "$OUT/spans" "$OUT/check" > "$COMPARE"
COMPARE_RC=$?
set -e
cat "$COMPARE" >&2
rm -rf "$OUT/spans" "$OUT/check"
if [[ "$COMPARE_RC" -ne 0 ]]; then
    log "FAILED: the reference and callprep did not write the same dataset (see $COMPARE)"
    exit 1
fi

# ---- 3./4. interleaved, repeated runs ----------------------------------------------------
CONFIGS=(callprep-t1 callprep-t2 python-w1 python-w2 python-same-w1 python-same-w2
         long-callprep-t1 long-callprep-t2 callprep-t1-libfvad)

set_cmd() {  # sets CMD (array) for configuration $1, writing to $RUN_OUT
    local OUT="$RUN_OUT"
    case "$1" in
        callprep-t1)      CMD=("$CALLPREP" run "$CORPUS" -o "$OUT" --threads 1 --quiet) ;;
        callprep-t2)      CMD=("$CALLPREP" run "$CORPUS" -o "$OUT" --threads 2 --quiet) ;;
        python-w1)        CMD=("$PY" scripts/py_reference.py "$CORPUS" -o "$OUT" --workers 1) ;;
        python-w2)        CMD=("$PY" scripts/py_reference.py "$CORPUS" -o "$OUT" --workers 2) ;;
        python-same-w1)   CMD=("$PY" scripts/py_reference.py "$CORPUS" -o "$OUT" --workers 1 --spans-from "$SPANS") ;;
        python-same-w2)   CMD=("$PY" scripts/py_reference.py "$CORPUS" -o "$OUT" --workers 2 --spans-from "$SPANS") ;;
        long-callprep-t1) CMD=("$CALLPREP" run "$LONG_DIR" -o "$OUT" --threads 1 --quiet) ;;
        long-callprep-t2) CMD=("$CALLPREP" run "$LONG_DIR" -o "$OUT" --threads 2 --quiet) ;;
        callprep-t1-libfvad) CMD=("$CALLPREP" run "$CORPUS" -o "$OUT" --threads 1 --quiet --vad-engine libfvad) ;;
        *) echo "unknown config $1" >&2; exit 2 ;;
    esac
}

: > "$RUNS"
rm -rf "$OUT"
mkdir -p "$OUT"
FAILED=0
# Timing passes run unobserved (no RSS polling: on 2 cores a 20 ms psutil poll
# took ~4 % off a 2-thread run); then one memory pass per configuration polls
# the process tree's RSS.
run_pass() {  # $1 = pass name, $2 = repetitions, $3 = poll interval (s; 0 = none)
local PASS="$1" REPEATS="$2" INTERVAL="$3"
for ((rep = 1; rep <= REPEATS; rep++)); do
    for cfg in "${CONFIGS[@]}"; do
        # A fresh output folder per run, removed right after the run is measured
        # (kept, the runs' outputs pile up: about 0.6 GB each, in RAM on tmpfs).
        # On ext4, creating files right after a large delete is slower (perf:
        # recently_deleted/find_inode_bit), so the delete is followed by a sync
        # and a pause; tmpfs (--out /dev/shm/...) has no such effect.
        RUN_OUT="$OUT/$cfg.$rep"
        set_cmd "$cfg"
        sync   # flush the previous run's output so its writeback does not land in this run
        logf="$LOGS/$cfg.$rep.log"
        set +e
        json="$("$PY" scripts/measure.py --interval "$INTERVAL" --log "$logf" -- "${CMD[@]}")"
        set -e
        if [[ -z "$json" ]]; then
            json='{"wall_s": 0, "peak_rss_mb": 0, "rc": 255}'
        fi
        printf '{"config": "%s", "repeat": %d, "pass": "%s", "m": %s}\n' "$cfg" "$rep" "$PASS" "$json" >> "$RUNS"
        log "$PASS rep $rep/$REPEATS $cfg: $json"
        if ! grep -q '"rc": 0[,}]' <<<"$json"; then
            FAILED=1
            log "  FAILED -- last lines of $logf:"
            tail -n 5 "$logf" >&2 || true
        fi
        # How much audio the run cut into chunks (its output, the same in
        # every run), for the per-output-hour comparison: read once, from the
        # first timed run; Python prints it in its log line.
        if [[ "$PASS" == time && "$rep" -eq 1 && -f "$RUN_OUT/report.json" ]]; then
            "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"]["speech_hours_out"])' \
                "$RUN_OUT/report.json" > "$LOGS/$cfg.$rep.out_hours" || true
        fi
        rm -rf "$RUN_OUT"
        sync
        sleep 1
    done
done
}
run_pass time "$REPEATS" 0
run_pass memory 1 0.02
rm -rf "$OUT"
rm -f "$SPANS"

# ---- 5. report -------------------------------------------------------------------------
CPU_MODEL="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
"$PY" - "$RUNS" "$RESULTS" "$CORPUS" "$CORPUS_FILES" "$CORPUS_SECONDS" "$LONG_WAV" "$LONG_SECONDS" \
    "$(nproc)" "${CPU_MODEL:-unknown}" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$REPEATS" \
    "$("$CALLPREP" --version 2>/dev/null | head -n1 || echo callprep)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo 'no commit')" "$OUT" "$LOADAVG" "$LOGS" \
    "$COMPARE" <<'EOF'
import json, re, statistics, sys
(runs_path, results_path, corpus, n_files, corpus_s, long_wav, long_s,
 nproc, cpu, date, repeats, callprep_version, git_rev, out_dir, loadavg, logs,
 compare_path) = sys.argv[1:]
corpus_s, long_s = float(corpus_s), float(long_s)

runs, mem = {}, {}
for line in open(runs_path):
    r = json.loads(line)
    dest = mem if r.get("pass") == "memory" else runs
    dest.setdefault(r["config"], []).append(r["m"])

configs = [
    ("callprep-t1", "callprep --threads 1", "corpus", corpus_s),
    ("callprep-t2", "callprep --threads 2", "corpus", corpus_s),
    ("python-w1", "py_reference.py --workers 1", "corpus", corpus_s),
    ("python-w2", "py_reference.py --workers 2", "corpus", corpus_s),
    ("python-same-w1", "py_reference.py --workers 1 --spans-from (callprep's chunks)", "corpus", corpus_s),
    ("python-same-w2", "py_reference.py --workers 2 --spans-from (callprep's chunks)", "corpus", corpus_s),
    ("long-callprep-t1", "callprep --threads 1", "one long call", long_s),
    ("long-callprep-t2", "callprep --threads 2", "one long call", long_s),
    ("callprep-t1-libfvad", "callprep --threads 1 --vad-engine libfvad", "corpus", corpus_s),
]

med = {}
rows = []
for key, label, inp, secs in configs:
    ms = runs.get(key, [])
    ok = [m for m in ms if m.get("rc") == 0]
    if ok:
        wall = statistics.median(m["wall_s"] for m in ok)
        mem_ok = [m for m in mem.get(key, []) if m.get("rc") == 0]
        rss = statistics.median(m["peak_rss_mb"] for m in mem_ok) if mem_ok else float("nan")
        cpu_s = statistics.median(m.get("cpu_s", float("nan")) for m in ok)
        lo, hi = min(m["wall_s"] for m in ok), max(m["wall_s"] for m in ok)
        med[key] = wall
        rows.append(f"| {key} | {label} | {inp} | {secs / 3600:.2f} | {wall:.2f} | "
                    f"{lo:.2f}–{hi:.2f} | {secs / wall:.0f}× | {cpu_s:.2f} | {rss:.0f} | {len(ok)}/{len(ms)} |")
    else:
        rcs = ",".join(str(m.get("rc")) for m in ms) or "not run"
        rows.append(f"| {key} | {label} | {inp} | {secs / 3600:.2f} | FAILED (rc {rcs}) | | | | | 0/{len(ms)} |")

# The Python reference's fixed cost (interpreter, imports, pool start-up, every
# worker's librosa import and warm-up) against the work after it, from the
# timed runs' own reports: the work part is its throughput on a long batch.
warm = {}
for key in ("python-same-w1", "python-same-w2", "python-w1", "python-w2"):
    parts = []
    for rep in range(1, int(repeats) + 1):
        try:
            m = re.search(r"startup ([0-9.]+) s, work ([0-9.]+) s", open(f"{logs}/{key}.{rep}.log").read())
        except OSError:
            m = None
        if m:
            parts.append((float(m.group(1)), float(m.group(2))))
    if parts:
        up = statistics.median(p[0] for p in parts)
        work = statistics.median(p[1] for p in parts)
        warm[key] = work
        rows.append(f"| {key}-warm | same runs, time after every worker is warmed up | corpus | "
                    f"{corpus_s / 3600:.2f} | {work:.2f} | "
                    f"{min(p[1] for p in parts):.2f}–{max(p[1] for p in parts):.2f} | "
                    f"{corpus_s / work:.0f}× | | | {len(parts)}/{repeats} (start-up {up:.2f} s) |")

def warm_ratio(py, cp, what):
    if py in warm and cp in med:
        return f"- {what}: **{warm[py] / med[cp]:.2f}×**"
    return f"- {what}: n/a"

# Hours of audio each configuration cut into chunks (the same in every run).
def out_hours(key):
    try:
        if key.startswith("python"):
            m = re.search(r"\(([0-9.]+) s in chunks\)", open(f"{logs}/{key}.1.log").read())
            return float(m.group(1)) / 3600 if m else None
        return float(open(f"{logs}/{key}.1.out_hours").read())
    except (OSError, ValueError):
        return None

def per_output_ratio(py, cp, what):
    po, co = out_hours(py), out_hours(cp)
    if py in warm and cp in med and po and co:
        r = (warm[py] / po) / (med[cp] / co)
        return (f"- {what}: **{r:.2f}×** (output: Python {po:.2f} h of chunks, "
                f"callprep {co:.2f} h)")
    return f"- {what}: n/a"

def ratio(num, den, what):
    if num in med and den in med:
        return f"- {what}: **{med[num] / med[den]:.2f}×**"
    return f"- {what}: n/a (a configuration failed)"

lines = [
    "# callprep vs. Python reference benchmark",
    "",
    f"- Date: {date}",
    f"- Machine: {nproc} CPUs (nproc), {cpu}",
    f"- callprep: {callprep_version} (git {git_rev})",
    f"- Corpus: `{corpus}` — {n_files} files, {corpus_s / 3600:.2f} stereo hours; "
    f"long call: `{long_wav}` ({long_s / 60:.1f} min); output written to `{out_dir}`",
    f"- {repeats} interleaved repetitions per configuration; median reported. "
    "Realtime factor = stereo input audio seconds / wall second. "
    "CPU s = user+sys CPU seconds of the process tree (median). "
    "Wall and CPU come from unobserved runs (wait4 only); peak RSS = max of summed RSS over the whole "
    "process tree (psutil, 20 ms polls) in one extra run per configuration.",
    f"- Load average before the runs: {loadavg}. Other processes competing for the CPUs inflate wall times; "
    "compare CPU s and the wall range to spot that.",
    "",
    "| config | command | input | audio h | median wall s | wall range s | realtime factor | CPU s | peak RSS MiB | ok runs |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    *rows,
    "",
    "Ratios of median wall times (numerator / denominator; > 1 means the denominator configuration is faster).",
    "The identical job (the reference cuts callprep's chunks; "
    f"checked: `{open(compare_path).read().strip()}`):",
    "",
    warm_ratio("python-same-w1", "callprep-t1",
               "callprep vs warmed-up Python, identical job, 1 worker (Python wall after start-up / callprep wall)"),
    warm_ratio("python-same-w2", "callprep-t2",
               "callprep vs warmed-up Python, identical job, 2 workers"),
    ratio("python-same-w1", "callprep-t1", "callprep vs whole Python runs, identical job, 1 worker"),
    ratio("python-same-w2", "callprep-t2", "callprep vs whole Python runs, identical job, 2 workers"),
    "",
    "Against the textbook reference (its own py-webrtcvad collector, fewer hours of chunks):",
    "",
    ratio("python-w1", "callprep-t1", "callprep vs Python, 1 worker (Python wall / callprep wall)"),
    ratio("python-w2", "callprep-t2", "callprep vs Python, 2 workers (Python wall / callprep wall)"),
    warm_ratio("python-w1", "callprep-t1",
               "callprep vs warmed-up Python, 1 worker (Python wall after start-up / callprep wall)"),
    warm_ratio("python-w2", "callprep-t2",
               "callprep vs warmed-up Python, 2 workers (Python wall after start-up / callprep wall)"),
    per_output_ratio("python-w1", "callprep-t1",
                     "the same per hour of output, 1 worker (the two cut different amounts of audio into chunks)"),
    per_output_ratio("python-w2", "callprep-t2", "the same per hour of output, 2 workers"),
    ratio("callprep-t1", "callprep-t2", "callprep scaling 1→2 threads, corpus (t1 wall / t2 wall)"),
    ratio("long-callprep-t1", "long-callprep-t2", "callprep scaling 1→2 threads, single long call (t1 wall / t2 wall)"),
    ratio("python-w1", "python-w2", "Python scaling 1→2 workers, corpus (w1 wall / w2 wall)"),
    ratio("callprep-t1-libfvad", "callprep-t1", "Rust VAD port vs libfvad C, 1 thread (libfvad wall / rust wall)"),
    "",
]
text = "\n".join(lines)
print(text)
with open(results_path, "w") as f:
    f.write(text)
EOF
log "wrote $RESULTS (raw runs: $RUNS)"
exit "$FAILED"
