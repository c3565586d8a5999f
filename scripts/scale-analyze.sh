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
#   - with WATCH=1 also `entangle watch -w 2` over a hard-linked copy of the predictions,
#     replacing one file (1 % of the frames at 100 files) per round for 10 rounds: the mean
#     round (scan, evaluation, aggregation, table writing; its `round done` log line) against
#     the batch run's own time (`seconds` in its analysis.json, 2 workers),
#   - with ROW_GROUPS=1 also the same predictions as one table with a row group per file
#     (scripts/group_predictions.py): a batch run over it, and `entangle watch -w 2` rounds
#     that each rewrite the table with one more group replaced (1 % of the frames; watch
#     evaluates only the changed group), timed as above against that batch run,
# (DUCKDB=0: without it) and prints one line per run (ONLY_WATCH=1: the 2-worker batch run and the watch rounds only).
# The generated data is deleted at the end unless KEEP=1.
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
if [ "${ONLY_WATCH:-0}" != 1 ]; then
read -r s m < <(measure "${analyze[@]}" --out "$work/out-w1" --predictions "$data/predictions" -w 1)
report "analyze, 1 worker" "$total" "$s" "$m"
fi
read -r s m < <(measure "${analyze[@]}" --out "$work/out-w2" --predictions "$data/predictions" -w 2)
report "analyze, 2 workers" "$total" "$s" "$m"
if [ "${ONLY_WATCH:-0}" != 1 ]; then
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
if [ "${DUCKDB:-1}" = 1 ] && "$ENTANGLE_PYTHON" -c 'import duckdb' 2> /dev/null; then
  rm -f "$work"/stdout.*.txt
  read -r s m < <(measure "$ENTANGLE_PYTHON" scripts/duckdb_combinations.py "$data")
  d=$(cat "$work"/stdout.*.txt | awk '/^duckdb_seconds/ {print $2}')
  report "DuckDB GROUP BY, 2 threads (best of 3)" "$total" "$d" "$m"
  echo "  (DuckDB process with 3 runs: $s s)"
fi
fi
# Runs `entangle watch -w 2` over $work/watched for 11 rounds, calling `$1 R` during the poll
# pause after round R (R = 1..10) to change the inputs, and prints the mean round of rounds
# 2..11: the time between the ends of two rounds (their change-log lines) less the poll pause,
# the same for any version of entangle, so comparable.
watch_rounds() {
  local change="$1" log="$work/watch.log"
  # A log left by an earlier run would count its rounds before this one truncates it.
  rm -rf "$log" "$work/out-watch"
  "$bin" watch --labels "$data/labels.parquet" --out "$work/out-watch" "$work/watched" -w 2 \
    --rounds 11 --poll 0.5 --settle 0 -v > "$log" 2>&1 &
  local pid=$! r done
  for r in $(seq 1 10); do
    while :; do
      done=$(grep -c "change log appended" "$log" 2> /dev/null || true)
      [ "${done:-0}" -ge "$r" ] && break
      kill -0 "$pid" 2> /dev/null || { tail "$log" >&2; return 1; }
      sleep 0.05
    done
    "$change" "$r"
  done
  wait "$pid"
  sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep "change log appended" |
    awk '{split($1, t, "T"); split(t[2], h, ":"); s = h[1] * 3600 + h[2] * 60 + h[3]; if (NR > 1) {d += s - last - 0.5; n++}; last = s}
         END {printf "%.4f", d / n}'
}
# What the batch run `out` took in-process (`seconds` in its analysis.json).
batch_seconds() {
  "$ENTANGLE_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["seconds"])' "$1/analysis.json"
}
# "ROUND ms a round; batch BATCH s: RATIOx"
rounds_against() {
  printf '%.1f ms a round; batch (2 workers, in-process) %.3f s: %.0fx\n' \
    "$(awk -v m="$1" 'BEGIN {print m * 1000}')" "$2" "$(awk -v m="$1" -v b="$2" 'BEGIN {print b / m}')"
}
if [ "${WATCH:-0}" = 1 ]; then
  staged="$work/staged"
  rm -rf "$staged" "$work/watched"
  "$ENTANGLE_PYTHON" scripts/gen_analysis_data.py "$staged" 10 "$frames" --replacements
  cp -al "$data/predictions" "$work/watched"
  replace_file() { local name; name=$(printf 'piece%05d.parquet' $(($1 - 1))); mv "$staged/predictions/$name" "$work/watched/$name"; }
  mean=$(watch_rounds replace_file)
  echo "watch, 2 workers, replace one file ($frames frames): $(rounds_against "$mean" "$(batch_seconds "$work/out-w2")")"
  rm -rf "$staged" "$work/watched" "$work/out-watch"
fi
if [ "${ROW_GROUPS:-0}" = 1 ]; then
  grouped="$work/grouped-$files-$frames"
  rm -rf "$work/staged" "$work/watched" "$work/out-table"
  if [ ! -f "$grouped/table-10.parquet" ]; then
    "$ENTANGLE_PYTHON" scripts/gen_analysis_data.py "$work/staged" 10 "$frames" --replacements
    "$ENTANGLE_PYTHON" scripts/group_predictions.py "$data" "$work/staged" "$grouped" 10
    rm -rf "$work/staged"
  fi
  read -r s m < <(measure "${analyze[@]}" --out "$work/out-table" --predictions "$grouped/table-00.parquet" -w 2)
  report "analyze, 2 workers, one table" "$total" "$s" "$m"
  mkdir -p "$work/watched"
  cp "$grouped/table-00.parquet" "$work/watched/table.parquet"
  # Renamed into place, as a writer that rewrites a table should.
  rewrite_table() {
    cp "$grouped/$(printf 'table-%02d.parquet' "$1")" "$work/watched/.table.tmp"
    mv "$work/watched/.table.tmp" "$work/watched/table.parquet"
  }
  mean=$(watch_rounds rewrite_table)
  echo "watch, 2 workers, one table, one of its $files row groups replaced: $(rounds_against "$mean" "$(batch_seconds "$work/out-table")")"
  rm -rf "$work/watched" "$work/out-watch" "$work/out-table"
fi
if [ "${KEEP:-0}" != 1 ]; then
  rm -rf "$work/grouped-$files-$frames"
  rm -f "$work"/stdout.*.txt "$work"/time.*.log
  rm -rf "$data" "$work"/out-w1 "$work"/out-w2 "$work"/out-p2 "$work"/out-half
fi
