//! Audio ingest: WAV decoding (hound), channel down-mix, and the sample-rate policy.
//!
//! Everything downstream sees one stream of mono `f32` samples at
//! [`TARGET_SAMPLE_RATE`]. Files are *streamed* in blocks, so memory does not grow with the
//! length of the file: a ten-hour recording costs the same working memory as a ten-second one.
//! Where the whole file is wanted in memory anyway (`entangle spectrogram` computes its frames
//! in parallel), [`WavMonoReader::read_all`] reads it in parallel parts (`whole.rs`), bit for
//! bit the same samples.
//!
//! * Integer WAV (8/16/24/32 bit) is scaled to `[-1, 1)`; 32-bit float is read as is.
//! * Multi-channel audio is down-mixed by the mean. For integer formats the mean is taken in
//!   the integer domain and truncated towards zero, as madmom's `remix` does (it casts the
//!   mean back to the file's integer dtype), so our spectrograms match madmom's.
//! * Optionally, madmom's integer peak normalisation (see
//!   [`WavMonoReader::use_madmom_int_normalization`]).
//! * Other sample rates are resampled to 44.1 kHz with rubato's synchronous FFT resampler
//!   (the delay it introduces is trimmed, so sample `n` of the output is time `n / 44100`).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

mod whole;

/// The sample rate every spectrogram is computed at (the paper's, and MAPS').
pub const TARGET_SAMPLE_RATE: u32 = 44_100;

/// Samples (per channel) decoded per block while streaming.
const BLOCK_FRAMES: usize = 16_384;

/// What went wrong reading an audio file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable WAV file: {reason}")]
    NotWav { path: PathBuf, reason: String },
    #[error("{path}: unsupported WAV format: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: WAV file is truncated: {reason}")]
    Truncated { path: PathBuf, reason: String },
    #[error("{path}: WAV file contains no audio samples")]
    Empty { path: PathBuf },
    #[error("{path}: cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample {
        path: PathBuf,
        from: u32,
        to: u32,
        reason: String,
    },
    #[error("{path}: cannot write WAV: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// The sample encoding of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEncoding {
    Int { bits: u16 },
    Float32,
}

/// Header facts of a WAV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub encoding: SampleEncoding,
    /// Samples per channel, as declared by the header.
    pub frames: u64,
}

/// A stream of mono `f32` samples.
pub trait MonoSource {
    /// Fills `out` from the front and returns how many samples were written; 0 means the
    /// stream is exhausted. A short read does not mean the end.
    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError>;
    /// The rate of the samples this source yields.
    fn sample_rate(&self) -> u32;
}

/// Streams a WAV file as mono samples at its own sample rate.
pub struct WavMonoReader {
    path: PathBuf,
    info: WavInfo,
    reader: hound::WavReader<BufReader<File>>,
    frames_left: u64,
    interleaved_f32: Vec<f32>,
    interleaved_i32: Vec<i32>,
    mixed: Vec<i32>,
    /// (scaling, container max) once madmom's integer normalisation is on.
    int_normalization: Option<(f64, f64)>,
}

