//! The log-filtered spectrogram of Kelz et al. (2016), numerically identical to madmom 0.16's
//! `LogarithmicFilteredSpectrogram` with the paper's options.
//!
//! Per frame: `frame_size` samples centred on sample `floor(i * hop)` (zero beyond the
//! signal), times a symmetric Hann window (`np.hanning`), a real FFT of which the first
//! `fft_size / 2` bins are kept (madmom drops Nyquist), magnitudes, the sparse log
//! filterbank, then `log10(1 + x)`. madmom peak-normalises the audio first; since everything
//! before the log is linear in the signal, we scale the filtered energies by `1 / peak`
//! instead, which lets the whole computation stream in one pass over the file.

use super::band_fft::{BandFft, BandFftScratch};
use super::filterbank::{Filterbank, fft_frequencies};
use std::path::Path;

use crate::audio::{AudioError, MonoSource, ResampledSource, TARGET_SAMPLE_RATE, WavMonoReader};

/// The spectrogram options (madmom's names in parentheses). Defaults are the paper's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpectrogramParams {
    pub sample_rate: u32,
    /// Frames per second; hop = sample_rate / fps samples (not rounded, as in madmom).
    pub fps: f64,
    pub frame_size: usize,
    pub fft_size: usize,
    /// (`num_bands`) bands per octave.
    pub bands_per_octave: u32,
    pub fmin: f64,
    pub fmax: f64,
    pub fref: f64,
    pub norm_filters: bool,
    pub unique_filters: bool,
    /// (`norm`) peak-normalise the audio.
    pub normalize_audio: bool,
}

impl Default for SpectrogramParams {
    fn default() -> Self {
        Self {
            sample_rate: TARGET_SAMPLE_RATE,
            fps: 100.0,
            frame_size: 4096,
            fft_size: 4096,
            bands_per_octave: 48,
            fmin: 30.0,
            fmax: 8000.0,
            fref: 440.0,
            norm_filters: true,
            unique_filters: true,
            normalize_audio: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("fps must be a positive finite number, got {0}")]
    Fps(f64),
    #[error("frame_size ({frame}) must be even, positive and at most fft_size ({fft})")]
    FrameSize { frame: usize, fft: usize },
    #[error("the filterbank between {fmin} Hz and {fmax} Hz has fewer than one band")]
    NoBands { fmin: f64, fmax: f64 },
}

impl SpectrogramParams {
    /// Hop size in samples (fractional when `sample_rate / fps` is not an integer).
    pub fn hop(&self) -> f64 {
        f64::from(self.sample_rate) / self.fps
    }

    /// madmom's frame count for `n` samples: `ceil(n / hop)`.
    pub fn num_frames(&self, num_samples: u64) -> usize {
        (num_samples as f64 / self.hop()).ceil() as usize
    }

    /// The frame count of a WAV file's spectrogram, from its header alone (files at another
    /// rate count the samples they will have once resampled).
    pub fn num_frames_of_wav(&self, path: &Path) -> Result<usize, AudioError> {
        let reader = WavMonoReader::open(path)?;
        let info = reader.info();
        let at_rate = (info.frames as f64 * f64::from(self.sample_rate)
            / f64::from(info.sample_rate))
        .ceil() as u64;
        Ok(self.num_frames(at_rate))
    }

    /// The sample a frame is centred on: `int(i * hop)`.
    pub fn frame_center(&self, frame: usize) -> i64 {
        (frame as f64 * self.hop()) as i64
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(ParamsError::Fps(self.fps));
        }
        if self.frame_size == 0 || self.frame_size % 2 == 1 || self.frame_size > self.fft_size {
            return Err(ParamsError::FrameSize {
                frame: self.frame_size,
                fft: self.fft_size,
            });
        }
        Ok(())
    }
}

/// A computed spectrogram: `frames x bands`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub frames: usize,
    pub bands: usize,
    pub fps: f64,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn row(&self, frame: usize) -> &[f32] {
        &self.data[frame * self.bands..(frame + 1) * self.bands]
    }

    pub fn view(&self) -> ndarray::ArrayView2<'_, f32> {
        ndarray::ArrayView2::from_shape((self.frames, self.bands), &self.data)
            .expect("data length is frames * bands")
    }
}

