//! What an exported network's outputs and inputs mean, stored in the ONNX file's
//! `metadata_props` so that no consumer has to guess it: the MIDI pitch of output 0, the
//! number of outputs, the frame rate of the spectrogram it was trained on, and the
//! architecture. A FLUID network's first output is MIDI 49, a piano network's 21: guessing
//! puts every note on the wrong key without a word (issue 17), so a consumer that finds no
//! lowest pitch in the file refuses the model unless `--lowest-pitch` says it.

use std::path::{Path, PathBuf};

use crate::pitchset::{PIANO_MAX, PIANO_MIN};

/// A network file whose metadata cannot be read, or does not fit the analysis.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct MetadataError {
    pub path: PathBuf,
    #[source]
    pub problem: MetadataProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataProblem {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not an ONNX model: {0}")]
    NotOnnx(#[from] prost::DecodeError),
    #[error("metadata {key} = {value:?} is not a number")]
    NotANumber { key: &'static str, value: String },
    #[error("metadata {FPS_KEY} = {0} is not a frame rate")]
    NotAFrameRate(f64),
    #[error("the model records {recorded} outputs ({OUTPUTS_KEY}) but produces {produced}")]
    Outputs { recorded: usize, produced: usize },
    #[error(
        "the model was trained on spectrograms at {recorded} fps ({FPS_KEY}), the analysis \
         runs at {analysis} fps; pass --fps {recorded}"
    )]
    FrameRate { recorded: f64, analysis: f64 },
    #[error(
        "--lowest-pitch {given} contradicts the model, whose first output is MIDI {recorded} \
         ({LOWEST_PITCH_KEY}); leave the flag out"
    )]
    ContradictingFlag { given: u8, recorded: u8 },
    #[error(
        "the model does not record the MIDI pitch of its first output (ONNX metadata \
         {LOWEST_PITCH_KEY}; models exported by entangle carry it): pass --lowest-pitch (21 \
         for a piano network with 88 outputs, 49 for the FLUID networks{})",
        units.map_or(String::new(), |n| format!("; this one has {n} outputs"))
    )]
    NoLowestPitch { units: Option<usize> },
    #[error(
        "{units} outputs from MIDI {lowest} do not fit the piano's keys {PIANO_MIN}..{PIANO_MAX}"
    )]
    OutsidePiano { units: usize, lowest: u8 },
}

impl MetadataProblem {
    fn at(self, path: &Path) -> MetadataError {
        MetadataError {
            path: path.to_path_buf(),
            problem: self,
        }
    }
}

/// `metadata_props` keys (ONNX Runtime shows them as the model's custom metadata).
pub const ARCHITECTURE_KEY: &str = "entangle.architecture";
pub const LOWEST_PITCH_KEY: &str = "entangle.lowest_pitch";
pub const OUTPUTS_KEY: &str = "entangle.outputs";
pub const FPS_KEY: &str = "entangle.fps";

/// What a network file says about itself; a field is `None` when the file does not record it
/// (networks from other tools record none of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMetadata {
    pub architecture: Option<String>,
    pub lowest_pitch: Option<u8>,
    pub outputs: Option<usize>,
    pub fps: Option<f64>,
}

impl ModelMetadata {
    /// The `metadata_props` entries, in a fixed order.
    pub fn to_props(&self) -> Vec<(&'static str, String)> {
        let mut props = Vec::new();
        if let Some(a) = &self.architecture {
            props.push((ARCHITECTURE_KEY, a.clone()));
        }
        if let Some(p) = self.lowest_pitch {
            props.push((LOWEST_PITCH_KEY, p.to_string()));
        }
        if let Some(n) = self.outputs {
            props.push((OUTPUTS_KEY, n.to_string()));
        }
        if let Some(f) = self.fps {
            props.push((FPS_KEY, f.to_string()));
        }
        props
    }

    /// Reads the entries through `get` (key -> value); a value that does not parse is an
    /// error naming `path`, the key and the value.
    pub fn from_props(
        path: &Path,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MetadataError> {
        fn parse<T: std::str::FromStr>(
            path: &Path,
            key: &'static str,
            value: Option<String>,
        ) -> Result<Option<T>, MetadataError> {
            value
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        MetadataProblem::NotANumber {
                            key,
                            value: v.clone(),
                        }
                        .at(path)
                    })
                })
                .transpose()
        }
        let meta = Self {
            architecture: get(ARCHITECTURE_KEY),
            lowest_pitch: parse(path, LOWEST_PITCH_KEY, get(LOWEST_PITCH_KEY))?,
            outputs: parse(path, OUTPUTS_KEY, get(OUTPUTS_KEY))?,
            fps: parse(path, FPS_KEY, get(FPS_KEY))?,
        };
        if let Some(f) = meta.fps {
            if !(f.is_finite() && f > 0.0) {
                return Err(MetadataProblem::NotAFrameRate(f).at(path));
            }
        }
        Ok(meta)
    }

    /// Reads the metadata of the ONNX file at `path` (only the protobuf, no runtime).
    pub fn read(path: &Path) -> Result<Self, MetadataError> {
        metadata_of(path, &decode(path)?)
    }

    /// The MIDI pitch of output 0 of the network at `path`, which produces `units` outputs
    /// per frame (`None`: not known before it runs) and is run on spectrograms at `fps`: the
    /// recorded pitch, or `flag` (`--lowest-pitch`) for a network that does not record it. A
    /// flag that contradicts the file, an output count or frame rate other than the recorded
    /// ones, and outputs past the piano's range are errors.
    pub fn output_pitch(
        &self,
        path: &Path,
        flag: Option<u8>,
        units: Option<usize>,
        fps: f64,
    ) -> Result<u8, MetadataError> {
        if let (Some(recorded), Some(produced)) = (self.outputs, units) {
            if recorded != produced {
                return Err(MetadataProblem::Outputs { recorded, produced }.at(path));
            }
        }
        if let Some(recorded) = self.fps {
            if (recorded - fps).abs() > 1e-9 * recorded.max(fps) {
                let analysis = fps;
                return Err(MetadataProblem::FrameRate { recorded, analysis }.at(path));
            }
        }
        let lowest = match (self.lowest_pitch, flag) {
            (Some(recorded), Some(given)) if recorded != given => {
                return Err(MetadataProblem::ContradictingFlag { given, recorded }.at(path));
            }
            (Some(recorded), _) => recorded,
            (None, Some(given)) => given,
            (None, None) => {
                let units = units.or(self.outputs);
                return Err(MetadataProblem::NoLowestPitch { units }.at(path));
            }
        };
        let units = units.or(self.outputs).unwrap_or(1);
        if lowest < PIANO_MIN || usize::from(lowest) + units > usize::from(PIANO_MAX) + 1 {
            return Err(MetadataProblem::OutsidePiano { units, lowest }.at(path));
        }
        Ok(lowest)
    }
}