fn classify_hound_error(path: &Path, err: hound::Error) -> AudioError {
    let path = path.to_path_buf();
    match err {
        // hound reports a short read as `Other` with this text, std as `UnexpectedEof`.
        hound::Error::IoError(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.to_string().contains("Failed to read enough bytes") =>
        {
            AudioError::Truncated {
                path,
                reason: "the file ends before the end of its header or data chunk".into(),
            }
        }
        hound::Error::IoError(e) => AudioError::NotWav {
            path,
            reason: e.to_string(),
        },
        hound::Error::FormatError(msg) => AudioError::NotWav {
            path,
            reason: msg.to_string(),
        },
        hound::Error::Unsupported | hound::Error::InvalidSampleFormat | hound::Error::TooWide => {
            AudioError::Unsupported {
                path,
                reason: err.to_string(),
            }
        }
        hound::Error::UnfinishedSample => AudioError::Truncated {
            path,
            reason: "the data chunk ends in the middle of a sample".into(),
        },
    }
}

impl WavMonoReader {
    /// Opens `path` and validates its header.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let file = File::open(path).map_err(|source| AudioError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(AudioError::NotWav {
                path: path.to_path_buf(),
                reason: "the file is empty (0 bytes)".into(),
            });
        }
        let reader = hound::WavReader::new(BufReader::with_capacity(1 << 16, file))
            .map_err(|e| classify_hound_error(path, e))?;
        let spec = reader.spec();
        let encoding = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, bits @ 1..=32) => SampleEncoding::Int { bits },
            (hound::SampleFormat::Float, 32) => SampleEncoding::Float32,
            (format, bits) => {
                return Err(AudioError::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!("{bits}-bit {format:?} samples"),
                });
            }
        };
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(AudioError::NotWav {
                path: path.to_path_buf(),
                reason: format!(
                    "header declares {} channels at {} Hz",
                    spec.channels, spec.sample_rate
                ),
            });
        }
        // hound counts samples over all channels; `duration` is per channel. A data chunk
        // that claims more than the file holds surfaces as `Truncated` while streaming.
        let frames = u64::from(reader.duration());
        if frames == 0 {
            return Err(AudioError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            info: WavInfo {
                sample_rate: spec.sample_rate,
                channels: spec.channels,
                encoding,
                frames,
            },
            reader,
            frames_left: frames,
            interleaved_f32: Vec::new(),
            interleaved_i32: Vec::new(),
            mixed: Vec::new(),
            int_normalization: None,
        })
    }

    pub fn info(&self) -> &WavInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl WavMonoReader {
    /// madmom keeps integer audio in its numpy dtype: 16-bit as int16, 24- and 32-bit as int32
    /// (24-bit left-justified, as scipy reads it). Returns (left shift into that container,
    /// the container's maximum), or `None` for formats madmom cannot peak-normalise as
    /// integers (8-bit unsigned, float).
    fn madmom_container(&self) -> Option<(u32, i64)> {
        match self.info.encoding {
            SampleEncoding::Int { bits } if (9..=16).contains(&bits) => {
                Some((u32::from(16 - bits), i64::from(i16::MAX)))
            }
            SampleEncoding::Int { bits } if bits > 16 => {
                Some((u32::from(32 - bits), i64::from(i32::MAX)))
            }
            _ => None,
        }
    }

    /// Switches the reader to madmom's integer peak normalisation (`Signal(norm=True)` on an
    /// integer file): each down-mixed sample becomes `x / (peak / max)` truncated in the
    /// container dtype, then `/ max` (madmom scales the FFT window by `1 / max`). `peak` is
    /// the largest absolute down-mixed container value, from [`Self::container_peak`].
    /// Returns false (and changes nothing) for formats without an integer container.
    pub fn use_madmom_int_normalization(&mut self, peak: i64) -> bool {
        match self
            .madmom_container()
            .and_then(|(_, max)| madmom_int_normalization(peak, max))
        {
            Some(normalization) => {
                self.int_normalization = Some(normalization);
                true
            }
            None => false,
        }
    }

    /// Switches the reader to madmom's scaling of integer audio *without* normalisation
    /// (`Signal(norm=False)`): madmom keeps the samples in their container dtype and scales
    /// the FFT window by `1 / max` (`np.iinfo(dtype).max`, e.g. 32767), so a sample becomes
    /// `x / max`, not `x / 2^(bits - 1)`. Returns false (and changes nothing) for formats
    /// without an integer container.
    pub fn use_madmom_int_scale(&mut self) -> bool {
        match self.madmom_container() {
            Some((_, max)) => {
                self.int_normalization = Some((1.0, max as f64));
                true
            }
            None => false,
        }
    }

    /// The largest absolute down-mixed sample in container units, reading the file once.
    /// Zero for files without an integer container.
    pub fn container_peak(path: &Path) -> Result<i64, AudioError> {
        let mut reader = Self::open(path)?;
        let mut peak = 0i64;
        if reader.madmom_container().is_none() {
            return Ok(peak);
        }
        let mut mixed = Vec::new();
        while reader.read_mixed_ints(BLOCK_FRAMES, &mut mixed)? > 0 {
            peak = mixed.iter().fold(peak, |p, &x| p.max(i64::from(x).abs()));
        }
        Ok(peak)
    }

    /// Reads up to `frames` frames of an integer file, down-mixed by the integer mean
    /// (truncated towards zero, as madmom's `remix` casts the mean back to the dtype) in
    /// container units.
    fn read_mixed_ints(
        &mut self,
        frames: usize,
        mixed: &mut Vec<i32>,
    ) -> Result<usize, AudioError> {
        let frames = (frames as u64).min(self.frames_left) as usize;
        mixed.clear();
        if frames == 0 {
            return Ok(0);
        }
        let channels = usize::from(self.info.channels);
        let wanted = frames * channels;
        let shift = self.madmom_container().map_or(0, |c| c.0);
        let buf = &mut self.interleaved_i32;
        buf.clear();
        for sample in self.reader.samples::<i32>().take(wanted) {
            buf.push(sample.map_err(|e| classify_hound_error(&self.path, e))?);
        }
        check_complete(&self.path, buf.len(), wanted)?;
        mixed.extend(buf.chunks_exact(channels).map(|frame| {
            let sum: i64 = frame.iter().map(|&s| i64::from(s) << shift).sum();
            // The mean of container values is a container value.
            (sum / channels as i64) as i32
        }));
        self.frames_left -= frames as u64;
        Ok(frames)
    }
}

