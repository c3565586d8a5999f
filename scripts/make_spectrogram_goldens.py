"""Regenerates the spectrogram golden files in tests/golden/ with madmom 0.16.1 itself.

Run it through the Makefile (which builds the madmom venv first): `make goldens`.

It writes the test inputs (tests/golden/inputs/*.wav; the piano chord is rendered by
`entangle demo` beforehand), madmom's spectrogram of each (tests/golden/spectrogram/*.npy)
and a manifest (tests/golden/spectrogram/manifest.json) that the Rust test reads: which
input, which fps, which tolerance, and why.

madmom options are the paper's (Kelz et al. 2016): mono, 44.1 kHz, peak-normalised audio,
frame 4096, FFT 4096, log filterbank 48 bands/octave 30 Hz .. 8 kHz (fref 440), filters
normalised, unique filters, log10(1 + x).
"""

import os

# numpy's AVX-512 code paths round cos/abs/log10 differently from glibc (a few ULP): turn
# them off so the goldens do not depend on the CPU they were made on.
os.environ.setdefault(
    "NPY_DISABLE_CPU_FEATURES", "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
)

import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import wave  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.io.wavfile as wavfile  # noqa: E402
import scipy.signal  # noqa: E402

warnings.simplefilter("ignore")
import madmom  # noqa: E402
from madmom.audio.filters import LogarithmicFilterbank  # noqa: E402
from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram  # noqa: E402

assert madmom.__version__ == "0.16.1", madmom.__version__

OPTIONS = dict(
    num_channels=1,
    sample_rate=44100,
    filterbank=LogarithmicFilterbank,
    frame_size=4096,
    fft_size=4096,
    num_bands=48,
    fmin=30.0,
    fmax=8000.0,
    fref=440.0,
    norm_filters=True,
    unique_filters=True,
    circular_shift=False,
    norm=True,
)
SR = 44100
EXACT = 1e-4  # the bound at 44.1 kHz
RNG = np.random.default_rng(20170901)


def to_int16(x):
    # Never -32768: madmom's np.abs(int16) overflows on it (a madmom bug we do not copy).
    return np.clip(np.round(x * 32767), -32767, 32767).astype(np.int16)


def write_24bit(path, channels_first):
    """scipy 1.10 cannot write 24-bit PCM; the wave module can."""
    data = np.clip(np.round(channels_first * 8388607), -8388607, 8388607).astype(np.int32)
    frames = data.T.reshape(-1)
    raw = b"".join(struct.pack("<i", int(v))[:3] for v in frames)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels_first.shape[0])
        w.setsampwidth(3)
        w.setframerate(SR)
        w.writeframes(raw)


def spec(source, fps, **extra):
    opts = dict(OPTIONS, **extra)
    return np.asarray(LogarithmicFilteredSpectrogram(source, fps=fps, **opts), dtype=np.float32)


