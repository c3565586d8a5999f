#!/usr/bin/env bash
# Copies the committed results of `entangle run pipelines/systems.toml` into
# pipelines/results/systems/: the suite's report and side-by-side figures, and per test set
# and system its report (`entangle report` on the system's analysis directory) with its
# figures, its positions figure, and the test set's positions figure of every network and
# system side by side. SVG only (the PNGs are for looking at).
#
# Usage: scripts/collect-systems-results.sh RUNS   (the `runs/` directory the suite wrote)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
runs="$(realpath "${1:?usage: scripts/collect-systems-results.sh RUNS}")"
bin="$(realpath "${ENTANGLE_BIN:-target/release/entangle}")"
dest=pipelines/results/systems
mkdir -p "$dest/figures"
cp "$runs/systems/report.md" "$dest/report.md"
cp "$runs"/systems/figures/*.svg "$dest/figures/"
for set in fluid-combi fluid-isol synth-mus; do
  mkdir -p "$dest/$set"
  cp "$runs/$set/figures/positions-side-by-side.svg" "$dest/$set/"
  for analysis in "$runs/$set"/systems/*/analysis; do
    system="$(basename "$(dirname "$analysis")")"
    "$bin" report "$analysis" --formats svg > /dev/null
    for figure in "$analysis"/figures/*-"$system".svg; do
      cp "$figure" "$dest/$set/"
    done
    cp "$analysis/figures/positions.svg" "$dest/$set/positions-$system.svg"
    # The report's figures sit next to it here.
    sed -e "1s#.*#\# Analysis report: $system on the $set test split (entangle run pipelines/systems.toml)#" \
      -e "s#figures/positions\.svg#positions-$system.svg#g" -e 's#figures/##g' \
      "$analysis/report.md" > "$dest/$set/report-$system.md"
  done
done
