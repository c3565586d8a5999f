#!/usr/bin/env bash
# README Results, "Systems people use": runs basic-pitch and the ADSR CNN (systems/*.toml) over
# the test splits of existing corpora with `entangle system predict`, analyses each with
# `entangle analyze` (no training labels: `shared` is NULL), and prints the summary.
#
# Usage: scripts/systems-results.sh OUT NAME=MANIFEST [NAME=MANIFEST ...]
#   e.g. scripts/systems-results.sh runs/systems fluid-isol=runs/fluid-isol/corpus/fluid-isol.manifest.parquet
# Needs a release build (target/release/entangle) and `make setup` (the systems cache).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="$1"; shift
bin="${ENTANGLE_BIN:-target/release/entangle}"
dirs=()
for pair in "$@"; do
  name="${pair%%=*}"; manifest="${pair#*=}"
  for system in systems/*.toml; do
    sys="$(basename "$system" .toml)"
    d="$out/$name/$sys"
    "$bin" system predict --system "$system" --manifest "$manifest" --split test --out "$d/predicted"
    "$bin" analyze --labels "test=$d/predicted/labels.parquet" \
      --predictions "$d/predicted/predictions.parquet" --out "$d/analysis"
    dirs+=("$d/analysis")
  done
done
"$ENTANGLE_PYTHON" scripts/systems_summary.py "${dirs[@]}"
