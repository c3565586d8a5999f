//! The paper's three networks (Kelz & Widmer 2017, appendix Tables 1-3), each defined once as a
//! layer list. Parameter totals: ConvNet 1,877,880, SmallConvNet 5,327, AUNet 964,673.

use super::layers::{Activation, Layer, Padding, Shape};

/// A network: its input shape and its layers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Architecture {
    pub name: &'static str,
    pub input: Shape,
    pub layers: Vec<Layer>,
    /// MIDI pitch of output 0, once known: a trained network knows it, a layer table does
    /// not. Exported ONNX files record it (see [`super::metadata`]).
    #[serde(skip)]
    pub lowest_pitch: Option<u8>,
    /// Frame rate of the spectrograms the network was trained on, once known; recorded too.
    #[serde(skip)]
    pub fps: Option<f64>,
}

impl Architecture {
    /// The same network, whose output 0 is MIDI `lowest_pitch` and whose input frames come
    /// at `fps`: what an exported file records so that consumers need not guess.
    pub fn trained_on(mut self, lowest_pitch: u8, fps: f64) -> Self {
        self.lowest_pitch = Some(lowest_pitch);
        self.fps = Some(fps);
        self
    }
}

fn conv(out_channels: usize, kernel: (usize, usize), padding: Padding) -> Layer {
    Layer::Conv {
        out_channels,
        kernel,
        stride: (1, 1),
        padding,
        bias: false,
        activation: Activation::Identity,
    }
}

/// Conv -> BatchNorm -> activation, the paper's basic block.
fn conv_bn(
    layers: &mut Vec<Layer>,
    out_channels: usize,
    kernel: (usize, usize),
    padding: Padding,
    activation: Activation,
) {
    layers.push(conv(out_channels, kernel, padding));
    layers.push(Layer::BatchNorm);
    layers.push(Layer::Activation(activation));
}

fn pool_dropout(layers: &mut Vec<Layer>, kernel: (usize, usize), p: f32) {
    layers.push(Layer::MaxPool { kernel });
    layers.push(Layer::Dropout { p });
}

/// Table 1: ConvNet, 5 x 229 context in, `outputs` sigmoid units out (88 for piano).
pub fn convnet(outputs: usize) -> Architecture {
    let relu = Activation::Relu;
    let mut l = Vec::new();
    conv_bn(&mut l, 32, (3, 3), Padding::Same, relu);
    conv_bn(&mut l, 32, (3, 3), Padding::Valid, relu);
    pool_dropout(&mut l, (1, 2), 0.25);
    conv_bn(&mut l, 64, (3, 3), Padding::Valid, relu);
    pool_dropout(&mut l, (1, 2), 0.25);
    dense_head(&mut l, 512, outputs);
    Architecture {
        name: "ConvNet",
        input: Shape::Map(1, 5, 229),
        layers: l,
        lowest_pitch: None,
        fps: None,
    }
}

/// Table 2: SmallConvNet, 5 x 229 in, `outputs` out (23 for FLUID, 88 for piano).
pub fn small_convnet(outputs: usize) -> Architecture {
    let relu = Activation::Relu;
    let mut l = Vec::new();
    conv_bn(&mut l, 8, (3, 3), Padding::Same, relu);
    conv_bn(&mut l, 8, (3, 3), Padding::Valid, relu);
    pool_dropout(&mut l, (1, 2), 0.25);
    conv_bn(&mut l, 8, (3, 3), Padding::Valid, relu);
    pool_dropout(&mut l, (1, 2), 0.25);
    conv_bn(&mut l, 8, (1, 3), Padding::Valid, relu);
    pool_dropout(&mut l, (1, 2), 0.25);
    dense_head(&mut l, 16, outputs);
    Architecture {
        name: "SmallConvNet",
        input: Shape::Map(1, 5, 229),
        layers: l,
        lowest_pitch: None,
        fps: None,
    }
}

