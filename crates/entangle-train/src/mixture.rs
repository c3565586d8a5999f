//! The disentanglement penalty the paper leaves as "the topic of ongoing research" (Kelz &
//! Widmer 2017, section 6): besides the labelled loss, the network sees *unlabelled* mixtures
//! `a + b` of two training examples and is penalised when its last hidden representation `h`
//! of the mixture departs from the sum of those of the parts. No mixture label is used, so a
//! network trained on isolated notes still never sees a labelled combination.
//!
//! The penalty is `mean (h(a + b) - h(a) - h(b) + h(0))^2` over the batch and the hidden
//! units, with `h(0)` the representation of silence (an all-zero input: `log10(1 + 0)`).
//! Without the `h(0)` term a network with any bias or batch norm (all three of the paper's)
//! could never reach zero; with it, exactly the affine networks do, so the penalty measures
//! how far the representation is from superposition and nothing else. It is computed in
//! inference mode (no dropout, batch norm with its running statistics: the representation
//! the analysed network uses) or, with `mixture_in_training_mode`, in training mode, where the
//! labelled loss sees the same network (in inference mode the network can satisfy the
//! penalty by making its inference-time representation constant, README: Beyond the paper).
//!
//! The mixture is made in the magnitude domain of the network's input: the log-filtered
//! spectrogram `y = log10(1 + x)` of `a + b` is taken as `log10(1 + x_a + x_b)`, i.e. the
//! magnitudes add (the phases of the two are ignored, which is exact where their partials do
//! not overlap). Mixing the waveforms would need the audio in memory during training; the
//! frame data holds spectrograms.

use tch::{Kind, Tensor};

use super::net::TchNet;

/// The penalty for the parts `a`, `b` and their mixture `mix` (inputs of one shape, batch
/// first); a scalar tensor that gradients flow through. `train`: in training mode (dropout
/// on, batch norm on the statistics of this one batch of parts, mixtures and silence, so the
/// network stays affine across the rows) instead of inference mode.
pub fn mixture_penalty(net: &TchNet, a: &Tensor, b: &Tensor, mix: &Tensor, train: bool) -> Tensor {
    let n = a.size()[0];
    let silence = a.narrow(0, 0, 1).zeros_like();
    let inputs = Tensor::cat(&[a, b, mix, &silence], 0);
    let (hidden, _) = net.forward_hidden_and_logits(&inputs, train);
    let hidden = hidden.flatten(1, -1);
    let part = |k: i64, len: i64| hidden.narrow(0, k * n, len);
    let departure = part(2, n) - part(0, n) - part(1, n) + part(3, 1);
    departure.square().mean(Kind::Float)
}

/// The log-filtered spectrogram values of the mixture of two inputs (elementwise):
/// `log10(10^a + 10^b - 1)`, i.e. `log10(1 + x_a + x_b)` for `a = log10(1 + x_a)`.
pub fn mix_log_magnitudes(a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        let linear = (10f64.powf(f64::from(a)) - 1.0) + (10f64.powf(f64::from(b)) - 1.0);
        *o = (linear.max(0.0).ln_1p() / std::f64::consts::LN_10) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entangle::model::Architecture;
    use entangle::model::Weights;
    use entangle::model::layers::{Activation, Layer, Shape};
    use tch::Device;

    fn net(activation: Activation) -> TchNet {
        let arch = Architecture {
            name: "probe",
            input: Shape::Map(1, 3, 8),
            layers: vec![
                Layer::Dense {
                    units: 6,
                    bias: true,
                    activation,
                },
                Layer::Dense {
                    units: 4,
                    bias: true,
                    activation: Activation::Sigmoid,
                },
            ],
            lowest_pitch: None,
            fps: None,
        };
        let mut net = TchNet::new(arch.clone(), Device::Cpu).unwrap();
        net.load_weights(&Weights::random(&arch, 3).unwrap())
            .unwrap();
        // Biases far from zero, so an uncentred penalty would not vanish for the affine net.
        tch::no_grad(|| {
            let _ = net.param_mut("0.bias").fill_(0.7);
        });
        net
    }

    fn inputs() -> (Tensor, Tensor, Tensor) {
        tch::manual_seed(11);
        let a = Tensor::randn([5, 1, 3, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([5, 1, 3, 8], (Kind::Float, Device::Cpu));
        let mix = &a + &b;
        (a, b, mix)
    }

    #[test]
    fn zero_for_a_linear_network() {
        let (a, b, mix) = inputs();
        for train in [false, true] {
            let p =
                mixture_penalty(&net(Activation::Identity), &a, &b, &mix, train).double_value(&[]);
            assert!(
                p.abs() < 1e-10,
                "penalty {p} for an affine network (train {train})"
            );
        }
    }

    #[test]
    fn positive_for_a_nonlinear_network_and_differentiable() {
        let (a, b, mix) = inputs();
        let mut net = net(Activation::Relu);
        let _ = net.param_mut("0.weight").set_requires_grad(true);
        let p = mixture_penalty(&net, &a, &b, &mix, false);
        assert!(p.double_value(&[]) > 1e-3, "penalty {p} for a ReLU network");
        p.backward();
        let grad = net.param_mut("0.weight").grad();
        assert!(grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    #[test]
    fn magnitudes_add_under_the_log() {
        let a = [0.0f32, 1.0, std::f32::consts::LOG10_2];
        let b = [0.0f32, 0.0, std::f32::consts::LOG10_2];
        let mut out = [9.0f32; 3];
        mix_log_magnitudes(&a, &b, &mut out);
        // Silence and silence; 9 + 0; 1 + 1 (log10 2 each) gives log10 3.
        assert!(out[0].abs() < 1e-7);
        assert!((out[1] - 1.0).abs() < 1e-6);
        assert!((out[2] - 3f32.log10()).abs() < 1e-5);
    }
}
