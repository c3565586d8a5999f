//! tch (libtorch) and ONNX Runtime on the same weights, for all three networks, in
//! inference mode: the exported graph computes what the training stage's network computes.

use entangle::infer::{InferenceOptions, OnnxModel};
use entangle::model::layers::Shape;
use entangle::model::{Weights, aunet, convnet, export_onnx, small_convnet};
use entangle_train::TchNet;

#[test]
fn tch_and_onnx_runtime_agree_for_all_three_networks() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [convnet(88), small_convnet(23), aunet(88)] {
        let weights = Weights::random(&arch, 5).unwrap();
        let path = dir.path().join(format!("{}.onnx", arch.name));
        export_onnx(&arch, &weights, &path).unwrap();
        let mut net = TchNet::new(arch.clone(), tch::Device::Cpu).unwrap();
        net.load_weights(&weights).unwrap();
        assert_eq!(
            net.to_weights(),
            weights,
            "{}: weights round-trip through tch",
            arch.name
        );

        let batch = 2;
        let Shape::Map(c, h, w) = arch.input else {
            unreachable!("image inputs")
        };
        let input = tch::Tensor::randn(
            [batch, c as i64, h as i64, w as i64],
            (tch::Kind::Float, tch::Device::Cpu),
        );
        let expected = Vec::<f32>::try_from(net.predict(&input).flatten(0, -1)).unwrap();
        let data = Vec::<f32>::try_from(input.flatten(0, -1)).unwrap();
        let mut model = OnnxModel::load(&path, InferenceOptions::default()).unwrap();
        let got = model.run_batch(&data, batch as usize).unwrap();
        assert_eq!(got.len(), expected.len(), "{}", arch.name);
        let max = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max <= 1e-4,
            "{}: ONNX Runtime vs tch differ by {max}",
            arch.name
        );
    }
}
