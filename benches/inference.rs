//! Inference throughput of the exported networks through `ort` (frames/s), 2 intra-op threads,
//! batches of 256 frames; `scripts/time_onnxruntime.py` times Python's onnxruntime on the same
//! model files with the same threads and batch (target: ours / Python >= 0.95).
//! The models (random weights) are written to target/bench-models/ for the Python side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entangle::infer::{InferenceOptions, OnnxModel};
use entangle::model::{Weights, convnet, export_onnx, small_convnet};

const BATCH: usize = 256;

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-models");
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("onnx_inference_2threads_batch256");
    group.throughput(Throughput::Elements(BATCH as u64));
    for arch in [convnet(88), small_convnet(88)] {
        let path = dir.join(format!("{}.onnx", arch.name.to_lowercase()));
        export_onnx(&arch, &Weights::random(&arch, 0).unwrap(), &path).unwrap();
        let options = InferenceOptions {
            intra_threads: 2,
            batch_size: BATCH,
            ..Default::default()
        };
        let mut model = OnnxModel::load(&path, options).unwrap();
        let input: Vec<f32> = (0..BATCH * 5 * 229)
            .map(|i| ((i % 97) as f32) * 0.01)
            .collect();
        group.bench_function(arch.name, |b| {
            b.iter(|| std::hint::black_box(model.run_batch(&input, BATCH).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