/// Dense (no bias) -> BatchNorm -> ReLU -> Dropout 0.5 -> Dense (bias) -> sigmoid.
fn dense_head(l: &mut Vec<Layer>, hidden: usize, outputs: usize) {
    l.push(Layer::Dense {
        units: hidden,
        bias: false,
        activation: Activation::Identity,
    });
    l.push(Layer::BatchNorm);
    l.push(Layer::Activation(Activation::Relu));
    l.push(Layer::Dropout { p: 0.5 });
    l.push(Layer::Dense {
        units: outputs,
        bias: true,
        activation: Activation::Sigmoid,
    });
}

/// Table 3: AUNet, 256 frames x 256 bins in (229 bins zero-padded), 256 x `outputs` out.
/// A U-Net with upscaling instead of deconvolution; the last layer is a wide (1 x 41)
/// convolution in frequency after a stride-2 convolution, mapping 256 bins to 88 keys.
pub fn aunet(outputs: usize) -> Architecture {
    let elu = Activation::Elu;
    let mut l = Vec::new();
    let block = |l: &mut Vec<Layer>, channels: usize| {
        conv_bn(l, channels, (3, 3), Padding::Same, elu);
        conv_bn(l, channels, (3, 3), Padding::Same, elu);
    };
    // Down: 256 -> 128 -> 64 -> 32 -> 16.
    let down = [(32, "d256"), (32, "d128"), (64, "d64"), (64, "d32")];
    for (channels, tap) in down {
        block(&mut l, channels);
        l.push(Layer::Tap(tap));
        l.push(Layer::MaxPool { kernel: (2, 2) });
    }
    block(&mut l, 128);
    // Up: 16 -> 32 -> 64 -> 128 -> 256, concatenating the taps.
    let up = [(128, "d32"), (64, "d64"), (32, "d128")];
    for (channels, tap) in up {
        l.push(Layer::Upscale { factor: (2, 2) });
        l.push(Layer::Concat(tap));
        block(&mut l, channels);
    }
    l.push(Layer::Upscale { factor: (2, 2) });
    l.push(Layer::Concat("d256"));
    conv_bn(&mut l, 32, (3, 3), Padding::Same, elu);
    l.push(Layer::Conv {
        out_channels: 32,
        kernel: (3, 3),
        stride: (1, 2),
        padding: Padding::Explicit(1, 1),
        bias: false,
        activation: Activation::Identity,
    });
    l.push(Layer::BatchNorm);
    l.push(Layer::Activation(elu));
    // 128 bins -> outputs with a valid convolution of width 128 - outputs + 1 (41 for 88).
    l.push(Layer::Conv {
        out_channels: 1,
        kernel: (1, 128 + 1 - outputs),
        stride: (1, 1),
        padding: Padding::Valid,
        bias: true,
        activation: Activation::Sigmoid,
    });
    Architecture {
        name: "AUNet",
        input: Shape::Map(1, 256, 256),
        layers: l,
        lowest_pitch: None,
        fps: None,
    }
}

/// The paper's three architectures, by the name used on the command line and in specs.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum Arch {
    /// The ConvNet of the paper's appendix (Table 1).
    ConvNet,
    /// The SmallConvNet of section 4.1 (Table 2).
    SmallConvNet,
    /// The all-convolutional U-net of section 4.2 (Table 3).
    AuNet,
}

impl Arch {
    /// The output count of the paper's appendix table: ConvNet and AUNet 88 (Tables 1 and
    /// 3), SmallConvNet 23 (Table 2, the FLUID networks).
    pub fn paper_outputs(self) -> usize {
        match self {
            Arch::ConvNet | Arch::AuNet => crate::pitchset::PIANO_KEYS,
            Arch::SmallConvNet => crate::corpus::fluid::FLUID_NOTES,
        }
    }

    /// The architecture with `outputs` output units.
    pub fn build(self, outputs: usize) -> Architecture {
        match self {
            Arch::ConvNet => convnet(outputs),
            Arch::SmallConvNet => small_convnet(outputs),
            Arch::AuNet => aunet(outputs),
        }
    }

    /// The command-line name (`convnet`, `smallconvnet`, `aunet`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::ConvNet => "convnet",
            Arch::SmallConvNet => "smallconvnet",
            Arch::AuNet => "aunet",
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