/// A reusable spectrogram computer: plans the FFT and builds the filterbank once.
pub struct SpectrogramComputer {
    params: SpectrogramParams,
    filterbank: Filterbank,
    window: Vec<f32>,
    /// The real FFT's magnitudes, for the filterbank's bins only.
    fft: BandFft,
    #[cfg(target_arch = "x86_64")]
    avx2_fma: bool,
}

/// Per-thread scratch buffers for [`SpectrogramComputer`].
struct Scratch {
    fft: BandFftScratch,
    magnitudes: Vec<f32>,
}

impl SpectrogramComputer {
    pub fn new(params: SpectrogramParams) -> Result<Self, ParamsError> {
        params.validate()?;
        let num_bins = params.fft_size / 2;
        let bin_frequencies = fft_frequencies(num_bins, f64::from(params.sample_rate));
        let filterbank = Filterbank::logarithmic(
            &bin_frequencies,
            params.bands_per_octave,
            params.fmin,
            params.fmax,
            params.fref,
            params.norm_filters,
            params.unique_filters,
        );
        if filterbank.num_bands() == 0 {
            return Err(ParamsError::NoBands {
                fmin: params.fmin,
                fmax: params.fmax,
            });
        }
        // np.hanning, evaluated as numpy does: 0.5 + 0.5 cos(pi n / (M - 1)) for
        // n = 1 - M, 3 - M, ..., M - 1 (the symmetric Hann window).
        let m = params.frame_size as i64;
        let window = (0..m)
            .map(|i| {
                let n = (1 - m + 2 * i) as f64;
                (0.5 + 0.5 * (std::f64::consts::PI * n / (m - 1) as f64).cos()) as f32
            })
            .collect();
        let fft = BandFft::new(params.fft_size, filterbank.bin_range());
        Ok(Self {
            params,
            filterbank,
            window,
            fft,
            #[cfg(target_arch = "x86_64")]
            avx2_fma: is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        })
    }

    pub fn params(&self) -> &SpectrogramParams {
        &self.params
    }

    pub fn filterbank(&self) -> &Filterbank {
        &self.filterbank
    }

