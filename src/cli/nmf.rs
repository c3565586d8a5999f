//! `entangle nmf`: the NMF baseline (`entangle::nmf`) on a corpus manifest, written as
//! `predictions` tables for `entangle analyze`.

use std::path::PathBuf;

use clap::Args;
use entangle::nmf::LearnOptions;
use entangle::nmf::system::{NmfOptions, run_nmf};

/// `entangle nmf`.
#[derive(Args, Debug)]
pub struct NmfArgs {
    /// Corpus manifest with train, validation and test splits.
    #[arg(long)]
    manifest: PathBuf,
    /// Output directory: NAME-validation.parquet, NAME-test.parquet, dictionary.npy, nmf.json.
    #[arg(long)]
    out: PathBuf,
    /// Atoms per pitch in the dictionary.
    #[arg(long, default_value_t = 1)]
    atoms_per_pitch: usize,
    /// Multiplicative updates when learning the dictionary.
    #[arg(long, default_value_t = 100)]
    learn_iterations: usize,
    /// Multiplicative updates per frame when solving for the activations.
    #[arg(long, default_value_t = 200)]
    solve_iterations: usize,
    /// Frame rate of spectrograms and labels.
    #[arg(long, default_value_t = 100.0)]
    fps: f64,
    /// Thresholds tried on the validation split.
    #[arg(long, default_value_t = 200)]
    thresholds: usize,
    /// Model name in the tables.
    #[arg(long, default_value = "nmf")]
    name: String,
}

pub fn run(args: NmfArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.fps.is_finite() && args.fps > 0.0,
        "--fps {} is not a frame rate",
        args.fps
    );
    let options = NmfOptions {
        learn: LearnOptions {
            atoms_per_pitch: args.atoms_per_pitch,
            iterations: args.learn_iterations,
        },
        solve_iterations: args.solve_iterations,
        fps: args.fps,
        name: args.name,
        thresholds: args.thresholds,
    };
    let record = run_nmf(&args.manifest, &args.out, &options)?;
    eprintln!(
        "nmf: {} atoms for {} pitches from {} labelled training frames ({:.1} s); threshold {:.4e} (validation F {:.4}, {:.1} s); test predicted in {:.1} s; tables in {}",
        record.atom_pitches.len(),
        {
            let mut p = record.atom_pitches.clone();
            p.dedup();
            p.len()
        },
        record.train_frames,
        record.seconds_learn,
        record.threshold,
        record.validation_f1,
        record.seconds_validation,
        record.seconds_test,
        args.out.display()
    );
    Ok(())
}
