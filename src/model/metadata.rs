//! What an exported network's outputs and inputs mean, stored in the ONNX file's
//! `metadata_props` so that no consumer has to guess it: the MIDI pitch of output 0, the
//! number of outputs, the frame rate of the spectrogram it was trained on, and the
//! architecture. A FLUID network's first output is MIDI 49, a piano network's 21: guessing
//! puts every note on the wrong key without a word (issue 17), so a consumer that finds no
//! lowest pitch in the file refuses the model unless `--lowest-pitch` says it.

use std::path::Path;

use crate::pitchset::{PIANO_MAX, PIANO_MIN};

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
    pub fn from_props(path: &Path, get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        fn parse<T: std::str::FromStr>(
            path: &Path,
            key: &str,
            value: Option<String>,
        ) -> Result<Option<T>, String> {
            value
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        format!("{}: metadata {key} = {v:?} is not a number", path.display())
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
                return Err(format!(
                    "{}: metadata {FPS_KEY} = {f} is not a frame rate",
                    path.display()
                ));
            }
        }
        Ok(meta)
    }

    /// Reads the metadata of the ONNX file at `path` (only the protobuf, no runtime).
    pub fn read(path: &Path) -> Result<Self, String> {
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
    ) -> Result<u8, String> {
        let file = path.display();
        if let (Some(n), Some(units)) = (self.outputs, units) {
            if n != units {
                return Err(format!(
                    "{file}: the model records {n} outputs ({OUTPUTS_KEY}) but produces {units}"
                ));
            }
        }
        if let Some(f) = self.fps {
            if (f - fps).abs() > 1e-9 * f.max(fps) {
                return Err(format!(
                    "{file}: the model was trained on spectrograms at {f} fps ({FPS_KEY}), \
                     the analysis runs at {fps} fps; pass --fps {f}"
                ));
            }
        }
        let lowest = match (self.lowest_pitch, flag) {
            (Some(recorded), Some(given)) if recorded != given => {
                return Err(format!(
                    "{file}: --lowest-pitch {given} contradicts the model, whose first output \
                     is MIDI {recorded} ({LOWEST_PITCH_KEY}); leave the flag out"
                ));
            }
            (Some(recorded), _) => recorded,
            (None, Some(given)) => given,
            (None, None) => return Err(missing_pitch_hint(path, units.or(self.outputs))),
        };
        let units = units.or(self.outputs).unwrap_or(1);
        if lowest < PIANO_MIN || usize::from(lowest) + units > usize::from(PIANO_MAX) + 1 {
            return Err(format!(
                "{file}: {units} outputs from MIDI {lowest} do not fit the piano's keys \
                 {PIANO_MIN}..{PIANO_MAX}"
            ));
        }
        Ok(lowest)
    }
}

/// Checks, before any work, that the ONNX file at `path` can be analysed at `fps` with
/// `--lowest-pitch` `flag`: reads its metadata and its output shape (without a runtime) and
/// returns the MIDI pitch of its first output.
pub fn check_network(path: &Path, flag: Option<u8>, fps: f64) -> Result<u8, String> {
    let model = decode(path)?;
    let meta = metadata_of(path, &model)?;
    meta.output_pitch(path, flag, static_outputs(&model), fps)
}

/// The ONNX file at `path`, parsed (weights included: a few MB for the paper's networks).
fn decode(path: &Path) -> Result<super::onnx::proto::ModelProto, String> {
    use prost::Message;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    super::onnx::proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| format!("{}: not an ONNX model: {e}", path.display()))
}

fn metadata_of(
    path: &Path,
    model: &super::onnx::proto::ModelProto,
) -> Result<ModelMetadata, String> {
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

/// The error for a network that does not say which pitch its first output is.
pub fn missing_pitch_hint(path: &Path, units: Option<usize>) -> String {
    let units = units.map_or(String::new(), |n| format!("; this one has {n} outputs"));
    format!(
        "{}: the model does not record the MIDI pitch of its first output (ONNX metadata \
         {LOWEST_PITCH_KEY}; models exported by entangle carry it): pass --lowest-pitch \
         (21 for a piano network with 88 outputs, 49 for the FLUID networks{units})",
        path.display()
    )
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
        assert_eq!(m.output_pitch(p, None, Some(23), 100.0), Ok(49));
        assert_eq!(m.output_pitch(p, Some(49), Some(23), 100.0), Ok(49));
        let e = m.output_pitch(p, Some(21), Some(23), 100.0).unwrap_err();
        assert!(e.contains("--lowest-pitch 21 contradicts"), "{e}");
        let e = m.output_pitch(p, None, Some(88), 100.0).unwrap_err();
        assert!(e.contains("records 23 outputs"), "{e}");
        let e = m.output_pitch(p, None, Some(23), 25.0).unwrap_err();
        assert!(e.contains("100 fps") && e.contains("--fps 100"), "{e}");
    }

    #[test]
    fn a_model_without_metadata_needs_the_flag_even_with_88_outputs() {
        let p = Path::new("foreign.onnx");
        let none = ModelMetadata::default();
        let e = none.output_pitch(p, None, Some(88), 100.0).unwrap_err();
        assert!(
            e.contains("--lowest-pitch") && e.contains("foreign.onnx"),
            "{e}"
        );
        assert_eq!(none.output_pitch(p, Some(21), Some(88), 100.0), Ok(21));
        let e = none.output_pitch(p, Some(49), Some(88), 100.0).unwrap_err();
        assert!(e.contains("do not fit"), "{e}");
    }

    #[test]
    fn unparsable_values_name_the_key() {
        let e = ModelMetadata::from_props(Path::new("m.onnx"), |k| {
            (k == LOWEST_PITCH_KEY).then(|| "C4".to_string())
        })
        .unwrap_err();
        assert!(e.contains(LOWEST_PITCH_KEY) && e.contains("C4"), "{e}");
    }
}
