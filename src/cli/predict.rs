//! `entangle predict`: one network's frame predictions on a corpus split, as a table.

use std::path::PathBuf;

use entangle::infer::{Device, InferenceOptions};

use entangle::console::file_stem;

#[derive(clap::Args)]
pub struct PredictArgs {
    /// The network (.onnx): a frame-context network (input [batch, 1, context, 229]) or a
    /// segment network like AUNet (input [batch, 1, frames, bins]).
    #[arg(long)]
    model: PathBuf,
    /// Corpus manifest.
    #[arg(long)]
    manifest: PathBuf,
    /// The manifest's split to predict.
    #[arg(long, default_value = "test")]
    split: String,
    /// MIDI pitch of the network's first output, for a model file that does not record
    /// it (entangle's exports do): 21 for piano nets, 49 for FLUID nets.
    #[arg(long)]
    lowest_pitch: Option<u8>,
    /// Model name in the table (default: the model file's stem).
    #[arg(long)]
    name: Option<String>,
    /// ONNX Runtime threads inside one operator.
    #[arg(long, default_value_t = 2)]
    intra_threads: usize,
    /// Execution provider (cuda needs the `cuda` feature).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Output Parquet file.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let name = args.name.unwrap_or_else(|| file_stem(&args.model));
    let options = InferenceOptions {
        device: args.device,
        intra_threads: args.intra_threads,
        ..Default::default()
    };
    let (rows, fps) = entangle::predict::predict_split(
        &args.model,
        &name,
        &args.manifest,
        &args.split,
        args.lowest_pitch,
        options,
    )?;
    entangle::sink::predictions_table::write_predictions(&args.output, &rows, fps)?;
    tracing::info!(frames = rows.len(), "wrote {}", args.output.display());
    Ok(())
}
