#!/usr/bin/env bash
# Times madmom on the spectrogram benchmark's audio (see scripts/time_madmom.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-madmom-venv.sh .venv-oracle >/dev/null
.venv-oracle/bin/python scripts/time_madmom.py
