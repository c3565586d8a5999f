"""Times madmom 0.16.1's spectrogram on the benchmark's audio (benches/spectrogram.rs):
10 minutes, 100 fps, the paper's options, one thread. Prints real-time factors, to set next
to the criterion figures (`make bench`).

The audio is regenerated with the same formula as the bench (float32, in memory), so file
reading is excluded on both sides.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

warnings.simplefilter("ignore")
from madmom.audio.filters import LogarithmicFilterbank  # noqa: E402
from madmom.audio.signal import Signal  # noqa: E402
from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram  # noqa: E402

SECONDS = 600
SR = 44100


def bench_audio():
    n = SECONDS * SR
    t = np.arange(n, dtype=np.float32) / np.float32(SR)
    env = np.exp(-(t % 1.0) * 3.0)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, n).astype(np.float32)
    tone = np.sin(2 * np.pi * 261.63 * t) + 0.5 * np.sin(2 * np.pi * 392.0 * t)
    return (0.3 * env * tone + 0.01 * noise).astype(np.float32)


def main():
    audio = bench_audio()
    signal = Signal(audio, sample_rate=SR, num_channels=1)
    options = dict(filterbank=LogarithmicFilterbank, frame_size=4096, fft_size=4096, fps=100,
                   num_bands=48, fmin=30.0, fmax=8000.0, fref=440.0, norm_filters=True,
                   unique_filters=True, circular_shift=False)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        spec = LogarithmicFilteredSpectrogram(signal, **options)
        best = min(best, time.perf_counter() - start)
    frames = spec.shape[0]
    print(f"madmom 0.16.1: {frames} frames x {spec.shape[1]} bands in {best:.2f} s: "
          f"{frames / best:,.0f} frames/s, {SECONDS / best:.0f}x real time")


if __name__ == "__main__":
    main()
