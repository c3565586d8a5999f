//! Shape inference and parameter counting over an [`Architecture`], and the summary table
//! `entangle model summary` prints (laid out like the paper's appendix tables).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::architecture::Architecture;
use super::layers::{Activation, Layer, Shape};

/// One row of the summary: a layer, the shape it outputs and its parameter count.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    /// Index into `Architecture::layers`; `None` for the input row.
    pub layer: Option<usize>,
    pub kind: String,
    /// The shape the layer receives.
    pub input: Shape,
    pub output: Shape,
    /// Kernel or pooling window, shown as `@HxW` as in the paper.
    pub window: Option<(usize, usize)>,
    pub params: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{model}, layer {index} ({kind}): {message}")]
    Shape {
        model: &'static str,
        index: usize,
        kind: String,
        message: String,
    },
}

fn kind_of(layer: &Layer) -> String {
    match layer {
        Layer::Conv { activation, .. } => format!("Conv ({activation})"),
        Layer::BatchNorm => "BatchNorm".into(),
        Layer::Activation(a) => a.to_string(),
        Layer::MaxPool { .. } => "MaxPool".into(),
        Layer::Dropout { p } => format!("Dropout, p={p}"),
        Layer::Dense { activation, .. } => format!("Dense ({activation})"),
        Layer::Upscale { .. } => "Upscale".into(),
        Layer::Tap(name) => format!("Tap {name}"),
        Layer::Concat(name) => format!("Concat {name}"),
    }
}

/// Infers every layer's output shape and parameter count. The first row is the input.
pub fn summarize(arch: &Architecture) -> Result<Vec<LayerRow>, ModelError> {
    let mut rows = vec![LayerRow {
        layer: None,
        kind: "Input".into(),
        input: arch.input,
        output: arch.input,
        window: None,
        params: 0,
    }];
    let mut shape = arch.input;
    let mut taps: HashMap<&str, Shape> = HashMap::new();
    for (index, layer) in arch.layers.iter().enumerate() {
        if let Layer::Tap(name) = *layer {
            taps.insert(name, shape);
            continue;
        }
        let (output, window, params) =
            infer_layer(layer, shape, &taps).map_err(|message| ModelError::Shape {
                model: arch.name,
                index,
                kind: kind_of(layer),
                message,
            })?;
        rows.push(LayerRow {
            layer: Some(index),
            kind: kind_of(layer),
            input: shape,
            output,
            window,
            params,
        });
        shape = output;
    }
    Ok(rows)
}

/// A layer's output shape, window (`@HxW`) and parameter count.
type LayerOutput = (Shape, Option<(usize, usize)>, usize);

/// What one layer makes of an input of `shape`: its output shape, window and parameter
/// count, or why it cannot take that input. `taps` holds the shapes tapped so far.
fn infer_layer(
    layer: &Layer,
    shape: Shape,
    taps: &HashMap<&str, Shape>,
) -> Result<LayerOutput, String> {
    let map = |shape: Shape| match shape {
        Shape::Map(c, h, w) => Ok((c, h, w)),
        Shape::Vector(_) => Err(format!("needs a feature map, got a vector of {shape}")),
    };
    Ok(match *layer {
        Layer::Conv {
            out_channels,
            kernel: (kh, kw),
            stride: (sh, sw),
            padding,
            bias,
            activation: _,
        } => {
            let (c, h, w) = map(shape)?;
            let (ph, pw) = padding.amounts((kh, kw));
            if h + 2 * ph < kh || w + 2 * pw < kw {
                return Err(format!("kernel {kh}x{kw} is larger than the input {shape}"));
            }
            let out = Shape::Map(
                out_channels,
                (h + 2 * ph - kh) / sh + 1,
                (w + 2 * pw - kw) / sw + 1,
            );
            let params = c * out_channels * kh * kw + if bias { out_channels } else { 0 };
            (out, Some((kh, kw)), params)
        }
        Layer::BatchNorm => (shape, None, 4 * shape.channels()),
        Layer::Activation(_) | Layer::Dropout { .. } | Layer::Tap(_) => (shape, None, 0),
        Layer::MaxPool { kernel: (kh, kw) } => {
            let (c, h, w) = map(shape)?;
            if h < kh || w < kw {
                return Err(format!("window {kh}x{kw} is larger than the input {shape}"));
            }
            (Shape::Map(c, h / kh, w / kw), Some((kh, kw)), 0)
        }
        Layer::Dense { units, bias, .. } => {
            let params = shape.numel() * units + if bias { units } else { 0 };
            (Shape::Vector(units), None, params)
        }
        Layer::Upscale { factor: (fh, fw) } => {
            let (c, h, w) = map(shape)?;
            (Shape::Map(c, h * fh, w * fw), None, 0)
        }
        Layer::Concat(name) => {
            let (c, h, w) = map(shape)?;
            let tapped = *taps
                .get(name)
                .ok_or_else(|| format!("no tap named {name:?} before it"))?;
            match tapped {
                Shape::Map(tc, th, tw) if (th, tw) == (h, w) => (Shape::Map(c + tc, h, w), None, 0),
                _ => return Err(format!("tap {name:?} is {tapped}, the input is {shape}")),
            }
        }
    })
}

/// Total number of parameters.
pub fn parameter_count(arch: &Architecture) -> Result<usize, ModelError> {
    Ok(summarize(arch)?.iter().map(|r| r.params).sum())
}

/// The summary as a text table: layer, output dimensions, parameters, and the total.
pub fn render_table(arch: &Architecture) -> Result<String, ModelError> {
    let rows = summarize(arch)?;
    let total: usize = rows.iter().map(|r| r.params).sum();
    let mut s = String::new();
    let _ = writeln!(s, "{}", arch.name);
    let _ = writeln!(
        s,
        "{:<18} {:<20} {:>12}",
        "Layer Type", "Output Dimensions", "No. of Params"
    );
    for row in &rows {
        let dims = match row.window {
            Some((h, w)) => format!("{}@{h}x{w}", row.output),
            None => row.output.to_string(),
        };
        let params = if row.params > 0 {
            group_thousands(row.params)
        } else {
            String::new()
        };
        let _ = writeln!(s, "{:<18} {:<20} {:>12}", row.kind, dims, params);
    }
    let _ = writeln!(
        s,
        "{:<18} {:<20} {:>12}",
        "Total",
        "",
        group_thousands(total)
    );
    Ok(s)
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The activation a network ends with (what its ONNX graph outputs).
pub fn output_activation(arch: &Architecture) -> Activation {
    arch.layers
        .iter()
        .rev()
        .find_map(|l| match l {
            Layer::Conv { activation, .. } | Layer::Dense { activation, .. } => Some(*activation),
            _ => None,
        })
        .unwrap_or(Activation::Identity)
}
