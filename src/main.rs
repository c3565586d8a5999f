//! The `entangle` command line: argument parsing only; each command's work is in
//! `cli/<command>.rs` and the library. Training runs in the `entangle-train` process, so
//! this binary never loads libtorch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use entangle::console::{error_message, init_logging, is_broken_pipe, print_stdout};

mod cli;

// The analysis decodes Parquet batch after batch; glibc's allocator hands the freed pages back
// to the kernel and faults them in again (a fifth of the scan), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: the same index in its v2 and v3 headers; the Rust
/// bindings name the option after it (16) but not it (a test checks that neighbour).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the pages mimalloc frees for reuse instead of purging them after its delay: a
/// `watch` round frees and reallocates the same tens of MiB every round, and the kernel
/// zeroing the purged pages again was a sixth of a `perf` profile of the rounds (minor page
/// faults of an 11-round watch run: 27,257 without this, 783 with it). The price is that the
/// process's resident memory stays at its high-water mark. A `MIMALLOC_PURGE_DELAY` the user
/// set wins.
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` is not thread-safe; this runs first in `main`, before any
    // other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[derive(Parser)]
#[command(
    name = "entangle",
    version,
    about = "Measure how framewise music-transcription networks fail"
)]
struct Cli {
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log-filtered spectrogram (madmom-identical, 229 bands) of a WAV file, as float32 .npy.
    Spectrogram(cli::spectrogram::SpectrogramArgs),
    /// Frame labels of MIDI or MAPS .txt note lists, as a `labels` Parquet table.
    Labels(cli::labels::LabelsArgs),
    /// Render corpora through SoundFonts.
    #[command(subcommand)]
    Synth(cli::synth::SynthCommand),
    /// Configuration-II manifest of a real MAPS directory (train on 6 synthesized pianos,
    /// validate on the 7th, test on the Disklavier recordings).
    Maps(cli::corpus::MapsArgs),
    /// Manifest of your own corpus of recordings and note lists (a directory of pairs, or
    /// MAESTRO's CSV), to train on or analyse.
    #[command(subcommand)]
    Corpus(cli::corpus::CorpusCommand),
    /// The paper's networks.
    #[command(subcommand)]
    Model(cli::model::ModelCommand),
    /// Third-party transcription systems (systems/*.toml: basic-pitch, madmom's ADSR CNN),
    /// run as they are.
    #[command(subcommand)]
    System(cli::system::SystemCommand),
    /// Frame predictions of an ONNX network on a corpus split, as a `predictions` table.
    Predict(cli::predict::PredictArgs),
    /// Run a pipeline spec (pipelines/*.toml): corpus, training with per-epoch evaluation,
    /// model selection, test analysis, figures and report; unchanged stages are skipped.
    Run(cli::pipeline::RunArgs),
    /// Per-combination error analysis of predictions against labels (batch): writes the
    /// combinations, additions, omissions, frame_metrics and split_metrics tables.
    Analyze(cli::analysis::AnalyzeArgs),
    /// Incremental analysis: keeps the dataflow alive over a directory and updates the
    /// tables (and appends to changes.jsonl) whenever a file appears, changes or goes.
    Watch(cli::analysis::WatchArgs),
    /// The NMF baseline (Kelz & Widmer's superposition contrast): a fixed dictionary learned
    /// from the training split's notes on the linear filtered spectrogram, KL multiplicative
    /// updates, threshold chosen on validation; writes predictions tables to analyse.
    Nmf(cli::nmf::NmfArgs),
    /// Figures and report.md for the tables of any analysis directory (the --out of
    /// `analyze` or `watch`): drawn into DIR/figures/, the report written to DIR/report.md.
    Report(cli::pipeline::ReportArgs),
    /// Train a network on a corpus manifest (in the `entangle-train` process, built with the
    /// `train` feature): checkpoints, per-epoch ONNX and best.onnx in the run directory.
    Train(cli::train::TrainArgs),
    /// Render a piano chord, compute its spectrogram and labels, and summarise them.
    Demo(cli::demo::DemoArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Spectrogram(args) => cli::spectrogram::run(args),
        Command::Labels(args) => cli::labels::run(args),
        Command::Synth(command) => cli::synth::run(command),
        Command::Maps(args) => cli::corpus::run_maps(args),
        Command::Corpus(command) => cli::corpus::run_corpus(command),
        Command::Model(command) => cli::model::run(command),
        Command::System(command) => cli::system::run_system(command),
        Command::Predict(args) => cli::predict::run(args),
        Command::Run(args) => cli::pipeline::run(args),
        Command::Analyze(args) => cli::analysis::run_analyze(args),
        Command::Watch(args) => cli::analysis::run_watch(args),
        Command::Nmf(args) => cli::nmf::run(args),
        Command::Report(args) => cli::pipeline::report(args),
        Command::Train(args) => cli::train::run(args),
        Command::Demo(args) => print_stdout(&entangle::demo::run(&args.out, &args.soundfont)?),
    }
}

fn main() -> ExitCode {
    keep_freed_pages();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_message(&err));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index the bindings do not name sits just before the one they do, as in
    /// mimalloc's headers (a renumbering would move it).
    #[test]
    fn the_purge_delay_index_is_just_before_its_named_neighbour() {
        assert_eq!(
            libmimalloc_sys::mi_option_use_numa_nodes - 1,
            MI_OPTION_PURGE_DELAY
        );
    }

    /// `entangle train`'s flags reach the job the trainer runs, defaults the paper's.
    #[test]
    fn train_flags_become_the_job() {
        let job = |extra: &[&str]| {
            let mut args = vec!["entangle", "train", "--manifest", "m.parquet"];
            args.extend(["--arch", "ConvNet", "--out", "run"]);
            args.extend(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Train(args) => args.into_job(),
                _ => unreachable!(),
            }
        };
        let plain = job(&[]);
        assert_eq!(plain.arch, entangle::model::Arch::ConvNet);
        assert_eq!(plain.config, entangle::protocol::TrainConfig::default());
        assert_eq!(plain.start, entangle::protocol::Start::Fresh);
        let remedies = job(&["--mixture-penalty", "0.5", "--chords", "0.3", "--resume"]);
        assert_eq!(remedies.config.mixture_penalty, 0.5);
        let chords = remedies.config.chords.unwrap();
        assert_eq!((chords.probability, chords.max_polyphony), (0.3, 6));
        assert_eq!(remedies.start, entangle::protocol::Start::Resume);
        assert!(Cli::try_parse_from(["entangle", "train", "--chord-max-polyphony", "3"]).is_err());
    }

    /// Every option and argument says what it is for in `--help`.
    #[test]
    fn every_option_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "entangle", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:#?}");
    }
}
