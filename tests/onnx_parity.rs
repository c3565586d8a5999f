//! The exported ONNX graphs, run by ONNX Runtime, against PyTorch running the same layer list
//! and weights (tests/python/onnx_torch_parity.py), for all three networks, in inference mode.

mod common;
use common::python;

use std::path::PathBuf;
use std::process::Command;

fn entangle(args: &[&str]) -> Vec<u8> {
    common::succeeded(common::entangle(args)).stdout
}

#[derive(serde::Deserialize)]
struct Parity {
    shape: Vec<usize>,
    max_abs_diff: f64,
}

#[test]
fn onnx_runtime_matches_pytorch_for_all_three_networks() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/onnx_torch_parity.py");
    for (name, outputs, lowest, shape) in [
        ("convnet", "88", "21", vec![3, 88]),
        ("smallconvnet", "23", "49", vec![3, 23]),
        ("aunet", "88", "21", vec![3, 1, 256, 88]),
    ] {
        let onnx = dir.path().join(format!("{name}.onnx"));
        let json = dir.path().join(format!("{name}.json"));
        entangle(&[
            "model",
            "export",
            name,
            "--outputs",
            outputs,
            "--lowest-pitch",
            lowest,
            "-o",
            onnx.to_str().unwrap(),
            "--seed",
            "7",
        ]);
        std::fs::write(
            &json,
            entangle(&["model", "summary", name, "--outputs", outputs, "--json"]),
        )
        .unwrap();
        let out = Command::new(python())
            .args([
                script.to_str().unwrap(),
                json.to_str().unwrap(),
                onnx.to_str().unwrap(),
                "3",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parity: Parity = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(parity.shape, shape, "{name}");
        assert!(
            parity.max_abs_diff <= 1e-4,
            "{name}: ONNX Runtime vs PyTorch differ by {}",
            parity.max_abs_diff
        );
    }
}

#[test]
fn weights_of_the_wrong_shape_are_named() {
    use entangle::model::{Tensor, Weights, export_onnx, small_convnet};
    let arch = small_convnet(23);
    let mut weights = Weights::random(&arch, 1).unwrap();
    weights.tensors.insert(
        "0.weight".into(),
        Tensor {
            shape: vec![8, 2, 3, 3],
            data: vec![0.0; 144],
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let err = export_onnx(&arch, &weights, &dir.path().join("x.onnx"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "SmallConvNet: weight 0.weight has shape [8, 2, 3, 3], the architecture needs [8, 1, 3, 3]"
    );
    assert!(!dir.path().join("x.onnx").exists());
    weights.tensors.remove("0.weight");
    let err = export_onnx(&arch, &weights, &dir.path().join("x.onnx"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "SmallConvNet: weight 0.weight is missing (the architecture needs shape [8, 1, 3, 3])"
    );
}
