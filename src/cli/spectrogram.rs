//! `entangle spectrogram`: the madmom-identical log-filtered spectrogram of WAV files, one
//! `.npy` each. A corpus goes in one call: files in parallel, and the frames of each file in
//! parallel too, with one start-up.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

use anyhow::Context;
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::sink::npy::write_spectrogram_npy_pending;
use entangle::sink::{PendingFile, SinkError};
use rayon::prelude::*;

#[derive(clap::Args)]
pub struct SpectrogramArgs {
    /// Input WAV files (any bit depth, channels and sample rate).
    #[arg(required_unless_present = "manifest")]
    inputs: Vec<PathBuf>,
    /// Output .npy of shape [frames, 229], for one input.
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Output directory: STEM.npy per input (or per manifest row, named by its shard).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Corpus manifest whose audio to take (with --out-dir).
    #[arg(long, conflicts_with = "inputs", requires = "out_dir")]
    manifest: Option<PathBuf>,
    /// The manifest's split(s) (comma-separated; default: every row).
    #[arg(long, value_delimiter = ',', requires = "manifest")]
    split: Vec<String>,
    /// Frames per second (hop = 44100 / fps samples).
    #[arg(long, default_value_t = SpectrogramParams::default().fps)]
    fps: f64,
}

impl SpectrogramArgs {
    /// (input WAV, output .npy) pairs.
    fn jobs(&self) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
        if let Some(manifest) = &self.manifest {
            let dir = self.out_dir.as_ref().expect("clap requires --out-dir");
            let rows = entangle::corpus::manifest::read_manifest(manifest)?;
            return Ok(rows
                .into_iter()
                .filter(|r| self.split.is_empty() || self.split.contains(&r.split))
                .map(|r| (PathBuf::from(r.path), dir.join(format!("{}.npy", r.shard))))
                .collect());
        }
        match (&self.output, &self.out_dir) {
            (Some(output), _) => {
                anyhow::ensure!(
                    self.inputs.len() == 1,
                    "-o names one output for {} inputs: use --out-dir",
                    self.inputs.len()
                );
                Ok(vec![(self.inputs[0].clone(), output.clone())])
            }
            (None, Some(dir)) => Ok(self
                .inputs
                .iter()
                .map(|input| {
                    let stem = entangle::console::file_stem(input);
                    (input.clone(), dir.join(format!("{stem}.npy")))
                })
                .collect()),
            (None, None) => anyhow::bail!("give -o OUT.npy (one input) or --out-dir DIR"),
        }
    }
}

pub fn run(args: SpectrogramArgs) -> anyhow::Result<()> {
    let params = SpectrogramParams {
        fps: args.fps,
        ..Default::default()
    };
    let computer = SpectrogramComputer::new(params)?;
    let jobs = args.jobs()?;
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    // Each file is written to its temporary name on the computing thread; the fsync and
    // the rename into place wait on other threads, so that a corpus's computing cores never
    // sit idle waiting for the disk.
    let (frames, committed) = std::thread::scope(|scope| {
        let (pending, committer) = Committer::start(scope);
        let frames = jobs
            .par_iter()
            .map(|(input, output)| one_file(&computer, input, output, &pending))
            .collect::<anyhow::Result<Vec<usize>>>();
        drop(pending);
        (frames, committer.finish())
    });
    let frames: usize = frames?.into_iter().sum();
    committed?;
    tracing::info!(files = jobs.len(), frames, "wrote the spectrograms");
    Ok(())
}

fn one_file(
    computer: &SpectrogramComputer,
    input: &Path,
    output: &Path,
    committer: &Sender<PendingFile>,
) -> anyhow::Result<usize> {
    let spec = computer.compute_wav_in_parallel(input)?;
    let pending = write_spectrogram_npy_pending(output, &spec)?;
    committer
        .send(pending)
        .expect("the committers outlive the computing");
    tracing::debug!(frames = spec.frames, "wrote {}", output.display());
    Ok(spec.frames)
}

/// Threads that commit (fsync, then rename into place) the files the computing threads
/// wrote. Several, so that one file's fsync does not hold up the next's.
struct Committer<'scope> {
    threads: Vec<ScopedJoinHandle<'scope, Result<(), SinkError>>>,
}

impl<'scope> Committer<'scope> {
    const THREADS: usize = 4;

    fn start(scope: &'scope Scope<'scope, '_>) -> (Sender<PendingFile>, Self) {
        let (sender, receiver) = std::sync::mpsc::channel::<PendingFile>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..Self::THREADS)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                scope.spawn(move || {
                    let mut result = Ok(());
                    loop {
                        let next = receiver.lock().expect("a committer panicked").recv();
                        let Ok(file) = next else { break result };
                        // Every complete file is committed; the first failure is reported.
                        let committed = file.commit();
                        if result.is_ok() {
                            result = committed;
                        }
                    }
                })
            })
            .collect();
        (sender, Self { threads })
    }

    /// Waits until every file sent has been committed (the senders must be gone).
    fn finish(self) -> Result<(), SinkError> {
        // The first failure; the scope joins any threads left.
        self.threads
            .into_iter()
            .try_for_each(|t| t.join().expect("a committer panicked"))
    }
}
