//! Runs a [`TrainJob`] in the `entangle-train` process, beside the running binary.
//!
//! Only that binary (crates/entangle-train) links libtorch: every other command, `entangle
//! --version` included, starts without loading it (0.2 s and 110 MiB before any work when
//! it did), and a pipeline's training epochs run in a child whose memory is returned when
//! the epoch ends.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

use crate::protocol::TrainJob;

/// The trainer's file name.
pub const TRAIN_BINARY: &str = "entangle-train";

/// Overrides where the trainer is looked for.
pub const TRAIN_BINARY_ENV: &str = "ENTANGLE_TRAIN_BIN";

/// The trainer: `$ENTANGLE_TRAIN_BIN`, else `entangle-train` beside the running executable
/// (or one directory up, where cargo puts binaries when the caller is a test).
pub fn train_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(TRAIN_BINARY_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locating the running executable")?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let candidates = [dir.join(TRAIN_BINARY), dir.join("..").join(TRAIN_BINARY)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "training needs the {TRAIN_BINARY} binary (libtorch), which is not beside {}: \
                 build it with `cargo build --release --features train` (`make demo` does), \
                 or point {TRAIN_BINARY_ENV} at it",
                exe.display()
            )
        })
}

/// Runs `job` in a child `entangle-train` and waits for it; the child's log and progress
/// bars go to our stderr.
pub fn run_in_child(job: &TrainJob) -> anyhow::Result<()> {
    let binary = train_binary()?;
    let mut file = tempfile::Builder::new()
        .prefix("entangle-train-job-")
        .suffix(".json")
        .tempfile()
        .context("writing the training job")?;
    serde_json::to_writer(&mut file, job)?;
    let status = Command::new(&binary)
        .arg(file.path())
        .status()
        .with_context(|| format!("starting {}", binary.display()))?;
    anyhow::ensure!(
        status.success(),
        "training {} in {} failed ({status})",
        job.arch,
        job.out.display()
    );
    Ok(())
}
