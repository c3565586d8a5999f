//! Training throughput on CPU (frames/s): forward, BCE backward and the Nesterov SGD update
//! for one batch of 32 context windows, per network, with libtorch's default threads.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entangle::model::weights::{Role, parameter_specs};
use entangle::model::{Weights, convnet, small_convnet};
use entangle_train::{OptimizerState, TchNet, TrainConfig};
use tch::{Device, Kind, Reduction, Tensor};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step_cpu_batch32");
    let config = TrainConfig::default();
    group.throughput(Throughput::Elements(config.batch_size as u64));
    for arch in [convnet(88), small_convnet(88)] {
        let mut net = TchNet::new(arch.clone(), Device::Cpu).unwrap();
        net.load_weights(&Weights::random(&arch, 0).unwrap())
            .unwrap();
        let trainable: Vec<String> = parameter_specs(&arch)
            .unwrap()
            .into_iter()
            .filter(|(_, _, r)| !matches!(r, Role::RunningMean | Role::RunningVar))
            .map(|(n, _, _)| n)
            .collect();
        for name in &trainable {
            let _ = net.param_mut(name).set_requires_grad(true);
        }
        let mut optimizer =
            OptimizerState::new(config.optimizer, config.momentum, config.weight_decay);
        let x = Tensor::randn([32, 1, 5, 229], (Kind::Float, Device::Cpu));
        let y = Tensor::rand([32, 88], (Kind::Float, Device::Cpu))
            .ge(0.9)
            .to_kind(Kind::Float);
        group.bench_function(arch.name, |b| {
            b.iter(|| {
                let loss = net
                    .forward_logits(&x, true)
                    .binary_cross_entropy_with_logits::<Tensor>(&y, None, None, Reduction::Mean);
                loss.backward();
                optimizer.step(&mut net, &trainable, 0.01);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
