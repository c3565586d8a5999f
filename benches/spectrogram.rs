//! Spectrogram throughput on 10 minutes of audio at 100 fps, next to the practical limit: a
//! loop that only windows each frame and runs the 4096-point real FFT (realfft).
//! `scripts/time-madmom.sh` times madmom on the same audio for the third reference point.
//!
//! Report: ours / fft_only (target >= 0.7) and ours vs madmom (target >= 10x).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use realfft::RealFftPlanner;

const SECONDS: usize = 600;

/// Deterministic test audio: a few decaying partials over low-level noise (xorshift).
fn audio() -> Vec<f32> {
    let n = SECONDS * 44_100;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f32 / 44_100.0;
            let env = (-(t % 1.0) * 3.0).exp();
            0.3 * env
                * ((2.0 * std::f32::consts::PI * 261.63 * t).sin()
                    + 0.5 * (2.0 * std::f32::consts::PI * 392.0 * t).sin())
                + 0.01 * noise
        })
        .collect()
}

/// Window + real FFT of the same frames, nothing else: the practical limit.
fn fft_only(samples: &[f32], hop: f64, frames: usize, window: &[f32]) -> f32 {
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(4096);
    let (mut input, mut output, mut scratch) = (
        fft.make_input_vec(),
        fft.make_output_vec(),
        fft.make_scratch_vec(),
    );
    let mut acc = 0.0;
    for i in 0..frames {
        let start = (i as f64 * hop) as i64 - 2048;
        if start < 0 || start as usize + 4096 > samples.len() {
            continue;
        }
        let frame = &samples[start as usize..start as usize + 4096];
        for ((d, x), w) in input.iter_mut().zip(frame).zip(window) {
            *d = x * w;
        }
        fft.process_with_scratch(&mut input, &mut output, &mut scratch)
            .unwrap();
        acc += output[100].re;
    }
    acc
}

fn bench(c: &mut Criterion) {
    let samples = audio();
    let params = SpectrogramParams::default();
    let computer = SpectrogramComputer::new(params.clone()).unwrap();
    let frames = params.num_frames(samples.len() as u64);
    let window: Vec<f32> = (0..4096)
        .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / 4095.0).cos()) as f32)
        .collect();

    let mut group = c.benchmark_group("spectrogram_10min_100fps");
    group.sample_size(10);
    group.throughput(Throughput::Elements(frames as u64));
    group.bench_function("entangle_log_filtered", |b| {
        b.iter(|| std::hint::black_box(computer.compute(&samples)))
    });
    group.bench_function("window_plus_rfft_only", |b| {
        b.iter(|| std::hint::black_box(fft_only(&samples, params.hop(), frames, &window)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
