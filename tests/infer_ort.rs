//! ONNX inference through `ort` (Rust) against Python's onnxruntime on the same model and
//! features, and the errors a user can run into.

mod common;
use common::python;

use std::path::PathBuf;
use std::process::Command;

use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::infer::{InferenceOptions, OnnxModel};
use entangle::model::{Weights, convnet, export_onnx, small_convnet};
use entangle::sink::npy::write_spectrogram_npy;

fn chord() -> entangle::features::Spectrogram {
    let wav = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/inputs/piano_chord.wav");
    SpectrogramComputer::new(SpectrogramParams::default())
        .unwrap()
        .compute_wav(&wav)
        .unwrap()
}

#[test]
fn ort_in_rust_equals_onnxruntime_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("small.onnx");
    let arch = small_convnet(88);
    export_onnx(&arch, &Weights::random(&arch, 11).unwrap(), &model).unwrap();
    let spec = chord();
    let npy = dir.path().join("chord.npy");
    write_spectrogram_npy(&npy, &spec).unwrap();
    // Batches of 64 so the last one is partial (175 frames).
    let options = InferenceOptions {
        batch_size: 64,
        ..Default::default()
    };
    let ours = OnnxModel::load(&model, options)
        .unwrap()
        .predict_frames(&spec)
        .unwrap();
    assert_eq!((ours.len(), ours[0].len()), (175, 88));

    let script = r#"
import sys, numpy as np, onnxruntime as ort
spec = np.load(sys.argv[2])
padded = np.pad(spec, ((2, 2), (0, 0)))
windows = np.stack([padded[i:i + 5] for i in range(len(spec))])[:, None].astype(np.float32)
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
np.save(sys.argv[3], s.run(["probabilities"], {"spectrogram": windows})[0])
"#;
    let reference = dir.path().join("reference.npy");
    common::succeeded(
        Command::new(python())
            .args([
                "-c",
                script,
                model.to_str().unwrap(),
                npy.to_str().unwrap(),
                reference.to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    );
    use ndarray_npy::ReadNpyExt;
    let reference =
        ndarray::Array2::<f32>::read_npy(std::fs::File::open(&reference).unwrap()).unwrap();
    let max = ours
        .iter()
        .flatten()
        .zip(reference.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "Rust ort vs Python onnxruntime: {max}");
}

#[test]
fn inference_errors_name_the_model_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.onnx");
    let err = OnnxModel::load(&missing, InferenceOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, format!("{}: no such model file", missing.display()));

    // A ConvNet for 229 bins fed a spectrogram with 24 bands per octave (115 bins).
    let model = dir.path().join("convnet.onnx");
    let arch = convnet(88);
    export_onnx(&arch, &Weights::random(&arch, 1).unwrap(), &model).unwrap();
    let narrow = SpectrogramComputer::new(SpectrogramParams {
        bands_per_octave: 24,
        ..Default::default()
    })
    .unwrap()
    .compute(&vec![0.1; 44_100]);
    let err = OnnxModel::load(&model, InferenceOptions::default())
        .unwrap()
        .predict_frames(&narrow)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.ends_with(&format!("the model takes input [1, 5, 229] (channels x frames x bins), the features are [1, 5, {}]", narrow.bands)),
        "{err}"
    );

    // Weights with a NaN make every output NaN: reported, not passed on.
    let nan_model = dir.path().join("nan.onnx");
    let arch = small_convnet(23);
    let mut weights = Weights::random(&arch, 2).unwrap();
    let last_bias = weights
        .tensors
        .keys()
        .rfind(|k| k.ends_with(".bias"))
        .unwrap()
        .clone();
    weights.tensors.get_mut(&last_bias).unwrap().data[0] = f32::NAN;
    export_onnx(&arch, &weights, &nan_model).unwrap();
    let err = OnnxModel::load(&nan_model, InferenceOptions::default())
        .unwrap()
        .predict_frames(&chord())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: the model produced a non-finite output for frame 0",
            nan_model.display()
        )
    );

    // Not an ONNX file at all.
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"definitely not protobuf").unwrap();
    let err = OnnxModel::load(&junk, InferenceOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with(&format!("{}: ", junk.display())), "{err}");
}
