//! The ONNX graph of an architecture in inference mode (batch norm with running statistics,
//! no dropout), built from the layer list and a set of [`Weights`] with the prost types
//! generated from `onnx.proto`. Opset 17, IR version 8, dynamic batch axis.
//!
//! Input `spectrogram`: float32 `[batch, 1, 5, 229]` (ConvNet, SmallConvNet: context windows)
//! or `[batch, 1, 256, 256]` (AUNet). Output `probabilities`: float32 `[batch, outputs]`, or
//! `[batch, 1, 256, outputs]` for AUNet — sigmoid outputs, thresholded at 0.5 downstream.
//! `metadata_props` record the architecture, the output count, and (when the architecture
//! knows them) the lowest MIDI pitch and the frame rate: [`super::metadata`].

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use super::architecture::Architecture;
use super::layers::{Activation, BATCH_NORM_EPSILON, Layer, Padding, Shape};
use super::summary::{LayerRow, ModelError, summarize};
use super::weights::Weights;
use crate::sink::{SinkError, write_atomically};

/// The generated ONNX protobuf types.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

use proto::tensor_proto::DataType;
use proto::tensor_shape_proto::{Dimension, dimension};
use proto::type_proto::{self, Value as TypeValue};
use proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
};

pub const INPUT_NAME: &str = "spectrogram";
pub const OUTPUT_NAME: &str = "probabilities";
pub const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{model}: weight {name} is missing (the architecture needs shape {want:?})")]
    MissingWeight {
        model: &'static str,
        name: String,
        want: Vec<usize>,
    },
    #[error("{model}: weight {name} has shape {got:?}, the architecture needs {want:?}")]
    WeightShape {
        model: &'static str,
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn tensor_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n as i64),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn dims_of(shape: Shape) -> Vec<Option<usize>> {
    match shape {
        Shape::Map(c, h, w) => vec![None, Some(c), Some(h), Some(w)],
        Shape::Vector(n) => vec![None, Some(n)],
    }
}

/// Accumulates nodes and initializers.
struct GraphBuilder<'w> {
    model: &'static str,
    weights: &'w Weights,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder<'_> {
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.into()),
            attribute: attributes,
            ..Default::default()
        });
    }

    /// Adds weight `name` as an initializer, checking its shape.
    fn weight(&mut self, name: &str, want: &[usize]) -> Result<String, ExportError> {
        let tensor = self.weights.tensors.get(name);
        match tensor {
            Some(t) if t.shape == want => {
                let raw = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                self.initializers.push(TensorProto {
                    name: Some(name.into()),
                    dims: want.iter().map(|&d| d as i64).collect(),
                    data_type: Some(DataType::Float as i32),
                    raw_data: Some(raw),
                    ..Default::default()
                });
                Ok(name.to_string())
            }
            Some(t) => Err(ExportError::WeightShape {
                model: self.model,
                name: name.into(),
                got: t.shape.clone(),
                want: want.to_vec(),
            }),
            None => Err(ExportError::MissingWeight {
                model: self.model,
                name: name.into(),
                want: want.to_vec(),
            }),
        }
    }

    fn activation(&mut self, activation: Activation, input: &str, output: &str) -> bool {
        match activation {
            Activation::Identity => return false,
            Activation::Relu => self.node("Relu", &[input], output, vec![]),
            Activation::Elu => self.node("Elu", &[input], output, vec![float("alpha", 1.0)]),
            Activation::Sigmoid => self.node("Sigmoid", &[input], output, vec![]),
        }
        true
    }
}