    pub fn num_bands(&self) -> usize {
        self.filterbank.num_bands()
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            fft: self.fft.scratch(),
            magnitudes: vec![0.0; self.params.fft_size / 2],
        }
    }

    /// Band energies of one frame into `out`: filtered, then, when `log_scale` is given,
    /// scaled by it and log-compressed. `frame` holds exactly `frame_size` samples.
    #[inline]
    fn filtered_frame(
        &self,
        frame: &[f32],
        s: &mut Scratch,
        out: &mut [f32],
        log_scale: Option<f32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: the CPU supports AVX2 and FMA (checked at construction).
            unsafe { self.filtered_frame_avx2(frame, s, out, log_scale) };
            return;
        }
        self.filtered_frame_generic(frame, s, out);
        if let Some(scale) = log_scale {
            log_compress(out, scale);
        }
    }

    /// The same code compiled for AVX2 + FMA: the window product, magnitudes, filterbank and
    /// log are simple loops that LLVM vectorises 8 wide instead of the baseline's 4.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn filtered_frame_avx2(
        &self,
        frame: &[f32],
        s: &mut Scratch,
        out: &mut [f32],
        log_scale: Option<f32>,
    ) {
        self.filtered_frame_generic(frame, s, out);
        if let Some(scale) = log_scale {
            log_compress(out, scale);
        }
    }

    /// [`log_compress`] over a whole spectrogram, in the AVX2 build where available.
    fn log_compress_all(&self, values: &mut [f32], scale: f32) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(values: &mut [f32], scale: f32) {
                log_compress(values, scale);
            }
            // SAFETY: as above.
            unsafe { avx2(values, scale) };
            return;
        }
        log_compress(values, scale);
    }

    #[inline(always)]
    fn filtered_frame_generic(&self, frame: &[f32], s: &mut Scratch, out: &mut [f32]) {
        let m = self.params.frame_size;
        let input = &mut s.fft.input;
        for ((dst, x), w) in input[..m].iter_mut().zip(frame).zip(&self.window) {
            *dst = x * w;
        }
        input[m..].fill(0.0);
        self.fft.magnitudes(&mut s.fft, &mut s.magnitudes);
        self.filterbank.apply(&s.magnitudes, out);
    }

    /// Turns filtered energies into the final spectrogram: `log10(1 + x)`, after scaling by
    /// `1 / peak` when the source still needs peak normalisation.
    fn finish(&self, mut data: Vec<f32>, frames: usize, peak: Option<f32>) -> Spectrogram {
        let scale = match peak {
            Some(peak) if peak > 0.0 => 1.0 / peak,
            _ => 1.0,
        };
        self.log_compress_all(&mut data, scale);
        Spectrogram {
            frames,
            bands: self.num_bands(),
            fps: self.params.fps,
            data,
        }
    }

    /// The spectrogram of samples already in memory (mono, at `params.sample_rate`), peak
    /// normalised by their float peak when `normalize_audio` is set.
    pub fn compute(&self, samples: &[f32]) -> Spectrogram {
        let frames = self.params.num_frames(samples.len() as u64);
        let bands = self.num_bands();
        let mut out = vec![0.0; frames * bands];
        let mut scratch = self.scratch();
        let mut padded = vec![0.0; self.params.frame_size];
        // The peak is known up front here, so each row is finished while still in cache.
        let scale = peak_scale(samples, self.params.normalize_audio);
        for (i, row) in out.chunks_exact_mut(bands).enumerate() {
            let start = self.frame_start(i);
            let frame = frame_at(samples, 0, samples.len() as u64, start, &mut padded);
            self.filtered_frame(frame, &mut scratch, row, Some(scale));
        }
        Spectrogram {
            frames,
            bands,
            fps: self.params.fps,
            data: out,
        }
    }

    /// [`Self::compute`] with the frames spread over rayon's threads (each with its own FFT
    /// scratch), scaled by `1 / peak` of the samples when `peak_normalize`: the same numbers
    /// as the one-thread paths, for one long file on several cores.
    pub fn compute_in_parallel(&self, samples: &[f32], peak_normalize: bool) -> Spectrogram {
        use rayon::prelude::*;
        // Frames per task: enough to amortise the scratch, few enough to balance.
        const FRAMES_PER_TASK: usize = 512;
        let frames = self.params.num_frames(samples.len() as u64);
        let bands = self.num_bands();
        let mut out = vec![0.0; frames * bands];
        let scale = peak_scale(samples, peak_normalize);
        out.par_chunks_mut(bands * FRAMES_PER_TASK)
            .enumerate()
            .for_each(|(task, rows)| {
                let mut scratch = self.scratch();
                let mut padded = vec![0.0; self.params.frame_size];
                for (j, row) in rows.chunks_exact_mut(bands).enumerate() {
                    let start = self.frame_start(task * FRAMES_PER_TASK + j);
                    let frame = frame_at(samples, 0, samples.len() as u64, start, &mut padded);
                    self.filtered_frame(frame, &mut scratch, row, Some(scale));
                }
            });
        Spectrogram {
            frames,
            bands,
            fps: self.params.fps,
            data: out,
        }
    }

    /// [`Self::compute_wav`], reading the file into memory and computing its frames on
    /// rayon's threads. Files at another rate take the streaming (resampling) path.
    pub fn compute_wav_in_parallel(&self, path: &Path) -> Result<Spectrogram, AudioError> {
        let reader = WavMonoReader::open(path)?;
        if reader.info().sample_rate != self.params.sample_rate {
            return self.compute_wav(path);
        }
        let (samples, peak_normalize) = reader.read_all(self.params.normalize_audio)?;
        Ok(self.compute_in_parallel(&samples, peak_normalize))
    }

    /// First sample (possibly negative) of frame `i`.
    fn frame_start(&self, frame: usize) -> i64 {
        self.params.frame_center(frame) - (self.params.frame_size / 2) as i64
    }

    /// The spectrogram of a streamed source; memory is the output plus one frame.
    pub fn compute_stream(&self, source: &mut dyn MonoSource) -> Result<Spectrogram, AudioError> {
        self.compute_stream_with(source, self.params.normalize_audio)
    }

    /// Like [`Self::compute_stream`], for a source that is already peak-normalised.
    pub fn compute_normalized_stream(
        &self,
        source: &mut dyn MonoSource,
    ) -> Result<Spectrogram, AudioError> {
        self.compute_stream_with(source, false)
    }

    /// The spectrogram of a WAV file, as madmom computes it from that file. With
    /// `normalize_audio`, integer files at the working rate get madmom's integer peak
    /// normalisation (two streaming passes: one for the peak); other files are normalised by
    /// their float peak; files at another rate are resampled first (madmom would hand those
    /// to ffmpeg, so there we can only match it closely, not exactly).
    pub fn compute_wav(&self, path: &Path) -> Result<Spectrogram, AudioError> {
        let mut reader = WavMonoReader::open(path)?;
        if reader.info().sample_rate == self.params.sample_rate {
            if self.params.normalize_audio {
                let peak = WavMonoReader::container_peak(path)?;
                if reader.use_madmom_int_normalization(peak) {
                    return self.compute_normalized_stream(&mut reader);
                }
            } else {
                // Without normalisation madmom divides integer samples by the dtype's
                // maximum (32767 for 16 bit), not by 32768.
                reader.use_madmom_int_scale();
            }
            return self.compute_stream(&mut reader);
        }
        tracing::info!(
            file = %path.display(),
            from_hz = reader.info().sample_rate,
            to_hz = self.params.sample_rate,
            "resampling (rubato FFT resampler)"
        );
        let mut resampled = ResampledSource::new(reader, path, self.params.sample_rate)?;
        self.compute_stream(&mut resampled)
    }

    fn compute_stream_with(
        &self,
        source: &mut dyn MonoSource,
        peak_normalize: bool,
    ) -> Result<Spectrogram, AudioError> {
        let mut framer = StreamingFramer::new(self);
        framer.peak_normalize = peak_normalize;
        let mut block = vec![0.0f32; crate::audio::block_frames()];
        loop {
            let n = source.read(&mut block)?;
            if n == 0 {
                break;
            }
            framer.push(&block[..n]);
        }
        Ok(framer.finish())
    }
}