/// Down-mixed container ints as samples: with `normalization` (scaling, container max),
/// madmom's `(x / scaling).astype(dtype) / max` (the cast truncates towards zero, exactly:
/// `|x / scaling| <= max`); without, full scale to `[-1, 1)` for `bits` samples shifted left
/// by `shift` into their container.
fn ints_to_samples(
    normalization: Option<(f64, f64)>,
    bits: u16,
    shift: u32,
    mixed: &[i32],
    out: &mut [f32],
) {
    match normalization {
        Some((scaling, max)) => {
            for (o, &x) in out.iter_mut().zip(mixed) {
                // i32 casts, unlike i64 ones, vectorise on every x86-64.
                *o = (((x as f64 / scaling) as i32) as f64 / max) as f32;
            }
        }
        None => {
            let scale = 1.0 / (1u64 << (u32::from(bits) + shift - 1)) as f64;
            for (o, &x) in out.iter_mut().zip(mixed) {
                *o = (x as f64 * scale) as f32;
            }
        }
    }
}

impl WavMonoReader {
    /// The whole file as `librosa.load(path, sr=None, mono=True)` gives it: integer samples
    /// scaled to `[-1, 1)` in `f32` as soundfile reads them, then the channels averaged in
    /// `f32` (numpy's `mean` over the channel axis: summed in order, then divided), where
    /// [`MonoSource::read`] averages the integers as madmom does.
    pub fn read_all_as_librosa(mut self) -> Result<Vec<f32>, AudioError> {
        let channels = usize::from(self.info.channels);
        let wanted = self.frames_left as usize * channels;
        let interleaved: Vec<f32> = match self.info.encoding {
            SampleEncoding::Int { bits } => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                self.reader
                    .samples::<i32>()
                    .take(wanted)
                    .map(|s| s.map(|s| s as f32 * scale))
                    .collect::<Result<_, _>>()
            }
            SampleEncoding::Float32 => self.reader.samples::<f32>().take(wanted).collect(),
        }
        .map_err(|e| classify_hound_error(&self.path, e))?;
        check_complete(&self.path, interleaved.len(), wanted)?;
        if channels == 1 {
            return Ok(interleaved);
        }
        let count = channels as f32;
        Ok(interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().fold(0.0f32, |sum, &x| sum + x) / count)
            .collect())
    }
}

/// madmom's integer peak normalisation for a file whose largest absolute down-mixed value
/// is `peak` in a container of maximum `max`: (scaling, max), or `None` for a silent file.
fn madmom_int_normalization(peak: i64, max: i64) -> Option<(f64, f64)> {
    (peak > 0).then(|| (peak as f64 / max as f64, max as f64))
}

impl MonoSource for WavMonoReader {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        match self.info.encoding {
            SampleEncoding::Int { bits } => {
                let mut mixed = std::mem::take(&mut self.mixed);
                let frames = self.read_mixed_ints(out.len(), &mut mixed)?;
                let shift = self.madmom_container().map_or(0, |c| c.0);
                ints_to_samples(self.int_normalization, bits, shift, &mixed, out);
                self.mixed = mixed;
                Ok(frames)
            }
            SampleEncoding::Float32 => {
                let frames = (out.len() as u64).min(self.frames_left) as usize;
                if frames == 0 {
                    return Ok(0);
                }
                let channels = usize::from(self.info.channels);
                let wanted = frames * channels;
                let buf = &mut self.interleaved_f32;
                buf.clear();
                for sample in self.reader.samples::<f32>().take(wanted) {
                    buf.push(sample.map_err(|e| classify_hound_error(&self.path, e))?);
                }
                check_complete(&self.path, buf.len(), wanted)?;
                let inv = 1.0 / channels as f32;
                for (o, frame) in out.iter_mut().zip(buf.chunks_exact(channels)) {
                    *o = if channels == 1 {
                        frame[0]
                    } else {
                        frame.iter().sum::<f32>() * inv
                    };
                }
                self.frames_left -= frames as u64;
                Ok(frames)
            }
        }
    }

    fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }
}

fn check_complete(path: &Path, got: usize, wanted: usize) -> Result<(), AudioError> {
    if got < wanted {
        return Err(AudioError::Truncated {
            path: path.to_path_buf(),
            reason: "the data chunk ends before the number of samples its header declares".into(),
        });
    }
    Ok(())
}

/// Resamples another mono source to a fixed output rate, streaming.
pub struct ResampledSource<S: MonoSource> {
    inner: S,
    path: PathBuf,
    resampler: Fft<f32>,
    to: u32,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Output samples still to drop to undo the resampler's delay.
    delay_left: usize,
    /// Output samples the whole input corresponds to, known once the input ends.
    expected_total: Option<u64>,
    consumed_in: u64,
    produced_out: u64,
    pending: std::collections::VecDeque<f32>,
    input_done: bool,
}

