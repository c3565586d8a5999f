#!/usr/bin/env bash
# Create a Python virtual environment with madmom 0.16.1 (the reference
# implementation the golden spectrogram files are generated with), plus
# mir_eval and duckdb.
#
# Usage: scripts/setup-madmom-venv.sh [VENV_DIR]
#   VENV_DIR defaults to .venv-oracle in the repository root. A relative
#   VENV_DIR is taken relative to the current directory.
#   Set PYTHON to choose the interpreter (default: python3); it must be
#   CPython 3.9-3.11 (tested with 3.11.7). numpy 1.23.5 and scipy 1.10.1
#   ship no wheels for 3.12+.
#
# Idempotent: if madmom 0.16.1, mir_eval and duckdb already import in
# VENV_DIR, nothing is done. Only PyPI is contacted.
#
# Why the pins and patches (madmom 0.16.1 is from 2018):
#   numpy==1.23.5     last numpy with the np.float / np.int / np.bool aliases
#                     that madmom uses (removed in 1.24); has cp311 wheels.
#   scipy==1.10.1     cp311 wheels, supports numpy 1.23.5 (and scipy.fftpack,
#                     used by madmom's STFT).
#   cython==0.29.37   madmom's .pyx files predate Cython 3.
#   setuptools==65.5.0, wheel==0.42.0
#                     setup.py imports distutils and madmom/__init__.py
#                     imports pkg_resources; build without isolation.
#   mido==1.3.3       madmom runtime dependency (MIDI I/O).
#   mir_eval==0.8.2 (+decorator==5.3.1), duckdb==1.4.4
#                     both work with numpy 1.23.5.
#   Patches applied to the unpacked sdist (each checked):
#   1. madmom/processors.py: `from collections import MutableSequence`
#      -> `from collections.abc import MutableSequence`
#      (collections.MutableSequence was removed in Python 3.10).
#   2. setup.py: delete `setup_requires=['pytest-runner'],`
#      (would make setuptools fetch pytest-runner at build time; unneeded).
#   3. delete the Cython-0.29.0-generated *.c files shipped in the sdist,
#      so that Cython 0.29.37 regenerates them: the shipped layers.c
#      includes longintrepr.h, which Python 3.11 no longer has at that path.
#   Build: pip install --no-build-isolation (setup.py imports Cython and
#   numpy at top level, and must see the pinned versions).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo_root/.venv-oracle}"
python="${PYTHON:-python3}"

MADMOM_VERSION=0.16.1
MADMOM_SDIST_SHA256=64a86a29106e7c4e0c5f4ec96801c2d1a8492db710e4fe27e097da5517d68cb2

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

check_imports() {
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - <<'EOF' >/dev/null 2>&1
import warnings
warnings.simplefilter("ignore")
import madmom, mir_eval, duckdb
from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram
assert madmom.__version__ == "0.16.1", madmom.__version__
EOF
}

if check_imports; then
    echo "madmom $MADMOM_VERSION venv already set up at $venv"
    exit 0
fi

"$python" - <<'EOF'
import sys
if sys.implementation.name != "cpython" or not ((3, 9) <= sys.version_info[:2] <= (3, 11)):
    sys.exit("setup-madmom-venv.sh needs CPython 3.9-3.11, got %s" % sys.version)
EOF

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv at $venv"
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/constraints.txt" <<'EOF'
numpy==1.23.5
scipy==1.10.1
cython==0.29.37
setuptools==65.5.0
wheel==0.42.0
mido==1.3.3
packaging==26.3
mir_eval==0.8.2
decorator==5.3.1
duckdb==1.4.4
EOF

# build prerequisites first (setup.py imports Cython and numpy)
"$py" -m pip install -c "$work/constraints.txt" \
    setuptools wheel numpy cython scipy

# fetch the sdist (pip prepares its metadata, hence --no-build-isolation)
"$py" -m pip download --no-deps --no-binary :all: --no-build-isolation \
    -d "$work/dl" "madmom==$MADMOM_VERSION"
sdist="$work/dl/madmom-$MADMOM_VERSION.tar.gz"
echo "$MADMOM_SDIST_SHA256  $sdist" | sha256sum -c -

tar -xzf "$sdist" -C "$work"
src="$work/madmom-$MADMOM_VERSION"

# patch 1: collections ABCs moved to collections.abc (removed in 3.10)
sed -i 's/^from collections import MutableSequence$/from collections.abc import MutableSequence/' \
    "$src/madmom/processors.py"
grep -qx 'from collections.abc import MutableSequence' "$src/madmom/processors.py"
if grep -rq --include='*.py' '^from collections import .*\(Mutable\|Sequence\|Mapping\|Iterable\|Callable\)' "$src/madmom"; then
    echo "unpatched collections ABC import left in madmom" >&2
    exit 1
fi

# patch 2: no setup_requires (pytest-runner is only for `setup.py test`)
sed -i "/setup_requires=\['pytest-runner'\],/d" "$src/setup.py"
if grep -q 'setup_requires' "$src/setup.py"; then
    echo "setup_requires patch did not apply" >&2
    exit 1
fi

# patch 3: regenerate the C sources with the pinned Cython
find "$src/madmom" -name '*.c' -delete

"$py" -m pip install -c "$work/constraints.txt" --no-build-isolation "$src"
"$py" -m pip install -c "$work/constraints.txt" mir_eval duckdb

# smoke test: madmom's spectrogram on a 1 s 440 Hz sine
"$py" - "$work/sine440.wav" <<'EOF'
import sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import numpy as np
import scipy.io.wavfile as wavfile
import duckdb, mir_eval
import madmom
from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram
path = sys.argv[1]
sr = 44100
t = np.arange(sr) / sr
wavfile.write(path, sr, (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16))
spec = LogarithmicFilteredSpectrogram(
    path, num_channels=1, sample_rate=44100, frame_size=4096, fft_size=4096,
    fps=100, num_bands=48, fmin=30, fmax=8000, fref=440, norm_filters=True,
    unique_filters=True)
assert spec.shape == (100, 229), spec.shape
assert spec.dtype == np.float32, spec.dtype
assert duckdb.sql("select 42").fetchall() == [(42,)]
print("madmom %s, numpy %s, mir_eval %s, duckdb %s: OK, spectrogram %s %s"
      % (madmom.__version__, np.__version__, mir_eval.__version__,
         duckdb.__version__, spec.shape, spec.dtype))
EOF

check_imports
echo "madmom $MADMOM_VERSION venv ready at $venv"
