#!/usr/bin/env bash
# Speed of the systems in entangle against their own Python inference, on the test split of
# MANIFEST, same files, same number of threads (Python: THREADS ONNX Runtime intra-op threads;
# entangle: THREADS workers, files side by side, each session on one intra-op thread so that
# the tables do not depend on the count), WAV to posteriorgram (Python:
# after imports and model loading, one warm-up file; entangle: the whole `system predict`,
# including start-up and writing its tables; and the whole `analyze --system`, the system on
# the dataflow's workers, labels framed, tables written). Prints frames/s for each.
#
# Usage: scripts/time-systems.sh MANIFEST [THREADS (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
manifest="$1"; threads="${2:-2}"
bin="${ENTANGLE_BIN:-target/release/entangle}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$ENTANGLE_PYTHON" - "$manifest" > "$work/paths.txt" <<'PY'
import os, sys, duckdb
m = sys.argv[1]
for (p,) in duckdb.sql(f"SELECT path FROM '{m}' WHERE split = 'test' ORDER BY shard").fetchall():
    print(p if os.path.isabs(p) else os.path.join(os.path.dirname(m), p))
PY
for system in basic-pitch adsr-cnn; do
  .venv-systems/bin/python scripts/time_systems.py "$work/paths.txt" "$system" "$threads"
  start=$(date +%s.%N)
  "$bin" system predict --system "systems/$system.toml" --manifest "$manifest" \
    --workers "$threads" --out "$work/$system" 2>/dev/null
  end=$(date +%s.%N)
  frames=$("$ENTANGLE_PYTHON" -c "import duckdb,sys; print(duckdb.sql(f\"SELECT count(*) FROM '{sys.argv[1]}'\").fetchall()[0][0])" "$work/$system/predictions.parquet")
  "$ENTANGLE_PYTHON" -c "import sys; f, s = int(sys.argv[1]), float(sys.argv[2]); print(f'$system entangle: {f} frames in {s:.2f} s: {f / s:.0f} frames/s ($threads workers)')" "$frames" "$(echo "$end - $start" | bc)"
  start=$(date +%s.%N)
  "$bin" analyze --manifest "$manifest" --split test --system "systems/$system.toml" \
    -w "$threads" --out "$work/$system-analysis" 2>/dev/null
  end=$(date +%s.%N)
  frames=$("$ENTANGLE_PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['labelled_frames'])" "$work/$system-analysis/analysis.json")
  "$ENTANGLE_PYTHON" -c "import sys; f, s = int(sys.argv[1]), float(sys.argv[2]); print(f'$system entangle analyze --system: {f} frames in {s:.2f} s: {f / s:.0f} frames/s ($threads workers)')" "$frames" "$(echo "$end - $start" | bc)"
done
