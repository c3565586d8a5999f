//! The vocabulary the architectures are written in: a sequential list of layers, with named
//! taps and concatenations for U-Net skip connections. Everything else — shapes, parameter
//! counts, the summary table, (later) the tch modules and the ONNX graph — is derived from it.

use std::fmt;

/// Batch-normalisation epsilon, shared by training and the ONNX graph (torch's default).
pub const BATCH_NORM_EPSILON: f32 = 1e-5;

/// Spatial padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Output has the input's size (stride 1): pad `k / 2` on each side.
    Same,
    /// No padding.
    Valid,
    /// Explicit (height, width) padding on each side.
    Explicit(usize, usize),
}

impl Padding {
    /// Zero rows and columns added on each side for a `kernel`.
    pub fn amounts(self, (kh, kw): (usize, usize)) -> (usize, usize) {
        match self {
            Padding::Same => (kh / 2, kw / 2),
            Padding::Valid => (0, 0),
            Padding::Explicit(ph, pw) => (ph, pw),
        }
    }
}

/// Activation applied by a layer, or a standalone activation layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Relu,
    Elu,
    Sigmoid,
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Identity => "Id",
            Activation::Relu => "Relu",
            Activation::Elu => "Elu",
            Activation::Sigmoid => "Sigmoid",
        })
    }
}

/// One layer of a network.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Conv {
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        bias: bool,
        activation: Activation,
    },
    /// Batch normalisation over channels (or units, after a dense layer): scale, shift,
    /// running mean and running variance — four numbers per channel, as the paper counts.
    BatchNorm,
    Activation(Activation),
    /// Max pooling with stride equal to the kernel (floor).
    MaxPool {
        kernel: (usize, usize),
    },
    Dropout {
        p: f32,
    },
    /// Fully connected; flattens a `C x H x W` input first.
    Dense {
        units: usize,
        bias: bool,
        activation: Activation,
    },
    /// Nearest-neighbour upsampling by integer factors.
    Upscale {
        factor: (usize, usize),
    },
    /// Remembers the current tensor under a name (a U-Net skip connection's source).
    Tap(&'static str),
    /// Concatenates the tapped tensor of that name along channels.
    Concat(&'static str),
}

/// Shape of the tensor between layers, without the batch axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// channels x height x width
    Map(usize, usize, usize),
    Vector(usize),
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map(c, h, w) => write!(f, "{c}x{h}x{w}"),
            Shape::Vector(n) => write!(f, "{n}"),
        }
    }
}

impl Shape {
    pub fn numel(self) -> usize {
        match self {
            Shape::Map(c, h, w) => c * h * w,
            Shape::Vector(n) => n,
        }
    }

    /// Channels (or units).
    pub fn channels(self) -> usize {
        match self {
            Shape::Map(c, _, _) => c,
            Shape::Vector(n) => n,
        }
    }
}
