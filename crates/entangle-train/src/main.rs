//! `entangle-train JOB.json`: carries out one training job (see `entangle::protocol::TrainJob`)
//! for `entangle train` and the pipeline's training stage. The only binary that links
//! libtorch; people call `entangle train`, not this. `entangle-train --versions` prints the
//! tch and libtorch versions (JSON) for `run.json`.

use std::process::ExitCode;

// Training data is decoded once and held; mimalloc as in the main binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run() -> anyhow::Result<()> {
    use anyhow::Context;
    let path = std::env::args_os()
        .nth(1)
        .context("usage: entangle-train JOB.json (run by `entangle train`)")?;
    if path == "--versions" {
        let versions = serde_json::json!({
            "tch": env!("ENTANGLE_TCH_VERSION"),
            "libtorch": env!("ENTANGLE_LIBTORCH_VERSION"),
        });
        println!("{versions}");
        return Ok(());
    }
    // A trainer whose `entangle` was killed stops too, instead of training on beside the
    // rerun that resumes from the same checkpoints.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .context("asking to stop with the parent")?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: reading the training job", path.to_string_lossy()))?;
    let job: entangle::protocol::TrainJob = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a training job", path.to_string_lossy()))?;
    entangle_train::run_job(&job)?;
    Ok(())
}

fn main() -> ExitCode {
    entangle::console::init_logging(0);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", entangle::console::error_message(&err));
            ExitCode::FAILURE
        }
    }
}