/// Cuts a sample stream into madmom's centred frames as soon as each frame is complete.
struct StreamingFramer<'a> {
    computer: &'a SpectrogramComputer,
    scratch: Scratch,
    /// Samples not yet consumed by every frame that needs them; `buffer[0]` is sample `offset`.
    buffer: Vec<f32>,
    offset: u64,
    total: u64,
    peak: f32,
    next_frame: usize,
    frame: Vec<f32>,
    out: Vec<f32>,
    /// Scale by the observed peak at the end (madmom's `norm`, for float sources).
    peak_normalize: bool,
}

impl<'a> StreamingFramer<'a> {
    fn new(computer: &'a SpectrogramComputer) -> Self {
        Self {
            computer,
            scratch: computer.scratch(),
            buffer: Vec::new(),
            offset: 0,
            total: 0,
            peak: 0.0,
            next_frame: 0,
            frame: vec![0.0; computer.params.frame_size],
            out: Vec::new(),
            peak_normalize: false,
        }
    }

    fn push(&mut self, samples: &[f32]) {
        self.peak = self.peak.max(peak_abs(samples));
        self.buffer.extend_from_slice(samples);
        self.total += samples.len() as u64;
        let size = self.computer.params.frame_size as i64;
        loop {
            let start = self.computer.frame_start(self.next_frame);
            if start + size > self.total as i64 {
                break;
            }
            self.emit_frame(start);
        }
        // Drop samples no later frame can reach.
        let keep_from = self.computer.frame_start(self.next_frame).max(0) as u64;
        let drop = (keep_from.saturating_sub(self.offset) as usize).min(self.buffer.len());
        if drop > 0 && drop * 2 >= self.buffer.len() {
            self.buffer.drain(..drop);
            self.offset += drop as u64;
        }
    }

    /// Computes the frame whose first sample is `start` (may lie outside the signal).
    fn emit_frame(&mut self, start: i64) {
        let bands = self.computer.num_bands();
        let first = self.out.len();
        self.out.resize(first + bands, 0.0);
        let frame = frame_at(
            &self.buffer,
            self.offset,
            self.total,
            start,
            &mut self.frame,
        );
        self.computer
            .filtered_frame(frame, &mut self.scratch, &mut self.out[first..], None);
        self.next_frame += 1;
    }

    fn finish(mut self) -> Spectrogram {
        let frames = self.computer.params.num_frames(self.total);
        while self.next_frame < frames {
            let start = self.computer.frame_start(self.next_frame);
            self.emit_frame(start);
        }
        let peak = self.peak_normalize.then_some(self.peak);
        let computer = self.computer;
        computer.finish(self.out, frames, peak)
    }
}

