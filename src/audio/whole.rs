//! A whole WAV file in memory at once ([`WavMonoReader::read_all`]), for `entangle
//! spectrogram`, which then computes the frames in parallel: the same samples, bit for bit,
//! as streaming [`MonoSource::read`] gives.
//!
//! Reading is on the critical path of one long file (everything after it runs on all
//! cores), so it runs on rayon's threads as well: 16-bit PCM is read with positioned reads
//! of disjoint parts of the data chunk, the peak is taken part by part, and each sample is
//! converted by a lookup into a table of the 65,536 possible values' samples (built with the
//! same [`ints_to_samples`] the streaming path uses, so the lookup is exact; the conversion
//! itself is two `f64` divisions a sample).

use std::fs::File;
use std::io::Seek;

use rayon::prelude::*;

use super::{
    AudioError, BLOCK_FRAMES, MonoSource, SampleEncoding, WavMonoReader, check_complete,
    ints_to_samples, madmom_int_normalization,
};

/// Frames per parallel task: large enough to amortise a task, small enough to spread a
/// 30-second file over the cores.
const TASK_FRAMES: usize = 1 << 18;

/// A whole integer file's down-mixed samples in container units: 16-bit PCM kept as its
/// bytes (a quarter of the memory of the values, decoded part by part on each pass), wider
/// formats as values.
enum MixedInts {
    Pcm16 { bytes: Vec<u8>, channels: usize },
    Wide(Vec<i32>),
}

impl MixedInts {
    /// The largest absolute down-mixed value.
    fn peak(&self) -> i64 {
        match self {
            Self::Pcm16 { bytes, channels } => bytes
                .par_chunks(TASK_FRAMES * 2 * channels)
                .map(|part| {
                    let mut peak = 0;
                    for_each_pcm16_block(part, *channels, |values| {
                        peak = values.iter().fold(peak, |p: i32, &x| p.max(x.abs()));
                    });
                    i64::from(peak)
                })
                .max()
                .unwrap_or(0),
            Self::Wide(values) => values
                .par_chunks(TASK_FRAMES)
                .map(|part| part.iter().fold(0, |p, &x| p.max(i64::from(x).abs())))
                .max()
                .unwrap_or(0),
        }
    }

    /// The samples, as [`ints_to_samples`] makes them.
    fn samples(&self, normalization: Option<(f64, f64)>, bits: u16, shift: u32) -> Vec<f32> {
        match self {
            Self::Pcm16 { bytes, channels } => {
                let table = Pcm16Table::new(normalization, bits, shift);
                let mut samples = vec![0.0f32; bytes.len() / (2 * channels)];
                samples
                    .par_chunks_mut(TASK_FRAMES)
                    .zip(bytes.par_chunks(TASK_FRAMES * 2 * channels))
                    .for_each(|(out, part)| table.convert(part, *channels, out));
                samples
            }
            Self::Wide(values) => {
                let mut samples = vec![0.0f32; values.len()];
                samples
                    .par_chunks_mut(TASK_FRAMES)
                    .zip(values.par_chunks(TASK_FRAMES))
                    .for_each(|(out, part)| {
                        ints_to_samples(normalization, bits, shift, part, out);
                    });
                samples
            }
        }
    }
}

/// Calls `f` on consecutive blocks of the down-mixed values of 16-bit PCM `bytes` (the
/// integer mean truncated towards zero, as [`WavMonoReader::read_mixed_ints`] takes it).
fn for_each_pcm16_block(bytes: &[u8], channels: usize, mut f: impl FnMut(&[i32])) {
    let mut block = Vec::with_capacity(BLOCK_FRAMES);
    let value = |b: &[u8]| i32::from(i16::from_le_bytes([b[0], b[1]]));
    for chunk in bytes.chunks(BLOCK_FRAMES * 2 * channels) {
        block.clear();
        if channels == 1 {
            block.extend(chunk.chunks_exact(2).map(value));
        } else {
            block.extend(chunk.chunks_exact(2 * channels).map(|frame| {
                let sum: i32 = frame.chunks_exact(2).map(value).sum();
                sum / channels as i32
            }));
        }
        f(&block);
    }
}