def main(out_dir):
    inputs = os.path.join(out_dir, "inputs")
    goldens = os.path.join(out_dir, "spectrogram")
    os.makedirs(goldens, exist_ok=True)
    cases = []

    def add(name, wav, fps, data, tolerance, note):
        npy = f"{name}_{fps:g}fps.npy"
        np.save(os.path.join(goldens, npy), data)
        cases.append(dict(name=name, input=wav, fps=fps, golden=npy, max_abs_diff=tolerance,
                          shape=list(data.shape), note=note))

    t2 = np.arange(2 * SR) / SR
    t1 = t2[:SR]

    # 1. Piano chord rendered by entangle (stereo 16-bit): madmom reads it itself.
    chord = "piano_chord.wav"
    for fps in (100, 25):
        add("piano_chord", chord, fps, spec(os.path.join(inputs, chord), fps), EXACT,
            "C4 E4 G4, FluidR3_GM, stereo int16; madmom loads the file")

    # 2. Logarithmic sine sweep 30 Hz -> 10 kHz, mono int16; also at a fractional hop.
    sweep = scipy.signal.chirp(t2, f0=30, t1=2.0, f1=10000, method="logarithmic") * 0.8
    wavfile.write(os.path.join(inputs, "sine_sweep.wav"), SR, to_int16(sweep))
    for fps in (100, 31):
        add("sine_sweep", "sine_sweep.wav", fps,
            spec(os.path.join(inputs, "sine_sweep.wav"), fps), EXACT,
            "mono int16; 31 fps has a fractional hop (1422.58 samples)")

    # 3. White noise, mono float32.
    noise = (RNG.uniform(-0.5, 0.5, SR)).astype(np.float32)
    wavfile.write(os.path.join(inputs, "white_noise.wav"), SR, noise)
    add("white_noise", "white_noise.wav", 100,
        spec(os.path.join(inputs, "white_noise.wav"), 100), EXACT, "mono float32")

    # 4. Silence. madmom's normalisation divides by a zero peak; we define silence as zeros
    # and check that against madmom without normalisation, which is all zeros too.
    wavfile.write(os.path.join(inputs, "silence.wav"), SR, np.zeros(SR // 2, np.int16))
    add("silence", "silence.wav", 100,
        spec(os.path.join(inputs, "silence.wav"), 100, norm=False), EXACT,
        "mono int16 zeros; madmom with norm=False (norm=True divides by zero)")

    # 5. Shorter than one frame (1000 samples < 4096).
    short = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1000) / SR)
    wavfile.write(os.path.join(inputs, "short.wav"), SR, to_int16(short))
    add("short", "short.wav", 100, spec(os.path.join(inputs, "short.wav"), 100), EXACT,
        "1000 samples, mono int16: 3 frames, all zero-padded")

    # 6. Stereo 24-bit. madmom sends 24-bit files to ffmpeg (scipy cannot mmap them) and
    # gets int16 back; we give it what scipy reads without mmap (int32, left-justified),
    # which keeps the full 24-bit resolution, and let madmom remix and normalise it.
    left = 0.6 * np.sin(2 * np.pi * 220 * t1) + 0.05 * RNG.standard_normal(SR)
    right = 0.4 * np.sin(2 * np.pi * 330 * t1 + 1.0)
    write_24bit(os.path.join(inputs, "stereo_24bit.wav"), np.stack([left, right]) * 0.9)
    rate, data = wavfile.read(os.path.join(inputs, "stereo_24bit.wav"), mmap=False)
    assert rate == SR and data.dtype == np.int32 and data.shape[1] == 2
    add("stereo_24bit", "stereo_24bit.wav", 100, spec(data, 100), EXACT,
        "stereo 24-bit; madmom fed scipy's int32 read (no ffmpeg)")

    # 7. Mono int32.
    i32 = 0.7 * np.sin(2 * np.pi * 523.25 * t1[: SR // 2]) * np.exp(-3 * t1[: SR // 2])
    wavfile.write(os.path.join(inputs, "mono_int32.wav"), SR,
                  np.round(i32 * 2147483647).astype(np.int32))
    add("mono_int32", "mono_int32.wav", 100, spec(os.path.join(inputs, "mono_int32.wav"), 100),
        EXACT, "mono int32")

    # 8. 48 kHz. madmom would resample with ffmpeg; we resample with scipy's polyphase
    # filter (another resampler than ours), so only shape and a loose bound are checked.
    t48 = np.arange(48000) / 48000
    x48 = 0.5 * np.sin(2 * np.pi * 261.63 * t48) + 0.3 * np.sin(2 * np.pi * 1046.5 * t48)
    wavfile.write(os.path.join(inputs, "rate_48k.wav"), 48000, to_int16(x48))
    _, raw = wavfile.read(os.path.join(inputs, "rate_48k.wav"))
    resampled = scipy.signal.resample_poly(raw.astype(np.float64) / 32767, 147, 160)
    add("rate_48k", "rate_48k.wav", 100, spec(resampled.astype(np.float32), 100), 0.02,
        "mono int16 at 48 kHz; reference resampled by scipy.signal.resample_poly")

    with open(os.path.join(goldens, "manifest.json"), "w") as f:
        json.dump(dict(madmom=madmom.__version__, numpy=np.__version__, options={
            k: (v.__name__ if isinstance(v, type) else v) for k, v in OPTIONS.items()},
            cases=cases), f, indent=1)
    print(f"wrote {len(cases)} goldens to {goldens}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden")
