#!/usr/bin/env bash
# scripts/ab.sh -- interleaved A/B timing of callprep builds on one input.
#
# Usage:
#   scripts/ab.sh [--runs N] [--threads T] [--out DIR] INPUT BIN_A BIN_B [BIN ...]
#
#   INPUT        a WAV file or a folder of them (e.g. the bench corpus)
#   BIN_*        callprep binaries to compare (copy target/release/callprep aside
#                before rebuilding: cp target/release/callprep /tmp/cp_before)
#   --runs N     runs per binary (default 7); every round runs each binary once,
#                in turn, so machine noise hits all of them alike
#   --threads T  --threads for callprep (default 1)
#   --out DIR    scratch output folder, wiped before every run (default
#                /dev/shm/callprep-ab: tmpfs keeps disk noise out)
#
# Prints, per binary: median wall seconds, median user+sys CPU seconds, and
# the fastest run's CPU seconds. Also checks that every binary wrote the same
# bytes as the first one (manifest, chunk WAVs, .npy files) and says so.
set -euo pipefail

RUNS=7
THREADS=1
OUT=/dev/shm/callprep-ab
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "ab.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
if [[ $# -lt 3 ]]; then usage >&2; exit 2; fi
INPUT="$1"; shift
BINS=("$@")
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP" "$OUT"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in "${!BINS[@]}"; do : > "$TMP/$i.txt"; done
for _ in $(seq "$RUNS"); do
    for i in "${!BINS[@]}"; do
        rm -rf "$OUT"
        /usr/bin/time -f "%e %U %S" -o "$TMP/t" "${BINS[$i]}" run "$INPUT" -o "$OUT" \
            --threads "$THREADS" --quiet
        awk '{print $1, $2 + $3}' "$TMP/t" >> "$TMP/$i.txt"
        if [[ ! -d "$TMP/ref" ]]; then
            mv "$OUT" "$TMP/ref"
        elif ! diff -rq -x report.json -x .callprep "$TMP/ref" "$OUT" > /dev/null; then
            echo "ab.sh: ${BINS[$i]} wrote different bytes from ${BINS[0]}" >&2
            touch "$TMP/differ"
        fi
    done
done
for i in "${!BINS[@]}"; do
    wall=$(cut -d' ' -f1 "$TMP/$i.txt" | median)
    cpu=$(cut -d' ' -f2 "$TMP/$i.txt" | median)
    best=$(cut -d' ' -f2 "$TMP/$i.txt" | sort -n | head -1)
    printf '%-40s median wall %5.2f s   median CPU %5.2f s   best CPU %5.2f s\n' \
        "${BINS[$i]}" "$wall" "$cpu" "$best"
done
if [[ -e "$TMP/differ" ]]; then
    echo "outputs differ (see above)"
    exit 1
fi
echo "outputs identical across binaries"