/// The sample of every 16-bit value (down-mixed values of 16-bit files are 16-bit values
/// too), indexed by the value's bits.
struct Pcm16Table(Box<[f32; 1 << 16]>);

impl Pcm16Table {
    fn new(normalization: Option<(f64, f64)>, bits: u16, shift: u32) -> Self {
        let values: Vec<i32> = (0..=u16::MAX).map(|v| i32::from(v as i16)).collect();
        let mut table = Box::new([0.0f32; 1 << 16]);
        ints_to_samples(normalization, bits, shift, &values, &mut table[..]);
        Self(table)
    }

    fn get(&self, value: i32) -> f32 {
        // Down-mixed 16-bit values lie in i16's range; the cast keeps their bits.
        self.0[usize::from(value as i16 as u16)]
    }

    /// The samples of 16-bit PCM `bytes` with `channels` channels into `out`.
    fn convert(&self, bytes: &[u8], channels: usize, out: &mut [f32]) {
        if channels == 1 {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = self.0[usize::from(u16::from_le_bytes([b[0], b[1]]))];
            }
            return;
        }
        let mut first = 0;
        for_each_pcm16_block(bytes, channels, |values| {
            for (o, &v) in out[first..first + values.len()].iter_mut().zip(values) {
                *o = self.get(v);
            }
            first += values.len();
        });
    }
}

impl WavMonoReader {
    /// The whole file as mono samples, as streaming [`MonoSource::read`] would give them.
    /// With `normalize`, integer files get madmom's integer peak normalisation (the peak
    /// taken from the same read); the returned flag says the samples still need a float
    /// peak normalisation (formats without an integer container, silent files).
    pub fn read_all(mut self, normalize: bool) -> Result<(Vec<f32>, bool), AudioError> {
        let (SampleEncoding::Int { bits }, Some((shift, max))) =
            (self.info.encoding, self.madmom_container())
        else {
            let mut samples = vec![0.0f32; self.frames_left as usize];
            let mut filled = 0;
            while filled < samples.len() {
                match self.read(&mut samples[filled..])? {
                    0 => break,
                    n => filled += n,
                }
            }
            samples.truncate(filled);
            return Ok((samples, normalize));
        };
        let mixed = self.read_all_mixed_ints()?;
        let normalization = if normalize {
            madmom_int_normalization(mixed.peak(), max)
        } else {
            Some((1.0, max as f64))
        };
        let samples = mixed.samples(normalization, bits, shift);
        Ok((samples, normalize && normalization.is_none()))
    }

    /// Every remaining frame of an integer file. 16-bit PCM, by far the most common, is read
    /// from the data chunk (hound's reader stands at its start) in parallel parts; other
    /// widths go through hound.
    fn read_all_mixed_ints(mut self) -> Result<MixedInts, AudioError> {
        let channels = usize::from(self.info.channels);
        if self.info.encoding != (SampleEncoding::Int { bits: 16 }) {
            let mut mixed = Vec::with_capacity(self.frames_left as usize);
            let mut block = Vec::new();
            while self.read_mixed_ints(BLOCK_FRAMES, &mut block)? > 0 {
                mixed.extend_from_slice(&block);
            }
            return Ok(MixedInts::Wide(mixed));
        }
        let read_error = |path: &std::path::Path, e: std::io::Error| AudioError::NotWav {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut data = self.reader.into_inner();
        let start = data
            .stream_position()
            .map_err(|e| read_error(&self.path, e))?;
        let file = data.into_inner();
        let mut bytes = vec![0u8; self.frames_left as usize * channels * 2];
        let part_len = TASK_FRAMES * 2 * channels;
        let got = bytes
            .par_chunks_mut(part_len)
            .enumerate()
            .map(|(i, part)| read_at_most(&file, part, start + (i * part_len) as u64))
            .try_fold(|| 0, |total, got| got.map(|n| total + n))
            .try_reduce(|| 0, |a, b| Ok(a + b))
            .map_err(|e| read_error(&self.path, e))?;
        check_complete(&self.path, got / 2, bytes.len() / 2)?;
        Ok(MixedInts::Pcm16 { bytes, channels })
    }
}

/// Fills `buf` from `file` at `offset`, short only at the end of the file; returns how many
/// bytes it read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
