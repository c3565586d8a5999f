//! `entangle model`: the paper's architectures as tables, JSON and ONNX files.

use std::path::PathBuf;

use clap::Subcommand;
use entangle::model::{Arch, Architecture, Weights};

use entangle::console::print_stdout;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Export a network as ONNX (opset 17, inference mode), with trained weights from a
    /// training checkpoint (--weights) or deterministic random ones (for tests and
    /// benchmarks). The file records its architecture, outputs, lowest pitch and frame rate.
    Export(ExportArgs),
    /// Layer table (output shapes, parameters, total) like the paper's appendix.
    Summary {
        /// The architecture.
        #[arg(value_enum, ignore_case = true)]
        arch: Arch,
        /// Output units (default: the paper's table, 88 for ConvNet and AUNet, 23 for
        /// SmallConvNet); 88 for piano, 23 for the FLUID sets.
        #[arg(long)]
        outputs: Option<usize>,
        /// Print the layer list as JSON instead (the architecture as data).
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The architecture.
    #[arg(value_enum, ignore_case = true)]
    arch: Arch,
    /// Output units (default: the paper's, 88 for ConvNet and AUNet, 23 for SmallConvNet).
    #[arg(long)]
    outputs: Option<usize>,
    /// Output file (.onnx).
    #[arg(short, long)]
    output: PathBuf,
    /// Trained weights: a `checkpoint-NNNN.safetensors` of a training run directory.
    #[arg(long, value_name = "CHECKPOINT")]
    weights: Option<PathBuf>,
    /// Seed of the random weights (without --weights).
    #[arg(long, default_value_t = 0, conflicts_with = "weights")]
    seed: u64,
    /// MIDI pitch of the first output (default 21 with 88 outputs; needed otherwise,
    /// e.g. 49 for the FLUID networks).
    #[arg(long)]
    lowest_pitch: Option<u8>,
    /// Frame rate of the spectrograms the network reads.
    #[arg(long, default_value_t = 100.0)]
    fps: f64,
}

impl ExportArgs {
    /// The architecture with the outputs, lowest pitch and frame rate its file records.
    fn architecture(&self) -> anyhow::Result<Architecture> {
        let outputs = self.outputs.unwrap_or(self.arch.paper_outputs());
        let lowest_pitch = match self.lowest_pitch {
            Some(p) => p,
            None if outputs == entangle::pitchset::PIANO_KEYS => entangle::pitchset::PIANO_MIN,
            None => anyhow::bail!(
                "{} with {outputs} outputs: pass --lowest-pitch, the MIDI pitch of the first \
                 output (49 for the FLUID networks)",
                self.arch
            ),
        };
        anyhow::ensure!(
            self.fps.is_finite() && self.fps > 0.0,
            "--fps {} is not a frame rate",
            self.fps
        );
        Ok(self.arch.build(outputs).trained_on(lowest_pitch, self.fps))
    }
}

pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Export(args) => {
            let arch = args.architecture()?;
            let weights = match &args.weights {
                Some(path) => Weights::read_checkpoint(&arch, path)?,
                None => Weights::random(&arch, args.seed)?,
            };
            entangle::model::export_onnx(&arch, &weights, &args.output)?;
            tracing::info!(
                parameters = weights.parameter_count(),
                "wrote {}",
                args.output.display()
            );
        }
        ModelCommand::Summary {
            arch,
            outputs,
            json,
        } => {
            let arch = arch.build(outputs.unwrap_or(arch.paper_outputs()));
            if json {
                print_stdout(&format!("{}\n", serde_json::to_string_pretty(&arch)?))?;
            } else {
                print_stdout(&entangle::model::render_table(&arch)?)?;
            }
        }
    }
    Ok(())
}
