# entangle: the two commands a new user runs (see README.md).
#   make demo   the main job (installs what it needs, builds, runs the end-to-end demo)
#   make test   the whole test suite (installs what it needs, lint, all tests)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
VENV ?= .venv
ENV := source scripts/env.sh &&

.PHONY: demo test setup system-deps venv systems lint bench goldens music21-midi clean-venv

# The end-to-end demo: pipelines/demo.toml (FLUID-COMBI, two networks, a few short epochs)
# -> runs/demo/ (tables, figures, report.md). Trains, hence both binaries: `entangle` and
# the `entangle-train` it hands training jobs to (crates/entangle-train, libtorch).
demo: setup
	$(ENV) $(CARGO) build --release --workspace --bins --quiet
	$(ENV) target/release/entangle run pipelines/demo.toml

# Both crates; `train` marks the tests that need the entangle-train binary, which the
# workspace build puts beside entangle.
test: setup lint
	$(ENV) $(CARGO) build --release --workspace --bins
	$(ENV) $(CARGO) test --release --workspace --all-features --all-targets

setup: system-deps venv systems

system-deps:
	@scripts/install-system-deps.sh

venv:
	@scripts/setup-venv.sh $(VENV)

# Third-party systems (systems/*.toml): their ONNX files into .cache/systems (sha256 checked,
# never committed), and their own Python code in .venv-systems for the parity tests.
systems:
	@scripts/fetch-systems.sh
	@scripts/setup-systems-venv.sh

lint:
	$(CARGO) fmt --all --check
	$(ENV) $(CARGO) clippy --release --workspace --all-features --all-targets --quiet -- -D warnings

bench: setup
	$(ENV) $(CARGO) bench --all-features --bench spectrogram --bench render --bench inference --bench analysis
	$(ENV) $(CARGO) bench -p entangle-train --bench train
	scripts/time-madmom.sh
	$(ENV) $$ENTANGLE_PYTHON scripts/time_onnxruntime.py target/bench-models

# Regenerates tests/golden/ with madmom 0.16.1 and mir_eval themselves (a separate venv:
# madmom needs old numpy).
goldens:
	scripts/setup-madmom-venv.sh .venv-oracle
	$(CARGO) run --release --quiet -- demo --out target/golden-chord >/dev/null
	cp target/golden-chord/chord.wav tests/golden/inputs/piano_chord.wav
	.venv-oracle/bin/python scripts/make_spectrogram_goldens.py tests/golden
	.venv-oracle/bin/python scripts/make_metric_goldens.py tests/golden/metrics/multipitch.json

# Real compositions from the corpus inside the music21 wheel, as MIDI, for
# `entangle synth maps-like --midi-dir data/music21-midi` (40 pieces, 153 minutes).
music21-midi:
	@[ -x .venv-music21/bin/python ] || python3 -m venv .venv-music21
	.venv-music21/bin/python -m pip install --quiet --disable-pip-version-check music21==10.5.1 mido==1.3.3
	.venv-music21/bin/python scripts/export_music21_midi.py data/music21-midi

clean-venv:
	rm -rf $(VENV) .venv-oracle .venv-music21 .venv-systems
