//! A third-party transcription system described as data (`systems/NAME.toml`): where its ONNX
//! file comes from, its front end, which output is the framewise posteriorgram, the times of
//! its frames and its default threshold. Adding a system whose front end is one of
//! [`FrontEnd`]'s needs only a new TOML file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::features::SpectrogramParams;

/// One system, as its TOML file describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSpec {
    /// The name rows are written under (`model` column).
    pub name: String,
    /// One line for reports: what the system is and where it comes from.
    #[serde(default)]
    pub description: String,
    pub onnx: OnnxSource,
    pub front_end: FrontEnd,
    pub output: Output,
    pub frame_times: FrameTimes,
}

/// Where the ONNX file comes from: a file inside a package on the registry.
/// `scripts/fetch-systems.sh` downloads the package and extracts the file to `file` inside the
/// systems cache; the analysis reads only the cache.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxSource {
    pub package: String,
    pub version: String,
    /// `wheel` or `sdist`.
    pub kind: String,
    /// Path of the ONNX file inside the package.
    pub path: String,
    /// File name in the cache.
    pub file: String,
    /// Lower-case hex SHA-256 of the ONNX file.
    pub sha256: String,
    /// The licence of the model data (shown in reports; the file is never committed).
    #[serde(default)]
    pub license: String,
}

/// What the network is fed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FrontEnd {
    /// Raw mono audio at `sample_rate`, cut into fixed windows, as basic-pitch does: the audio
    /// is prefixed with `lead_zeros` zeros, windows of `window` samples start every `hop`
    /// samples (the last zero-padded), each window's output loses `trim_frames` frames at
    /// each end, the rest are concatenated and cut to
    /// `floor(samples * frames_per_second / sample_rate)` frames.
    WindowedAudio {
        input: String,
        sample_rate: u32,
        window: usize,
        hop: usize,
        lead_zeros: usize,
        trim_frames: usize,
        frames_per_second: u32,
        /// Windows per `run` call.
        #[serde(default = "default_batch")]
        batch: usize,
    },
    /// Our spectrogram with `spectrogram` parameters over the whole file, its first and last
    /// frames repeated `pad_repeat` times, fed as one `[frames, bands]` matrix (madmom's
    /// CNNs; the network gives back one row per unpadded frame).
    Spectrogram {
        input: String,
        spectrogram: SpectrogramParams,
        #[serde(default)]
        pad_repeat: usize,
    },
}

fn default_batch() -> usize {
    8
}

/// Which output holds the framewise posteriorgram, and how to read it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The ONNX output's name.
    pub name: String,
    /// MIDI pitch of the output's first column.
    pub lowest_pitch: u8,
    /// Columns of the output (pitches `lowest_pitch ..`).
    pub pitches: usize,
    /// Probabilities at or above this are notes (the system's own default).
    pub threshold: f32,
}

/// The centre time (seconds) of frame `i`: `i * hop_seconds - floor(i / period_frames) *
/// period_shift_seconds`. `period_frames = 0` is an even grid. basic-pitch's
/// `model_frames_to_time` has this form; madmom's frames are an even grid.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameTimes {
    pub hop_seconds: f64,
    #[serde(default)]
    pub period_frames: usize,
    #[serde(default)]
    pub period_shift_seconds: f64,
}

impl FrameTimes {
    pub fn time(&self, frame: usize) -> f64 {
        let shift = frame
            .checked_div(self.period_frames)
            .map_or(0.0, |periods| periods as f64 * self.period_shift_seconds);
        frame as f64 * self.hop_seconds - shift
    }

    /// True for an even grid (labels then follow the paper's rule at `1 / hop_seconds` fps
    /// exactly).
    pub fn is_even(&self) -> bool {
        self.period_frames == 0 || self.period_shift_seconds == 0.0
    }

    /// The nominal frame rate, `1 / hop_seconds` (what `entangle.fps` records).
    pub fn nominal_fps(&self) -> f64 {
        1.0 / self.hop_seconds
    }

    /// A name for the time base, recorded in tables next to the nominal rate.
    pub fn describe(&self) -> String {
        if self.is_even() {
            crate::sink::time_base::even_grid(self.nominal_fps())
        } else {
            format!(
                "t(i) = i * {} - floor(i / {}) * {} s",
                self.hop_seconds, self.period_frames, self.period_shift_seconds
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a system description: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl SystemSpec {
    /// Reads and checks a system TOML file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let spec: Self = toml::from_str(&text).map_err(|e| SpecError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        spec.validate().map_err(|reason| SpecError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        let o = &self.onnx;
        if o.sha256.len() != 64 || !o.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "onnx.sha256 {:?} is not a SHA-256 in hex",
                o.sha256
            ));
        }
        if o.kind != "wheel" && o.kind != "sdist" {
            return Err(format!("onnx.kind is {:?}; wheel or sdist", o.kind));
        }
        if o.file.contains('/') || o.file.is_empty() {
            return Err(format!("onnx.file {:?} must be a plain file name", o.file));
        }
        let top = u16::from(self.output.lowest_pitch) + self.output.pitches as u16;
        if self.output.lowest_pitch < crate::pitchset::PIANO_MIN || top > 109 {
            return Err(format!(
                "output pitches {} .. {} leave the piano range 21 .. 108",
                self.output.lowest_pitch,
                top - 1
            ));
        }
        if !(self.output.threshold > 0.0 && self.output.threshold < 1.0) {
            return Err(format!(
                "output.threshold {} is not in (0, 1)",
                self.output.threshold
            ));
        }
        if !(self.frame_times.hop_seconds.is_finite() && self.frame_times.hop_seconds > 0.0) {
            return Err("frame_times.hop_seconds must be positive".into());
        }
        // Frame times must increase, or "the nearest frame" is not defined.
        let t = &self.frame_times;
        if t.period_frames > 0 && t.period_shift_seconds >= t.hop_seconds {
            return Err(format!(
                "frame_times: a shift of {} s every {} frames makes times go backwards (hop {} s)",
                t.period_shift_seconds, t.period_frames, t.hop_seconds
            ));
        }
        match &self.front_end {
            FrontEnd::WindowedAudio {
                window,
                hop,
                trim_frames,
                batch,
                ..
            } => {
                if *window == 0 || *hop == 0 || *batch == 0 {
                    return Err("front_end: window, hop and batch must be positive".into());
                }
                if trim_frames * 2 >= *window {
                    return Err("front_end.trim_frames leaves nothing of a window".into());
                }
            }
            FrontEnd::Spectrogram { spectrogram, .. } => {
                spectrogram
                    .validate()
                    .map_err(|e| format!("front_end.spectrogram: {e}"))?;
                let fps = spectrogram.fps;
                if (fps * t.hop_seconds - 1.0).abs() > 1e-9 || !t.is_even() {
                    return Err(format!(
                        "frame_times.hop_seconds {} does not match the spectrogram's {fps} fps",
                        t.hop_seconds
                    ));
                }
            }
        }
        Ok(())
    }