/// Builds the ONNX model of `arch` with `weights`.
pub fn build_model(arch: &Architecture, weights: &Weights) -> Result<ModelProto, ExportError> {
    let rows = summarize(arch)?;
    let mut g = GraphBuilder {
        model: arch.name,
        weights,
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let mut current = INPUT_NAME.to_string();
    let mut taps: HashMap<&str, String> = HashMap::new();
    let mut final_shape = arch.input;
    let rows_by_layer: HashMap<usize, &LayerRow> = rows
        .iter()
        .filter_map(|r| r.layer.map(|i| (i, r)))
        .collect();
    for (index, layer) in arch.layers.iter().enumerate() {
        match layer {
            // Taps have no row of their own: they name the current tensor for a later Concat.
            Layer::Tap(tap) => {
                taps.insert(tap, current.clone());
            }
            // Inference mode: dropout is the identity.
            Layer::Dropout { .. } => {}
            Layer::Concat(tap) => {
                // summarize() has checked that the tap exists.
                let out = format!("t{index}");
                g.node(
                    "Concat",
                    &[&current, &taps[tap]],
                    &out,
                    vec![int("axis", 1)],
                );
                current = out;
                final_shape = rows_by_layer[&index].output;
            }
            _ => {
                let row = rows_by_layer[&index];
                current = g.layer(index, layer, row, &current)?;
                final_shape = row.output;
            }
        }
    }
    // Name the last tensor `probabilities`.
    g.node("Identity", &[&current], OUTPUT_NAME, vec![]);
    let graph = GraphProto {
        name: Some(arch.name.into()),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![tensor_info(INPUT_NAME, &dims_of(arch.input))],
        output: vec![tensor_info(OUTPUT_NAME, &dims_of(final_shape))],
        ..Default::default()
    };
    let outputs = match final_shape {
        Shape::Vector(n) | Shape::Map(_, _, n) => n,
    };
    Ok(model_proto(arch, graph, outputs))
}

impl GraphBuilder<'_> {
    /// Adds the nodes of layer `index` (not a tap, dropout or concat), which reads tensor
    /// `input` of the shape in `row`; returns the name of the tensor it produces.
    fn layer(
        &mut self,
        index: usize,
        layer: &Layer,
        row: &LayerRow,
        input: &str,
    ) -> Result<String, ExportError> {
        let out = format!("t{index}");
        let name = |suffix: &str| format!("{index}.{suffix}");
        match *layer {
            Layer::Conv {
                out_channels,
                kernel,
                stride,
                padding,
                bias,
                activation,
            } => {
                let w = self.weight(
                    &name("weight"),
                    &[out_channels, row.input.channels(), kernel.0, kernel.1],
                )?;
                let b = if bias {
                    Some(self.weight(&name("bias"), &[out_channels])?)
                } else {
                    None
                };
                let conv_out = format!("{out}_conv");
                self.conv(
                    input,
                    &w,
                    b.as_deref(),
                    (kernel, stride, padding),
                    &conv_out,
                );
                Ok(self.activated(activation, conv_out, out))
            }
            Layer::BatchNorm => {
                let c = row.input.channels();
                let params: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
                    .iter()
                    .map(|p| self.weight(&name(p), &[c]))
                    .collect::<Result<_, _>>()?;
                let mut inputs = vec![input];
                inputs.extend(params.iter().map(String::as_str));
                let epsilon = float("epsilon", BATCH_NORM_EPSILON);
                self.node("BatchNormalization", &inputs, &out, vec![epsilon]);
                Ok(out)
            }
            Layer::Activation(a) => {
                self.activation(a, input, &out);
                Ok(out)
            }
            Layer::MaxPool { kernel: (kh, kw) } => {
                let k = [kh as i64, kw as i64];
                let attributes = vec![ints("kernel_shape", &k), ints("strides", &k)];
                self.node("MaxPool", &[input], &out, attributes);
                Ok(out)
            }
            Layer::Dense {
                units,
                bias,
                activation,
            } => {
                let gemm_out = self.dense(&name, row, input, units, bias, &out)?;
                Ok(self.activated(activation, gemm_out, out))
            }
            Layer::Upscale { factor } => {
                self.upscale(input, factor, &out);
                Ok(out)
            }
            Layer::Tap(_) | Layer::Dropout { .. } | Layer::Concat(_) => {
                unreachable!("build_model handles taps, dropout and concatenation")
            }
        }
    }

    /// A 2-D convolution of `input` with weight `w` (and bias `b`) into `out`.
    fn conv(
        &mut self,
        input: &str,
        w: &str,
        b: Option<&str>,
        (kernel, stride, padding): ((usize, usize), (usize, usize), Padding),
        out: &str,
    ) {
        let (ph, pw) = padding.amounts(kernel);
        let mut inputs = vec![input, w];
        inputs.extend(b);
        let attributes = vec![
            ints("kernel_shape", &[kernel.0 as i64, kernel.1 as i64]),
            ints("strides", &[stride.0 as i64, stride.1 as i64]),
            ints("pads", &[ph as i64, pw as i64, ph as i64, pw as i64]),
        ];
        self.node("Conv", &inputs, out, attributes);
    }

    /// A dense layer (flattening a feature map first); returns its pre-activation tensor.
    fn dense(
        &mut self,
        name: &dyn Fn(&str) -> String,
        row: &LayerRow,
        input: &str,
        units: usize,
        bias: bool,
        out: &str,
    ) -> Result<String, ExportError> {
        let flat = if matches!(row.input, Shape::Map(..)) {
            let flat = format!("{out}_flat");
            self.node("Flatten", &[input], &flat, vec![int("axis", 1)]);
            flat
        } else {
            input.to_string()
        };
        let w = self.weight(&name("weight"), &[units, row.input.numel()])?;
        let mut inputs = vec![flat, w];
        if bias {
            inputs.push(self.weight(&name("bias"), &[units])?);
        }
        let gemm_out = format!("{out}_gemm");
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node("Gemm", &inputs, &gemm_out, vec![int("transB", 1)]);
        Ok(gemm_out)
    }

    /// Nearest-neighbour upscaling, each input pixel repeated: torch's nn.Upsample(nearest).
    fn upscale(&mut self, input: &str, (fh, fw): (usize, usize), out: &str) {
        let scales = format!("{out}_scales");
        self.initializers.push(TensorProto {
            name: Some(scales.clone()),
            dims: vec![4],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0, 1.0, fh as f32, fw as f32],
            ..Default::default()
        });
        let attributes = vec![
            string("mode", "nearest"),
            string("coordinate_transformation_mode", "asymmetric"),
            string("nearest_mode", "floor"),
        ];
        self.node("Resize", &[input, "", &scales], out, attributes);
    }

    /// `pre` through `activation` into `out`; `pre` itself when the activation is the identity.
    fn activated(&mut self, activation: Activation, pre: String, out: String) -> String {
        if self.activation(activation, &pre, &out) {
            out
        } else {
            pre
        }
    }
}

/// The model around `graph`: opset, producer, and the metadata saying what its outputs mean.
fn model_proto(arch: &Architecture, graph: GraphProto, outputs: usize) -> ModelProto {
    let metadata = super::metadata::ModelMetadata {
        architecture: Some(arch.name.to_string()),
        lowest_pitch: arch.lowest_pitch,
        outputs: Some(outputs),
        fps: arch.fps,
    };
    ModelProto {
        ir_version: Some(IR_VERSION),
        metadata_props: metadata
            .to_props()
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key.to_string()),
                value: Some(value),
            })
            .collect(),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("entangle".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        ..Default::default()
    }
}

/// Writes the ONNX model of `arch` with `weights` to `path`, atomically.
pub fn export_onnx(arch: &Architecture, weights: &Weights, path: &Path) -> Result<(), ExportError> {
    let bytes = build_model(arch, weights)?.encode_to_vec();
    write_atomically(path, |w| std::io::Write::write_all(w, &bytes))?;
    Ok(())
}