/// Checks, before any work, that the ONNX file at `path` can be analysed at `fps` with
/// `--lowest-pitch` `flag`: reads its metadata and its output shape (without a runtime) and
/// returns the MIDI pitch of its first output.
pub fn check_network(path: &Path, flag: Option<u8>, fps: f64) -> Result<u8, MetadataError> {
    let model = decode(path)?;
    let meta = metadata_of(path, &model)?;
    meta.output_pitch(path, flag, static_outputs(&model), fps)
}

/// The ONNX file at `path`, parsed (weights included: a few MB for the paper's networks).
fn decode(path: &Path) -> Result<super::onnx::proto::ModelProto, MetadataError> {
    use prost::Message;
    let bytes = std::fs::read(path).map_err(|e| MetadataProblem::from(e).at(path))?;
    super::onnx::proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| MetadataProblem::from(e).at(path))
}

fn metadata_of(
    path: &Path,
    model: &super::onnx::proto::ModelProto,
) -> Result<ModelMetadata, MetadataError> {
    ModelMetadata::from_props(path, |key| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .and_then(|p| p.value.clone())
    })
}

/// The last dimension of the `probabilities` output, when the file fixes it.
fn static_outputs(model: &super::onnx::proto::ModelProto) -> Option<usize> {
    use super::onnx::proto::tensor_shape_proto::dimension::Value;
    use super::onnx::proto::type_proto::Value as TypeValue;
    let output = model
        .graph
        .as_ref()?
        .output
        .iter()
        .find(|o| o.name.as_deref() == Some(super::onnx::OUTPUT_NAME))?;
    let Some(TypeValue::TensorType(tensor)) = output.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    match tensor.shape.as_ref()?.dim.last()?.value {
        Some(Value::DimValue(n)) if n > 0 => Some(n as usize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(lowest: Option<u8>, outputs: Option<usize>, fps: Option<f64>) -> ModelMetadata {
        ModelMetadata {
            architecture: Some("ConvNet".into()),
            lowest_pitch: lowest,
            outputs,
            fps,
        }
    }

    #[test]
    fn props_round_trip() {
        let m = meta(Some(49), Some(23), Some(100.0));
        let props = m.to_props();
        let back = ModelMetadata::from_props(Path::new("m.onnx"), |k| {
            props
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn recorded_pitch_wins_and_a_contradicting_flag_is_an_error() {
        let p = Path::new("m.onnx");
        let m = meta(Some(49), Some(23), Some(100.0));
        assert_eq!(m.output_pitch(p, None, Some(23), 100.0).unwrap(), 49);
        assert_eq!(m.output_pitch(p, Some(49), Some(23), 100.0).unwrap(), 49);
        let e = m
            .output_pitch(p, Some(21), Some(23), 100.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--lowest-pitch 21 contradicts"), "{e}");
        let e = m
            .output_pitch(p, None, Some(88), 100.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("records 23 outputs"), "{e}");
        let e = m
            .output_pitch(p, None, Some(23), 25.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("100 fps") && e.contains("--fps 100"), "{e}");
    }

    #[test]
    fn a_model_without_metadata_needs_the_flag_even_with_88_outputs() {
        let p = Path::new("foreign.onnx");
        let none = ModelMetadata::default();
        let e = none
            .output_pitch(p, None, Some(88), 100.0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--lowest-pitch") && e.contains("foreign.onnx"),
            "{e}"
        );
        assert_eq!(none.output_pitch(p, Some(21), Some(88), 100.0).unwrap(), 21);
        let e = none
            .output_pitch(p, Some(49), Some(88), 100.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("do not fit"), "{e}");
    }

    #[test]
    fn unparsable_values_name_the_key() {
        let e = ModelMetadata::from_props(Path::new("m.onnx"), |k| {
            (k == LOWEST_PITCH_KEY).then(|| "C4".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(LOWEST_PITCH_KEY) && e.contains("C4"), "{e}");
    }
}
