//! The optimizers a training run can use, written out in torch's formulation so that their
//! state (momentum buffers, Adam's moment estimates and step count) is checkpointed with the
//! weights and a resumed run continues exactly:
//!
//! - `sgd`: torch.optim.SGD(momentum, dampening = 0, nesterov = True, weight_decay), the
//!   Kelz et al. (2016) protocol;
//! - `adam`: torch.optim.Adam(betas = (0.9, 0.999), eps = 1e-8, weight_decay as L2 on the
//!   gradient), the deviation some networks need to learn on a CPU budget (see README).
//!
//! Both take a learning rate per step, so a warm-up or the plateau schedule stays outside.

use std::collections::BTreeMap;

use tch::Tensor;

use super::net::TchNet;
use entangle::protocol::Optimizer;

const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
const ADAM_EPSILON: f64 = 1e-8;

/// An optimizer's per-parameter buffers.
pub struct OptimizerState {
    kind: Optimizer,
    momentum: f64,
    weight_decay: f64,
    /// SGD: the momentum buffer; Adam: the first moment.
    first: BTreeMap<String, Tensor>,
    /// Adam: the second moment.
    second: BTreeMap<String, Tensor>,
    /// Updates taken so far (Adam's bias correction needs it).
    pub steps: u64,
}

/// Checkpoint tensor-name prefixes of the buffers.
const FIRST_PREFIX: &str = "momentum/";
const SECOND_PREFIX: &str = "adam_v/";

impl OptimizerState {
    pub fn new(kind: Optimizer, momentum: f64, weight_decay: f64) -> Self {
        Self {
            kind,
            momentum,
            weight_decay,
            first: BTreeMap::new(),
            second: BTreeMap::new(),
            steps: 0,
        }
    }

    /// Takes a checkpoint tensor if it is one of this state's buffers; gives it back if not.
    pub fn restore(&mut self, name: &str, tensor: Tensor) -> Option<Tensor> {
        if let Some(param) = name.strip_prefix(FIRST_PREFIX) {
            self.first.insert(param.to_string(), tensor);
            None
        } else if let Some(param) = name.strip_prefix(SECOND_PREFIX) {
            self.second.insert(param.to_string(), tensor);
            None
        } else {
            Some(tensor)
        }
    }

    /// The buffers as named checkpoint tensors (on the CPU).
    pub fn checkpoint_tensors(&self) -> Vec<(String, Tensor)> {
        let named = |prefix: &str, map: &BTreeMap<String, Tensor>| {
            map.iter()
                .map(|(name, t)| (format!("{prefix}{name}"), t.to_device(tch::Device::Cpu)))
                .collect::<Vec<_>>()
        };
        let mut out = named(FIRST_PREFIX, &self.first);
        out.extend(named(SECOND_PREFIX, &self.second));
        out
    }

    /// Moves restored buffers to `device`.
    pub fn to_device(&mut self, device: tch::Device) {
        for t in self.first.values_mut().chain(self.second.values_mut()) {
            *t = t.to_device(device);
        }
    }

    /// One update of the parameters named in `trainable`, whose gradients are then zeroed.
    pub fn step(&mut self, net: &mut TchNet, trainable: &[String], learning_rate: f64) {
        self.steps += 1;
        tch::no_grad(|| {
            for name in trainable {
                let param = net.param_mut(name);
                let grad = param.grad();
                let d = &grad + &*param * self.weight_decay;
                let update = match self.kind {
                    Optimizer::Sgd => self.sgd_update(name, d),
                    Optimizer::Adam => self.adam_update(name, d),
                };
                let _ = param.g_sub_(&(update * learning_rate));
                let _ = param.grad().zero_();
            }
        });
    }

    /// Nesterov momentum without dampening: buf = mu * buf + d; step = d + mu * buf.
    fn sgd_update(&mut self, name: &str, d: Tensor) -> Tensor {
        let buf = match self.first.get_mut(name) {
            Some(buf) => {
                let _ = buf.g_mul_scalar_(self.momentum).g_add_(&d);
                buf.shallow_clone()
            }
            None => {
                let buf = d.copy();
                self.first.insert(name.to_string(), buf.shallow_clone());
                buf
            }
        };
        d + buf * self.momentum
    }

    /// Adam with bias correction: m_hat / (sqrt(v_hat) + eps).
    fn adam_update(&mut self, name: &str, d: Tensor) -> Tensor {
        let m = self
            .first
            .entry(name.to_string())
            .or_insert_with(|| d.zeros_like());
        let _ = m
            .g_mul_scalar_(ADAM_BETA1)
            .g_add_(&(&d * (1.0 - ADAM_BETA1)));
        let m = m.shallow_clone();
        let v = self
            .second
            .entry(name.to_string())
            .or_insert_with(|| d.zeros_like());
        let _ = v
            .g_mul_scalar_(ADAM_BETA2)
            .g_add_(&(&d * &d * (1.0 - ADAM_BETA2)));
        let v = v.shallow_clone();
        let t = self.steps as i32;
        let correction1 = 1.0 - ADAM_BETA1.powi(t);
        let correction2 = 1.0 - ADAM_BETA2.powi(t);
        (m / correction1) / ((v / correction2).sqrt() + ADAM_EPSILON)
    }
}