    /// How many frames the system gives for the WAV file at `wav`, from its header alone (so
    /// the labels can be framed before the system runs): the resampled length as librosa fixes
    /// it, then `floor(samples * frames_per_second / sample_rate)`; or the spectrogram's frames.
    pub fn frames_of_wav(&self, wav: &Path) -> Result<usize, crate::audio::AudioError> {
        match &self.front_end {
            FrontEnd::WindowedAudio {
                sample_rate,
                frames_per_second,
                ..
            } => {
                let reader = crate::audio::WavMonoReader::open(wav)?;
                let info = reader.info();
                let samples = if info.sample_rate == *sample_rate {
                    info.frames
                } else {
                    (info.frames as f64 * f64::from(*sample_rate) / f64::from(info.sample_rate))
                        .ceil() as u64
                };
                Ok((samples * u64::from(*frames_per_second) / u64::from(*sample_rate)) as usize)
            }
            FrontEnd::Spectrogram { spectrogram, .. } => spectrogram.num_frames_of_wav(wav),
        }
    }

    /// The cached ONNX file: `$ENTANGLE_SYSTEMS_CACHE` or `.cache/systems` under `root`.
    pub fn onnx_path(&self, root: &Path) -> PathBuf {
        cache_dir(root).join(&self.onnx.file)
    }
}

/// The systems cache directory `scripts/fetch-systems.sh` fills.
pub fn cache_dir(root: &Path) -> PathBuf {
    match std::env::var_os("ENTANGLE_SYSTEMS_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => root.join(".cache/systems"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("systems/{name}.toml")),
        )
        .unwrap()
    }

    fn load_text(text: &str) -> Result<SystemSpec, SpecError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sys.toml");
        std::fs::write(&path, text).unwrap();
        SystemSpec::load(&path)
    }

    #[test]
    fn the_shipped_systems_load() {
        let bp = load_text(&shipped("basic-pitch")).unwrap();
        assert!(!bp.frame_times.is_even());
        assert!(matches!(
            bp.front_end,
            FrontEnd::WindowedAudio { hop: 36164, .. }
        ));
        let adsr = load_text(&shipped("adsr-cnn")).unwrap();
        let FrontEnd::Spectrogram { spectrogram, .. } = &adsr.front_end else {
            panic!("adsr-cnn: spectrogram front end");
        };
        assert!(!spectrogram.normalize_audio && spectrogram.bands_per_octave == 24);
        assert!(adsr.frame_times.is_even() && adsr.frame_times.nominal_fps() == 50.0);
    }

    #[test]
    fn bad_descriptions_are_refused_naming_the_file_and_the_key() {
        let adsr = shipped("adsr-cnn");
        let cases = [
            (
                adsr.replace("threshold = 0.5", "threshold = 1.5"),
                "threshold",
            ),
            (
                adsr.replace("hop_seconds = 0.02", "hop_seconds = 0.01"),
                "50 fps",
            ),
            (
                adsr.replace("kind = \"sdist\"", "kind = \"egg\""),
                "onnx.kind",
            ),
            (
                adsr.replace("lowest_pitch = 21", "lowest_pitch = 30"),
                "piano range",
            ),
            (adsr.replace("sha256 = \"6bb5", "sha256 = \"zzz"), "sha256"),
            (
                adsr.replace("pad_repeat = 5", "pad_repeat = 5\nwindow = 3"),
                "window",
            ),
            (
                adsr.replace("kind = \"spectrogram\"", "kind = \"cqt\""),
                "cqt",
            ),
        ];
        for (text, needle) in cases {
            let err = load_text(&text).unwrap_err().to_string();
            assert!(
                err.contains("sys.toml") && err.contains(needle),
                "{needle}: {err}"
            );
        }
    }

    #[test]
    fn frame_times_that_go_backwards_are_refused() {
        let bp = shipped("basic-pitch").replace(
            "period_shift_seconds = 0.010326077097505668",
            "period_shift_seconds = 0.02",
        );
        let err = load_text(&bp).unwrap_err().to_string();
        assert!(err.contains("backwards"), "{err}");
    }
}