/// The `padded.len()` samples starting at absolute sample `start`, from `buffer` whose first
/// element is sample `offset` of a signal `total` samples long. Borrowed from `buffer` when
/// the frame lies inside the signal; otherwise assembled in `padded` with zeros outside
/// (madmom's `signal_frame`).
fn frame_at<'b>(
    buffer: &'b [f32],
    offset: u64,
    total: u64,
    start: i64,
    padded: &'b mut [f32],
) -> &'b [f32] {
    let size = padded.len() as i64;
    if start >= 0 && start + size <= total as i64 {
        let at = (start as u64 - offset) as usize;
        return &buffer[at..at + size as usize];
    }
    padded.fill(0.0);
    let (lo, hi) = (start.max(0), (start + size).min(total as i64));
    if hi > lo {
        let src = (lo as u64 - offset) as usize;
        let dst = (lo - start) as usize;
        let len = (hi - lo) as usize;
        padded[dst..dst + len].copy_from_slice(&buffer[src..src + len]);
    }
    padded
}

/// `1 / peak` of `samples` when normalising (and they are not silent), else 1.
fn peak_scale(samples: &[f32], normalize: bool) -> f32 {
    if !normalize {
        return 1.0;
    }
    // In parallel parts: the largest of the parts' peaks is the peak.
    use rayon::prelude::*;
    let peak = samples
        .par_chunks(1 << 18)
        .map(peak_abs)
        .reduce(|| 0.0, f32::max);
    if peak > 0.0 { 1.0 / peak } else { 1.0 }
}

/// The largest absolute sample. Eight lanes with a plain comparison, so it vectorises
/// (`f32::max` has NaN rules that keep it scalar).
fn peak_abs(samples: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = samples.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..8 {
            let a = chunk[i].abs();
            lanes[i] = if a > lanes[i] { a } else { lanes[i] };
        }
    }
    tail.iter()
        .chain(&lanes)
        .fold(0.0f32, |p, x| if x.abs() > p { x.abs() } else { p })
}

/// madmom's `LogarithmicSpectrogram` with `mul = 1, add = 1`: `log10(x + 1)`, after the
/// peak-normalisation factor. A libm call per value was 15 % of the whole spectrogram, so
/// this uses [`log10_1p`], which vectorises; see there for its accuracy.
#[inline(always)]
fn log_compress(values: &mut [f32], scale: f32) {
    values.iter_mut().for_each(|x| *x = log10_1p(*x * scale));
}

/// `log10(1 + x)` for `x >= 0`, branch-free so that LLVM vectorises loops over it.
///
/// `1 + x = m * 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, then `ln m = 2 atanh(s)`,
/// `s = (m - 1) / (m + 1)`, `|s| < 0.172`, by its series to `s^9` (truncation < 1e-9). In `f64`
/// the result is within one `f32` rounding of the exact value, like `f32::log10`.
#[inline(always)]
pub(crate) fn log10_1p(x: f32) -> f32 {
    let y = f64::from(x) + 1.0;
    let bits = y.to_bits();
    // Exponent relative to sqrt(1/2): shift the mantissa into [sqrt(1/2), sqrt(2)).
    let offset = bits.wrapping_sub(0x3FE6_A09E_667F_3BCD);
    let e = (offset as i64 >> 52) as f64;
    let m = f64::from_bits(bits.wrapping_sub(offset & 0xFFF0_0000_0000_0000));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    ((series + e * std::f64::consts::LN_2) * std::f64::consts::LOG10_E) as f32
}

#[cfg(test)]
mod tests {
    use super::log10_1p;

    #[test]
    fn log10_1p_is_within_one_f32_rounding_of_the_exact_value() {
        let mut x = 0.0f32;
        let mut worst = 0.0f64;
        while x < 1e7 {
            let exact = (f64::from(x) + 1.0).log10();
            let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::MIN_POSITIVE);
            worst = worst.max((f64::from(log10_1p(x)) - exact).abs() / ulp.max(1e-30));
            x = x * 1.01 + 1e-7;
        }
        assert!(worst <= 1.0, "worst error {worst} ulp");
        assert_eq!(log10_1p(0.0), 0.0);
        assert_eq!(log10_1p(9.0), 1.0);
    }
}
