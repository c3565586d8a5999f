#!/usr/bin/env bash
# Whole processes, same audio, same parameters (the paper's: 229 bands, 100 fps, 4096-sample
# frames): `entangle spectrogram` against madmom's LogarithmicFilteredSpectrogram in a Python
# process, on one 10-minute 16-bit WAV and on a corpus of 100 30-second WAVs (entangle: one
# call; madmom: one Python process looping over the files, as a user's script would).
# madmom comes from the systems venv (madmom-onnx 0.17.dev0, madmom's spectrogram code; numpy
# 2); `make setup` builds it. Prints the medians of 3 runs.
#
# Usage: scripts/time-spectrogram-cli.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
work="${1:-$(mktemp -d)}"
mkdir -p "$work/corpus"
py=.venv-systems/bin/python
bin=target/release/entangle
"$ENTANGLE_PYTHON" - "$work" <<'PY'
import sys, wave, numpy as np
work = sys.argv[1]
def write(path, seconds, seed):
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.exp(-(t % 1.0) * 3) * (np.sin(2 * np.pi * 261.63 * t) + 0.5 * np.sin(2 * np.pi * 392 * t))
    x += 0.01 * rng.uniform(-1, 1, t.size)
    pcm = (np.clip(x, -1, 1) * 32767).astype('<i2')
    with wave.open(path, 'wb') as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr); w.writeframes(pcm.tobytes())
write(f"{work}/long.wav", 600, 0)
for i in range(100):
    write(f"{work}/corpus/f{i:03d}.wav", 30, i + 1)
PY
cat > "$work/madmom_spec.py" <<'PY'
import sys, numpy as np
from madmom.audio.filters import LogarithmicFilterbank
from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram
opts = dict(num_channels=1, sample_rate=44100, filterbank=LogarithmicFilterbank, frame_size=4096,
            fft_size=4096, fps=100, num_bands=48, fmin=30.0, fmax=8000.0, fref=440.0,
            norm_filters=True, unique_filters=True, circular_shift=False, norm=True)
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    np.save(f"{out}/{i}.npy", np.asarray(LogarithmicFilteredSpectrogram(path, **opts), dtype=np.float32))
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
mkdir -p "$work/out-e" "$work/out-m"
run() {
  local label="$1"; shift
  local times=() mems=()
  for _ in 1 2 3; do
    read -r t m < <(timed "$@")
    times+=("$t"); mems+=("$m")
  done
  printf '%-44s %6s s  %7s KiB peak\n' "$label" \
    "$(printf '%s\n' "${times[@]}" | median)" "$(printf '%s\n' "${mems[@]}" | median)"
}
run "entangle --version" "$bin" --version
run "entangle spectrogram, 10-minute file" "$bin" spectrogram "$work/long.wav" -o "$work/out-e/long.npy"
run "madmom, 10-minute file" "$py" "$work/madmom_spec.py" "$work/out-m" "$work/long.wav"
run "entangle spectrogram, 100 x 30 s in one call" "$bin" spectrogram "$work"/corpus/*.wav --out-dir "$work/out-e"
run "madmom, 100 x 30 s in one Python loop" "$py" "$work/madmom_spec.py" "$work/out-m" "$work"/corpus/*.wav
