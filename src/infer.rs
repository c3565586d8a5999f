//! ONNX Runtime inference (`ort`, loading `libonnxruntime` at run time from `ORT_DYLIB_PATH`,
//! which `make setup` points at the venv's onnxruntime wheel). CPU by default; the CUDA
//! execution provider with `Device::Cuda` when built with the `cuda` feature. Frames are fed
//! as batches of context windows.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::features::{Spectrogram, context_window};
use crate::model::ModelMetadata;
use crate::model::onnx::{INPUT_NAME, OUTPUT_NAME};

/// Where the network runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

/// Session options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceOptions {
    pub device: Device,
    /// Threads ONNX Runtime uses inside one operator.
    pub intra_threads: usize,
    /// Frames per `run` call.
    pub batch_size: usize,
}

impl Default for InferenceOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_threads: 1,
            batch_size: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(
        "cannot load ONNX Runtime from {path}: {reason} (set ORT_DYLIB_PATH to libonnxruntime.so; `make setup` installs it in .venv)"
    )]
    Runtime { path: String, reason: String },
    #[error("{path}: no such model file")]
    MissingModel { path: PathBuf },
    #[error("{path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error(
        "{path}: the model takes input {input:?} (channels x frames x bins), the features are {features:?}"
    )]
    ShapeMismatch {
        path: PathBuf,
        input: Vec<i64>,
        features: Vec<usize>,
    },
    #[error(transparent)]
    Metadata(#[from] crate::model::metadata::MetadataError),
    #[error("{path}: the model produced a non-finite output for frame {frame}")]
    NonFinite { path: PathBuf, frame: usize },
    #[error(
        "this entangle was built without the `cuda` feature; rebuild with `--features cuda` for --device cuda"
    )]
    NoCuda,
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads the ONNX Runtime library and creates its environment, once per process.
fn runtime() -> Result<&'static ort::environment::Environment, InferError> {
    let path = std::env::var("ORT_DYLIB_PATH").unwrap_or_else(|_| "libonnxruntime.so".into());
    RUNTIME
        .get_or_init(|| {
            ort::init_from(&path)
                .map_err(|e| e.to_string())?
                .with_name("entangle")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| InferError::Runtime {
            path,
            reason: reason.clone(),
        })
}

/// An ONNX Runtime session for the file at `path` with `options` (device, threads), for any
/// graph: [`OnnxModel`] wraps one for entangle's networks, `crate::systems` for third-party
/// systems with their own input and output names.
pub fn open_session(path: &Path, options: InferenceOptions) -> Result<Session, InferError> {
    open_session_logging(path, options, None)
}

/// [`open_session`] with ONNX Runtime's log level for this session (`None`: its default).
pub fn open_session_logging(
    path: &Path,
    options: InferenceOptions,
    log_level: Option<ort::logging::LogLevel>,
) -> Result<Session, InferError> {
    if !path.is_file() {
        return Err(InferError::MissingModel {
            path: path.to_path_buf(),
        });
    }
    let environment = runtime()?;
    let model_error = |reason: String| InferError::Model {
        path: path.to_path_buf(),
        reason,
    };
    let mut builder = Session::builder(environment)
        .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
        .and_then(|b| Ok(b.with_intra_threads(options.intra_threads.max(1))?))
        .and_then(|b| match log_level {
            Some(level) => Ok(b.with_log_level(level)?),
            None => Ok(b),
        })
        .map_err(|e| model_error(e.to_string()))?;
    if options.device == Device::Cuda {
        builder = with_cuda(builder).map_err(|e| match e {
            CudaSetup::NotBuilt => InferError::NoCuda,
            CudaSetup::Failed(reason) => model_error(reason),
        })?;
    }
    builder
        .commit_from_file(path)
        .map_err(|e| model_error(e.to_string()))
}

/// An ONNX network ready to run.
pub struct OnnxModel {
    path: PathBuf,
    session: Session,
    /// Input shape without the batch axis.
    input: Vec<i64>,
    batch_size: usize,
    /// What the file says about its outputs (`metadata_props`).
    metadata: ModelMetadata,
}

impl OnnxModel {
    /// Opens `path` with `options`.
    pub fn load(path: &Path, options: InferenceOptions) -> Result<Self, InferError> {
        if !path.is_file() {
            return Err(InferError::MissingModel {
                path: path.to_path_buf(),
            });
        }
        let model_error = |reason: String| InferError::Model {
            path: path.to_path_buf(),
            reason,
        };
        let session = open_session(path, options)?;
        let input = session
            .inputs()
            .iter()
            .find(|i| i.name() == INPUT_NAME)
            .and_then(|i| {
                i.dtype()
                    .tensor_shape()
                    .map(|s| s.iter().skip(1).copied().collect())
            })
            .ok_or_else(|| model_error(format!("has no tensor input named {INPUT_NAME:?}")))?;
        if !session.outputs().iter().any(|o| o.name() == OUTPUT_NAME) {
            return Err(model_error(format!("has no output named {OUTPUT_NAME:?}")));
        }
        let props = session
            .metadata()
            .map_err(|e| model_error(format!("cannot read its metadata: {e}")))?;
        let metadata = ModelMetadata::from_props(path, |key| props.custom(key))?;
        drop(props);
        Ok(Self {
            path: path.to_path_buf(),
            session,
            input,
            batch_size: options.batch_size.max(1),
            metadata,
        })
    }

