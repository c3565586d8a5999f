#!/usr/bin/env bash
# `entangle analyze` at corpus scale, as whole processes (wall time and peak RSS from
# /usr/bin/time -v), next to the DuckDB reference (scripts/duckdb_combinations.py, 2 threads)
# on the same files. Generates FILES shards of FRAMES frames (labels.parquet plus one
# predictions file per shard, scripts/gen_analysis_data.py; the data of benches/analysis.rs)
# into WORKDIR, runs
#   - 1 process x 1 worker, 1 process x 2 workers, 2 processes x 1 worker (loopback),
#   - DuckDB (best of 3 inside one process; its peak RSS is that process's),
#   - with FLAT=1 also 1 worker over the first half of the prediction files (what the
#     predictions cost in memory: the growth per million predicted frames),
# and prints one line per run. The generated data is deleted at the end unless KEEP=1.
#
# Usage: scripts/scale-analyze.sh WORKDIR [FILES [FRAMES]]   (default 100 x 100000 = 10 M)
#   e.g. scripts/scale-analyze.sh /tmp/scale 1000 100000     (100 M frames, ~7 GB on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
work="${1:?usage: scripts/scale-analyze.sh WORKDIR [FILES [FRAMES]]}"
files="${2:-100}"
frames="${3:-100000}"
bin="${ENTANGLE_BIN:-target/release/entangle}"
data="$work/data-$files-$frames"
total=$((files * frames))
if [ ! -f "$data/labels.parquet" ]; then
  echo "generating $files x $frames frames into $data"
  "$ENTANGLE_PYTHON" scripts/gen_analysis_data.py "$data" "$files" "$frames"
fi
du -shL "$data"
# Wall seconds and peak RSS (MiB) of a command, from GNU time's verbose report.
measure() {
  local log="$work/time.$BASHPID.log"
  /usr/bin/time -v "$@" > "$work/stdout.$BASHPID.txt" 2> "$log" || { tail -20 "$log" >&2; return 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]}
              /Maximum resident set size/ {m = $2 / 1024}
              END {printf "%.2f %.0f\n", s, m}' "$log"
}
report() {
  local label="$1" frames="$2" seconds="$3" mib="$4"
  printf '%-34s %6.2f s  %6.2f M frames/s  %6.0f MiB peak\n' "$label" "$seconds" \
    "$(awk -v f="$frames" -v s="$seconds" 'BEGIN {print f / s / 1e6}')" "$mib"
}
analyze=("$bin" analyze --labels "$data/labels.parquet")
read -r s m < <(measure "${analyze[@]}" --out "$work/out-w1" --predictions "$data/predictions" -w 1)
report "analyze, 1 worker" "$total" "$s" "$m"
read -r s m < <(measure "${analyze[@]}" --out "$work/out-w2" --predictions "$data/predictions" -w 2)
report "analyze, 2 workers" "$total" "$s" "$m"
if [ "${FLAT:-0}" = 1 ]; then
  half=("$data"/predictions/*.parquet)
  half=("${half[@]:0:$((files / 2))}")
  read -r s m < <(measure "${analyze[@]}" --out "$work/out-half" --predictions "${half[@]}" -w 1)
  report "analyze, 1 worker, half the predictions" "$((total / 2))" "$s" "$m"
fi
# Two processes x 1 worker on loopback ports picked free; the slower process's time and the
# larger peak count (each process loads the labels).
hosts="$work/hosts.txt"
"$ENTANGLE_PYTHON" - > "$hosts" <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
for s in socks:
    print(f"127.0.0.1:{s.getsockname()[1]}")
PY
measure "${analyze[@]}" --out "$work/out-p2" --predictions "$data/predictions" -w 1 --processes 2 --process 1 --hostfile "$hosts" > "$work/p1.txt" &
read -r s0 m0 < <(measure "${analyze[@]}" --out "$work/out-p2" --predictions "$data/predictions" -w 1 --processes 2 --process 0 --hostfile "$hosts")
wait
read -r s1 m1 < "$work/p1.txt"
report "analyze, 2 processes x 1 worker" "$total" "$(awk -v a="$s0" -v b="$s1" 'BEGIN {print (a > b ? a : b)}')" \
  "$(awk -v a="$m0" -v b="$m1" 'BEGIN {print (a > b ? a : b)}')"
cmp -s "$work/out-w1/combinations.parquet" "$work/out-w2/combinations.parquet" &&
  cmp -s "$work/out-w1/combinations.parquet" "$work/out-p2/combinations.parquet" &&
  echo "tables: identical (1 worker, 2 workers, 2 processes)" || echo "tables: DIFFER"
if "$ENTANGLE_PYTHON" -c 'import duckdb' 2> /dev/null; then
  rm -f "$work"/stdout.*.txt
  read -r s m < <(measure "$ENTANGLE_PYTHON" scripts/duckdb_combinations.py "$data")
  d=$(cat "$work"/stdout.*.txt | awk '/^duckdb_seconds/ {print $2}')
  report "DuckDB GROUP BY, 2 threads (best of 3)" "$total" "$d" "$m"
  echo "  (DuckDB process with 3 runs: $s s)"
fi
if [ "${KEEP:-0}" != 1 ]; then
  rm -f "$work"/stdout.*.txt "$work"/time.*.log
  rm -rf "$data" "$work"/out-w1 "$work"/out-w2 "$work"/out-p2 "$work"/out-half
fi
