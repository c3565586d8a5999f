//! Streaming equals in-memory: however a file arrives in blocks, the spectrogram is the same,
//! and the WAV reader's down-mix and scaling agree with the samples that were written.

use std::path::Path;

use entangle::audio::{MonoSource, WavMonoReader};
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use proptest::prelude::*;

/// Feeds a slice in the given block sizes (cycled).
struct Blocks<'a> {
    samples: &'a [f32],
    sizes: Vec<usize>,
    next: usize,
    pos: usize,
}

impl MonoSource for Blocks<'_> {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, entangle::audio::AudioError> {
        let size = self.sizes[self.next % self.sizes.len()].min(out.len());
        self.next += 1;
        let n = size.min(self.samples.len() - self.pos);
        out[..n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn sample_rate(&self) -> u32 {
        44_100
    }
}

fn signal(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            0.3 * (i as f32 * 0.05).sin() + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn streamed_blocks_give_the_in_memory_spectrogram(
        len in 0usize..30_000,
        sizes in proptest::collection::vec(1usize..5_000, 1..6),
        fps in prop_oneof![Just(100.0), Just(25.0), Just(31.0)],
        seed in any::<u64>(),
    ) {
        let samples = signal(len, seed);
        let computer = SpectrogramComputer::new(SpectrogramParams { fps, ..Default::default() }).unwrap();
        let whole = computer.compute(&samples);
        let mut source = Blocks { samples: &samples, sizes, next: 0, pos: 0 };
        let streamed = computer.compute_stream(&mut source).unwrap();
        prop_assert_eq!(whole.frames, streamed.frames);
        prop_assert_eq!(whole.frames, (len as f64 / (44_100.0 / fps)).ceil() as usize);
        for (a, b) in whole.data.iter().zip(&streamed.data) {
            prop_assert!((a - b).abs() <= 1e-6, "{} vs {}", a, b);
        }
    }
}

fn write(path: &Path, spec: hound::WavSpec, interleaved: &[i32]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    interleaved.iter().for_each(|&s| w.write_sample(s).unwrap());
    w.finalize().unwrap();
}

fn read_all(path: &Path) -> Vec<f32> {
    let mut r = WavMonoReader::open(path).unwrap();
    let mut out = vec![0.0; 7]; // an odd block size on purpose
    let mut all = Vec::new();
    loop {
        let n = r.read(&mut out).unwrap();
        if n == 0 {
            break all;
        }
        all.extend_from_slice(&out[..n]);
    }
}

#[test]
fn multichannel_integer_audio_is_down_mixed_by_the_truncated_integer_mean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.wav");
    let spec = hound::WavSpec {
        channels: 3,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // Means: 2, -1.33 -> -1 (towards zero), 32767.
    write(&path, spec, &[1, 2, 3, -1, -1, -2, 32767, 32767, 32767]);
    let got = read_all(&path);
    assert_eq!(got, vec![2.0 / 32768.0, -1.0 / 32768.0, 32767.0 / 32768.0]);
}

#[test]
fn resampled_audio_keeps_its_duration_and_pitch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone48k.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let tone: Vec<i32> = (0..48_000)
        .map(|i| {
            ((2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 48_000.0).sin() * 16_000.0) as i32
        })
        .collect();
    write(&path, spec, &tone);
    let spec = SpectrogramComputer::new(SpectrogramParams::default())
        .unwrap()
        .compute_wav(&path)
        .unwrap();
    // 1 s at 44.1 kHz -> 44100 samples -> 100 frames.
    assert_eq!(spec.frames, 100);
    // The loudest band in the middle sits at 1 kHz.
    let computer = SpectrogramComputer::new(SpectrogramParams::default()).unwrap();
    let row = spec.row(50);
    let loudest = (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap();
    let hz = computer.filterbank().bands[loudest].center_hz;
    assert!((hz - 1000.0).abs() < 25.0, "loudest band at {hz} Hz");
}

/// The streamed samples after the switch `normalize` makes (madmom's integer peak
/// normalisation, or its integer scale without).
fn streamed(path: &Path, normalize: bool) -> Vec<f32> {
    let mut r = WavMonoReader::open(path).unwrap();
    if normalize {
        let peak = WavMonoReader::container_peak(path).unwrap();
        r.use_madmom_int_normalization(peak);
    } else {
        r.use_madmom_int_scale();
    }
    let mut all = Vec::new();
    let mut out = vec![0.0; 1000];
    loop {
        match r.read(&mut out).unwrap() {
            0 => break all,
            n => all.extend_from_slice(&out[..n]),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// `read_all` (one pass; 16-bit PCM decoded from one bulk read) gives the streamed
    /// samples bit for bit, for 1 to 3 channels and 16, 24 and 32 bits.
    #[test]
    fn reading_a_whole_file_at_once_gives_the_streamed_samples(
        channels in 1u16..=3,
        bits in prop::sample::select(vec![16u16, 24, 32]),
        frames in 1usize..3000,
        seed in 0u64..1000,
        normalize in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let max = (1i64 << (bits - 1)) - 1;
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let interleaved: Vec<i32> = (0..frames * channels as usize)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as i64 % (2 * max + 1) - max) as i32 / 3
            })
            .collect();
        let spec = hound::WavSpec {
            channels,
            sample_rate: 44_100,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        write(&path, spec, &interleaved);
        let (whole, float_peak) = WavMonoReader::open(&path).unwrap().read_all(normalize).unwrap();
        prop_assert!(!float_peak || interleaved.iter().all(|&s| s == 0));
        let expected = streamed(&path, normalize);
        prop_assert_eq!(whole.len(), expected.len());
        prop_assert!(whole.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

/// A 16-bit file long enough to be read, peaked and converted in several parallel parts
/// gives the streamed samples bit for bit, with and without normalisation, mono and stereo.
/// Its loudest frames, -32768 and 32767 (the lookup table's ends), are its last: a peak in
/// the last part must still scale the first.
#[test]
fn a_long_16_bit_file_read_in_parallel_parts_gives_the_streamed_samples() {
    let dir = tempfile::tempdir().unwrap();
    for channels in [1u16, 2] {
        let path = dir.path().join(format!("long{channels}.wav"));
        let frames = 700_000usize;
        let mut interleaved: Vec<i32> = (0..frames * channels as usize)
            .map(|i| ((i * 7919) % 65_536) as i32 - 32_768)
            .map(|v| v / 4)
            .collect();
        // The loudest samples, both ends of the 16-bit range, only in the last frames.
        let c = channels as usize;
        let n = interleaved.len();
        for (frame, value) in [-32_768, 32_767, -32_768].into_iter().enumerate() {
            interleaved[n - (3 - frame) * c..][..c].fill(value);
        }
        let spec = hound::WavSpec {
            channels,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        write(&path, spec, &interleaved);
        for normalize in [true, false] {
            let (whole, float_peak) = WavMonoReader::open(&path)
                .unwrap()
                .read_all(normalize)
                .unwrap();
            assert!(!float_peak);
            let expected = streamed(&path, normalize);
            assert_eq!(whole.len(), frames);
            assert_eq!(expected.len(), frames);
            let differ = whole
                .iter()
                .zip(&expected)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ, None, "{channels} channels, normalize {normalize}");
        }
    }
}

#[test]
fn a_whole_file_read_of_a_truncated_16_bit_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    write(&path, spec, &vec![1000; 2 * 44_100]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let err = WavMonoReader::open(&path)
        .unwrap()
        .read_all(true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cut.wav: WAV file is truncated"), "{err}");
}