    /// What the file records about itself (lowest pitch, outputs, frame rate, architecture).
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Runs one batch: `input` holds `batch` examples of the input shape, row-major. Returns
    /// the outputs, `batch` x (output size), row-major.
    pub fn run_batch(&mut self, input: &[f32], batch: usize) -> Result<Vec<f32>, InferError> {
        let mut shape = vec![batch];
        shape.extend(self.input.iter().map(|&d| d.max(0) as usize));
        let model_error = |e: ort::Error| InferError::Model {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| InferError::Model {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_NAME => tensor])
            .map_err(model_error)?;
        let (_, data) = outputs[OUTPUT_NAME]
            .try_extract_tensor::<f32>()
            .map_err(|e| InferError::Model {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(data.to_vec())
    }

    /// Per-frame outputs of a frame-context network (ConvNet, SmallConvNet) on a spectrogram:
    /// one row of sigmoid outputs per frame.
    pub fn predict_frames(&mut self, spec: &Spectrogram) -> Result<Vec<Vec<f32>>, InferError> {
        let [1, context, bins] = self.input[..] else {
            return Err(self.mismatch(spec));
        };
        if bins as usize != spec.bands || context < 1 || context % 2 == 0 {
            return Err(self.mismatch(spec));
        }
        let radius = (context as usize - 1) / 2;
        let window = context as usize * spec.bands;
        let mut predictions = Vec::with_capacity(spec.frames);
        let mut batch = Vec::with_capacity(self.batch_size * window);
        for start in (0..spec.frames).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(spec.frames);
            batch.resize((end - start) * window, 0.0);
            for (frame, slot) in (start..end).zip(batch.chunks_exact_mut(window)) {
                context_window(spec, frame, radius, slot);
            }
            let out = self.run_batch(&batch, end - start)?;
            let units = out.len() / (end - start);
            for (i, row) in out.chunks_exact(units).enumerate() {
                predictions.push(self.finite(row, start + i)?);
            }
        }
        Ok(predictions)
    }

    /// Per-frame outputs of any of the networks: frame-context networks (input
    /// `[1, odd context, bands]`) frame by frame, segment networks like AUNet (input
    /// `[1, frames, bins >= bands]`, output `[1, frames, units]`) on consecutive segments, the
    /// bands zero-padded to `bins` and the last segment zero-padded past the end.
    pub fn predict(&mut self, spec: &Spectrogram) -> Result<Vec<Vec<f32>>, InferError> {
        match self.input[..] {
            [1, context, bins] if context % 2 == 1 && bins as usize == spec.bands => {
                self.predict_frames(spec)
            }
            [1, frames, bins] if frames > 1 && bins as usize >= spec.bands => {
                self.predict_segments(spec, frames as usize, bins as usize)
            }
            _ => Err(self.mismatch(spec)),
        }
    }

    fn predict_segments(
        &mut self,
        spec: &Spectrogram,
        frames: usize,
        bins: usize,
    ) -> Result<Vec<Vec<f32>>, InferError> {
        let segment = frames * bins;
        let per_batch = (self.batch_size / frames).max(1);
        let starts: Vec<usize> = (0..spec.frames).step_by(frames).collect();
        let mut predictions = Vec::with_capacity(spec.frames);
        let mut batch = Vec::new();
        for chunk in starts.chunks(per_batch) {
            batch.clear();
            batch.resize(chunk.len() * segment, 0.0);
            for (&start, slot) in chunk.iter().zip(batch.chunks_exact_mut(segment)) {
                for (f, row) in
                    (start..(start + frames).min(spec.frames)).zip(slot.chunks_exact_mut(bins))
                {
                    row[..spec.bands].copy_from_slice(spec.row(f));
                }
            }
            let out = self.run_batch(&batch, chunk.len())?;
            let units = out.len() / (chunk.len() * frames);
            for (&start, rows) in chunk.iter().zip(out.chunks_exact(frames * units)) {
                let real = (spec.frames - start).min(frames);
                for (i, row) in rows.chunks_exact(units).take(real).enumerate() {
                    predictions.push(self.finite(row, start + i)?);
                }
            }
        }
        Ok(predictions)
    }

    /// The outputs of `frame`, unless one is NaN or infinite.
    fn finite(&self, row: &[f32], frame: usize) -> Result<Vec<f32>, InferError> {
        if row.iter().any(|x| !x.is_finite()) {
            return Err(InferError::NonFinite {
                path: self.path.clone(),
                frame,
            });
        }
        Ok(row.to_vec())
    }

    fn mismatch(&self, spec: &Spectrogram) -> InferError {
        InferError::ShapeMismatch {
            path: self.path.clone(),
            input: self.input.clone(),
            features: vec![1, 5, spec.bands],
        }
    }
}

enum CudaSetup {
    #[allow(dead_code)]
    NotBuilt,
    #[allow(dead_code)]
    Failed(String),
}

#[cfg(feature = "cuda")]
fn with_cuda(
    builder: ort::session::builder::SessionBuilder,
) -> Result<ort::session::builder::SessionBuilder, CudaSetup> {
    builder
        .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        .map_err(|e| CudaSetup::Failed(e.to_string()))
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(
    _builder: ort::session::builder::SessionBuilder,
) -> Result<ort::session::builder::SessionBuilder, CudaSetup> {
    Err(CudaSetup::NotBuilt)
}