impl<S: MonoSource> ResampledSource<S> {
    pub fn new(inner: S, path: &Path, to: u32) -> Result<Self, AudioError> {
        let from = inner.sample_rate();
        let resampler = Fft::<f32>::new(from as usize, to as usize, 4096, 1, FixedSync::Input)
            .map_err(|e| AudioError::Resample {
                path: path.to_path_buf(),
                from,
                to,
                reason: e.to_string(),
            })?;
        let delay_left = resampler.output_delay();
        let output = vec![0.0; resampler.output_frames_max()];
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            resampler,
            to,
            input: Vec::new(),
            output,
            delay_left,
            expected_total: None,
            consumed_in: 0,
            produced_out: 0,
            pending: Default::default(),
            input_done: false,
        })
    }

    /// Runs the resampler once, appending its (delay-trimmed) output to `pending`.
    fn pump(&mut self) -> Result<(), AudioError> {
        let need = self.resampler.input_frames_next();
        self.input.resize(need, 0.0);
        let mut filled = 0;
        while !self.input_done && filled < need {
            let n = self.inner.read(&mut self.input[filled..need])?;
            if n == 0 {
                self.input_done = true;
            }
            filled += n;
        }
        self.consumed_in += filled as u64;
        if self.input_done && self.expected_total.is_none() {
            let ratio = f64::from(self.to) / f64::from(self.inner.sample_rate());
            self.expected_total = Some((ratio * self.consumed_in as f64).ceil() as u64);
        }
        let partial = (filled < need).then_some(filled);
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let input = SequentialSlice::new(&self.input[..need], 1, need).expect("mono slice");
        let out_len = self.output.len();
        let mut output =
            SequentialSlice::new_mut(&mut self.output[..], 1, out_len).expect("mono slice");
        let (_, produced) = self
            .resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| AudioError::Resample {
                path: self.path.clone(),
                from: self.inner.sample_rate(),
                to: self.to,
                reason: e.to_string(),
            })?;
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        self.pending.extend(&self.output[skip..produced]);
        Ok(())
    }
}

impl<S: MonoSource> MonoSource for ResampledSource<S> {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        loop {
            if let Some(total) = self.expected_total {
                let left = total.saturating_sub(self.produced_out) as usize;
                if left == 0 {
                    return Ok(0);
                }
                if self.pending.len() >= left.min(out.len()) {
                    let n = left.min(out.len());
                    for (o, s) in out[..n].iter_mut().zip(self.pending.drain(..n)) {
                        *o = s;
                    }
                    self.produced_out += n as u64;
                    return Ok(n);
                }
            } else if self.pending.len() >= out.len() {
                let n = out.len();
                for (o, s) in out.iter_mut().zip(self.pending.drain(..n)) {
                    *o = s;
                }
                self.produced_out += n as u64;
                return Ok(n);
            }
            self.pump()?;
        }
    }

    fn sample_rate(&self) -> u32 {
        self.to
    }
}

/// Opens a WAV file as mono audio at 44.1 kHz, logging when it has to resample. (For
/// spectrograms use `SpectrogramComputer::compute_wav`, which also applies madmom's
/// normalisation.)
pub fn open_mono(path: &Path) -> Result<(Box<dyn MonoSource>, WavInfo), AudioError> {
    let reader = WavMonoReader::open(path)?;
    let info = reader.info().clone();
    if info.sample_rate == TARGET_SAMPLE_RATE {
        return Ok((Box::new(reader), info));
    }
    tracing::info!(
        file = %path.display(),
        from_hz = info.sample_rate,
        to_hz = TARGET_SAMPLE_RATE,
        "resampling to 44.1 kHz (rubato FFT resampler)"
    );
    let resampled = ResampledSource::new(reader, path, TARGET_SAMPLE_RATE)?;
    Ok((Box::new(resampled), info))
}

/// Reads a whole WAV file as mono 44.1 kHz samples (for when the caller wants them all).
pub fn read_mono(path: &Path) -> Result<Vec<f32>, AudioError> {
    let (mut stream, info) = open_mono(path)?;
    let mut samples = Vec::with_capacity(
        (info.frames as f64 * f64::from(TARGET_SAMPLE_RATE) / f64::from(info.sample_rate)) as usize
            + 1,
    );
    let mut block = vec![0.0f32; BLOCK_FRAMES];
    loop {
        let n = stream.read(&mut block)?;
        if n == 0 {
            break;
        }
        samples.extend_from_slice(&block[..n]);
    }
    Ok(samples)
}

/// Block size callers should use when draining a [`MonoSource`].
pub const fn block_frames() -> usize {
    BLOCK_FRAMES
}
