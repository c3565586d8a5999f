//! Runs a system over a WAV file with ONNX Runtime and its own front end, giving its framewise
//! posteriorgram at its native frames.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;

use crate::audio::{AudioError, WavMonoReader};
use crate::features::SpectrogramComputer;
use crate::infer::{InferError, InferenceOptions, open_session_logging};

use super::spec::{FrontEnd, SystemSpec};

/// A system's posteriorgram for one file: `probs[frame][k]` is pitch `lowest_pitch + k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Posteriorgram {
    pub lowest_pitch: u8,
    pub probs: Vec<Vec<f32>>,
}

/// The windowing of a [`FrontEnd::WindowedAudio`] front end.
struct Windows {
    window: usize,
    hop: usize,
    lead_zeros: usize,
    trim_frames: usize,
    batch: usize,
}

/// A loaded system: its spec, an ONNX Runtime session, and the spectrogram computer its front
/// end needs (if any).
pub struct System {
    spec: SystemSpec,
    path: std::path::PathBuf,
    session: Session,
    spectrogram: Option<SpectrogramComputer>,
}

impl System {
    /// Loads the system's cached ONNX file (checking its SHA-256 against the spec, so that a
    /// stale or foreign file is never analysed under the system's name).
    pub fn load(spec: SystemSpec, onnx: &Path, options: InferenceOptions) -> anyhow::Result<Self> {
        let bytes = std::fs::read(onnx).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot read the ONNX file of system {:?} ({e}); run scripts/fetch-systems.sh",
                onnx.display(),
                spec.name
            )
        })?;
        let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        anyhow::ensure!(
            got == spec.onnx.sha256,
            "{}: sha256 {got}, but system {:?} expects {}; run scripts/fetch-systems.sh",
            onnx.display(),
            spec.name,
            spec.onnx.sha256
        );
        // Errors only: madmom's graph declares 1-D outputs, and ONNX Runtime warns on every
        // run that the real [frames, 88] differs.
        let session = open_session_logging(onnx, options, Some(ort::logging::LogLevel::Error))?;
        for name in [front_end_input(&spec), spec.output.name.as_str()] {
            let known = session.inputs().iter().any(|i| i.name() == name)
                || session.outputs().iter().any(|o| o.name() == name);
            anyhow::ensure!(
                known,
                "{}: the graph has no input or output named {name:?} (system {:?})",
                onnx.display(),
                spec.name
            );
        }
        let spectrogram = match &spec.front_end {
            FrontEnd::Spectrogram { spectrogram, .. } => {
                Some(SpectrogramComputer::new(spectrogram.clone())?)
            }
            FrontEnd::WindowedAudio { .. } => None,
        };
        Ok(Self {
            spec,
            path: onnx.to_path_buf(),
            session,
            spectrogram,
        })
    }

    pub fn spec(&self) -> &SystemSpec {
        &self.spec
    }

    /// The posteriorgram of the WAV file at `wav`.
    pub fn run_wav(&mut self, wav: &Path) -> anyhow::Result<Posteriorgram> {
        let probs = match self.spec.front_end.clone() {
            FrontEnd::WindowedAudio {
                input,
                sample_rate,
                window,
                hop,
                lead_zeros,
                trim_frames,
                frames_per_second,
                batch,
            } => {
                let audio = read_at(wav, sample_rate)?;
                let frames = (audio.len() as u64 * u64::from(frames_per_second)
                    / u64::from(sample_rate)) as usize;
                let windows = Windows {
                    window,
                    hop,
                    lead_zeros,
                    trim_frames,
                    batch,
                };
                let mut probs = self.run_windows(&input, &audio, &windows)?;
                probs.truncate(frames);
                probs
            }
            FrontEnd::Spectrogram {
                input, pad_repeat, ..
            } => self.run_spectrogram(&input, wav, pad_repeat)?,
        };
        if let Some(frame) = probs.iter().position(|r| r.iter().any(|p| !p.is_finite())) {
            return Err(InferError::NonFinite {
                path: self.path.clone(),
                frame,
            }
            .into());
        }
        Ok(Posteriorgram {
            lowest_pitch: self.spec.output.lowest_pitch,
            probs,
        })
    }

    /// basic-pitch's windowing: `lead_zeros` zeros, then windows of `window` samples every
    /// `hop` (the last zero-padded), `batch` windows per run, `trim_frames` output frames
    /// dropped at each end of every window, the rest concatenated.
    fn run_windows(
        &mut self,
        input: &str,
        audio: &[f32],
        w: &Windows,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut padded = vec![0.0f32; w.lead_zeros];
        padded.extend_from_slice(audio);
        let starts: Vec<usize> = (0..padded.len()).step_by(w.hop).collect();
        let mut probs = Vec::new();
        let mut input_buf = Vec::new();
        for chunk in starts.chunks(w.batch) {
            input_buf.clear();
            input_buf.resize(chunk.len() * w.window, 0.0);
            for (&start, slot) in chunk.iter().zip(input_buf.chunks_exact_mut(w.window)) {
                let end = (start + w.window).min(padded.len());
                slot[..end - start].copy_from_slice(&padded[start..end]);
            }
            let (shape, data) = self.run(input, vec![chunk.len(), w.window, 1], &input_buf)?;
            let [b, per_window, pitches] = shape[..] else {
                anyhow::bail!(
                    "{}: output {:?} has shape {shape:?}, expected [batch, frames, pitches]",
                    self.path.display(),
                    self.spec.output.name
                );
            };
            self.check_pitches(pitches)?;
            anyhow::ensure!(b == chunk.len() && per_window > 2 * w.trim_frames);
            for window in data.chunks_exact(per_window * pitches) {
                let kept = window
                    .chunks_exact(pitches)
                    .take(per_window - w.trim_frames)
                    .skip(w.trim_frames);
                probs.extend(kept.map(<[f32]>::to_vec));
            }
        }
        Ok(probs)
    }

    /// madmom's CNN input: our spectrogram of the whole file, its first and last frames
    /// repeated `pad_repeat` times, as one `[frames, bands]` matrix.
    fn run_spectrogram(
        &mut self,
        input: &str,
        wav: &Path,
        pad_repeat: usize,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let computer = self.spectrogram.as_ref().expect("built in load");
        let spec = computer.compute_wav(wav)?;
        anyhow::ensure!(spec.frames > 0, "{}: no spectrogram frames", wav.display());
        let mut data = Vec::with_capacity((spec.frames + 2 * pad_repeat) * spec.bands);
        for _ in 0..pad_repeat {
            data.extend_from_slice(spec.row(0));
        }
        data.extend_from_slice(&spec.data);
        for _ in 0..pad_repeat {
            data.extend_from_slice(spec.row(spec.frames - 1));
        }
        let rows = spec.frames + 2 * pad_repeat;
        let (shape, out) = self.run(input, vec![rows, spec.bands], &data)?;
        let [frames, pitches] = shape[..] else {
            anyhow::bail!(
                "{}: output {:?} has shape {shape:?}, expected [frames, pitches]",
                self.path.display(),
                self.spec.output.name
            );
        };
        self.check_pitches(pitches)?;
        anyhow::ensure!(
            frames == spec.frames,
            "{}: {} spectrogram frames gave {frames} output frames",
            self.path.display(),
            spec.frames
        );
        Ok(out.chunks_exact(pitches).map(<[f32]>::to_vec).collect())
    }

    fn check_pitches(&self, pitches: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            pitches == self.spec.output.pitches,
            "{}: output {:?} has {pitches} columns, the system spec says {}",
            self.path.display(),
            self.spec.output.name,
            self.spec.output.pitches
        );
        Ok(())
    }

    /// One `run` call: `data` in `shape` to the input `input`; the posteriorgram output back
    /// with its shape.
    fn run(
        &mut self,
        input: &str,
        shape: Vec<usize>,
        data: &[f32],
    ) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let path = self.path.clone();
        let fail = move |e: ort::Error| InferError::Model {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tensor = TensorRef::from_array_view((shape, data)).map_err(&fail)?;
        let outputs = self
            .session
            .run(ort::inputs![input => tensor])
            .map_err(&fail)?;
        let (shape, data) = outputs[self.spec.output.name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(&fail)?;
        Ok((shape.iter().map(|&d| d as usize).collect(), data.to_vec()))
    }
}

fn front_end_input(spec: &SystemSpec) -> &str {
    match &spec.front_end {
        FrontEnd::WindowedAudio { input, .. } | FrontEnd::Spectrogram { input, .. } => input,
    }
}

/// A WAV file as mono `f32` at `rate`, as `librosa.load(path, sr=rate, mono=True)` gives it:
/// read and down-mixed as soundfile and librosa do
/// ([`WavMonoReader::read_all_as_librosa`]), other rates resampled with libsoxr the way
/// librosa calls it ([`super::resample`]).
pub fn read_at(wav: &Path, rate: u32) -> Result<Vec<f32>, AudioError> {
    let reader = WavMonoReader::open(wav)?;
    let from = reader.info().sample_rate;
    let samples = reader.read_all_as_librosa()?;
    if from == rate {
        return Ok(samples);
    }
    super::resample::resample_like_librosa(&samples, from, rate, wav)
}
