//! `entangle corpus`: manifests of corpora entangle did not render.

use std::path::PathBuf;

use clap::Subcommand;
use entangle::corpus::ingest::{Splits, manifest_from_dir, manifest_from_maestro};

#[derive(Subcommand, Debug)]
pub enum CorpusCommand {
    /// A directory of recordings (.wav) and note lists (.mid/.midi, MAPS or mir_eval .txt,
    /// madmom .notes, MusicNet .csv) paired by file stem, anywhere under --root.
    Dir {
        /// Directory searched (recursively) for recordings and note lists.
        #[arg(long)]
        root: PathBuf,
        /// Output manifest (Parquet).
        #[arg(long)]
        out: PathBuf,
        /// `STEM SPLIT` per line; without it, a seeded random split.
        #[arg(long, conflicts_with_all = ["seed", "validation_fraction", "test_fraction"])]
        splits: Option<PathBuf>,
        /// Seed of the random split (a stem's split depends only on the seed and the stem).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Share of the stems put in `validation` by the random split.
        #[arg(long, default_value_t = 0.1)]
        validation_fraction: f64,
        /// Share of the stems put in `test` by the random split.
        #[arg(long, default_value_t = 0.1)]
        test_fraction: f64,
    },
    /// A MAESTRO-style corpus: its CSV (split, midi_filename, audio_filename, duration),
    /// paths relative to --root; its splits are kept.
    Maestro {
        /// The corpus's metadata CSV (e.g. maestro-v3.0.0.csv).
        #[arg(long)]
        csv: PathBuf,
        /// Directory the CSV's file names are relative to.
        #[arg(long)]
        root: PathBuf,
        /// Output manifest (Parquet).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run_corpus(command: CorpusCommand) -> anyhow::Result<()> {
    let (rows, out) = match command {
        CorpusCommand::Dir {
            root,
            out,
            splits,
            seed,
            validation_fraction,
            test_fraction,
        } => {
            let splits = match splits {
                Some(file) => Splits::File(file),
                None => Splits::Random {
                    seed,
                    validation: validation_fraction,
                    test: test_fraction,
                },
            };
            (manifest_from_dir(&root, &splits, &out)?, out)
        }
        CorpusCommand::Maestro { csv, root, out } => {
            (manifest_from_maestro(&csv, &root, &out)?, out)
        }
    };
    let count = |split: &str| rows.iter().filter(|r| r.split == split).count();
    tracing::info!(
        recordings = rows.len(),
        train = count("train"),
        validation = count("validation"),
        test = count("test"),
        hours = format!(
            "{:.2}",
            rows.iter().map(|r| r.duration).sum::<f64>() / 3600.0
        ),
        "wrote {}",
        out.display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct MapsArgs {
    /// The MAPS root (holding AkPnBcht/, ..., ENSTDkCl/).
    #[arg(long)]
    root: PathBuf,
    /// Output manifest (Parquet).
    #[arg(long)]
    out: PathBuf,
    /// The synthesized piano held out for validation.
    #[arg(long, default_value = entangle::corpus::maps::DEFAULT_VALIDATION_PIANO)]
    validation_instrument: String,
}

/// `entangle maps`: the Configuration-II manifest of a real MAPS directory.
pub fn run_maps(args: MapsArgs) -> anyhow::Result<()> {
    let rows = entangle::corpus::maps::maps_manifest(&args.root, &args.validation_instrument)?;
    entangle::corpus::manifest::write_manifest(&args.out, &rows)?;
    tracing::info!(recordings = rows.len(), "wrote {}", args.out.display());
    Ok(())
}
