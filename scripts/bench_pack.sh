#!/usr/bin/env bash
# scripts/bench_pack.sh -- `callprep pack` vs `tar cf` of the same files to the same disk.
#
# Usage:
#   scripts/bench_pack.sh DATA SCRATCH [REPEATS]
#
#   DATA     an output folder of `callprep run`/`mel` (manifest.jsonl + .npy files), read-only
#   SCRATCH  a folder on the disk to write to (each run writes a fresh subfolder, removed after)
#   REPEATS  repetitions (default 5); medians are reported
#   Environment: CALLPREP=path overrides the binary (default target/release/callprep).
#
# Runs, interleaved, each repetition:
#   tar        tar cf SCRATCH/t/data.tar -C DATA manifest.jsonl <every .npy of the manifest>
#   tar+fsync  the same, then `sync` on the file (pack makes every shard durable)
#   pack       callprep pack DATA -o SCRATCH/p -q            (256 MiB shards, fsync'ed)
#   pack-age   callprep pack DATA -o SCRATCH/p -q --encrypt-to <a fresh age key>
# and prints per configuration the median wall time, MB/s of input, and the peak RSS
# (/usr/bin/time -v). The page cache is warm for all (DATA is read once first), and
# every run starts after a `sync` (no writeback left over from the run before).
set -euo pipefail
DATA=$(realpath "$1"); SCRATCH=$2; REPEATS=${3:-5}
BIN=${CALLPREP:-$(dirname "$0")/../target/release/callprep}
mkdir -p "$SCRATCH"; SCRATCH=$(realpath "$SCRATCH")
LIST=$SCRATCH/members.txt
python3 - "$DATA" > "$LIST" <<'PY'
import json, sys
print("manifest.jsonl")
for line in open(sys.argv[1] + "/manifest.jsonl"):
    print(json.loads(line)["mel_filepath"])
PY
BYTES=$(cd "$DATA" && xargs -d '\n' stat -c %s < "$LIST" | awk '{s+=$1} END {print s}')
rm -f "$SCRATCH/key.txt"; age-keygen -o "$SCRATCH/key.txt" 2>/dev/null
PUB=$(grep -o 'age1[0-9a-z]*' "$SCRATCH/key.txt")
cat "$DATA"/manifest.jsonl > /dev/null; (cd "$DATA" && xargs -d '\n' cat < "$LIST" > /dev/null)
declare -A T R
run() { # name, command...
  local name=$1; shift
  rm -rf "$SCRATCH/t" "$SCRATCH/p"; mkdir -p "$SCRATCH/t"
  sync  # the previous run's deletes and writeback are not this run's cost
  /usr/bin/time -f '%e %M' -o "$SCRATCH/time.txt" "$@"
  read -r sec kb < "$SCRATCH/time.txt"
  T[$name]+="$sec "; R[$name]+="$kb "
}
for i in $(seq "$REPEATS"); do
  run tar       tar cf "$SCRATCH/t/data.tar" -C "$DATA" -T "$LIST"
  run tar+fsync sh -c "tar cf '$SCRATCH/t/data.tar' -C '$DATA' -T '$LIST' && sync '$SCRATCH/t/data.tar'"
  run pack      "$BIN" pack "$DATA" -o "$SCRATCH/p" -q
  run pack-age  "$BIN" pack "$DATA" -o "$SCRATCH/p" -q --encrypt-to "$PUB"
done
rm -rf "$SCRATCH/t" "$SCRATCH/p"
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf 'input: %s files, %.1f MB; %s repeats\n' "$(wc -l < "$LIST")" "$(echo "$BYTES/1000000" | bc -l)" "$REPEATS"
printf '%-10s %9s %9s %12s  %s\n' config median_s MB/s peak_RSS_MB all_s
for c in tar tar+fsync pack pack-age; do
  m=$(echo "${T[$c]}" | median); r=$(echo "${R[$c]}" | tr ' ' '\n' | grep . | sort -n | tail -1)
  printf '%-10s %9.2f %9.0f %12.1f  %s\n' "$c" "$m" "$(echo "$BYTES/1000000/$m" | bc -l)" "$(echo "$r/1024" | bc -l)" "${T[$c]}"
done
