//! Carries out a [`TrainJob`]: loads the manifest's train and validation splits and fits the
//! network; what the `entangle-train` process does.

use entangle::protocol::TrainJob;

use super::{EpochRecord, FitOptions, FrameData, fit, torch_device};

/// Trains `job.arch` as the job says and returns the history of every epoch so far.
pub fn run_job(job: &TrainJob) -> anyhow::Result<Vec<EpochRecord>> {
    let device = torch_device(job.device)?;
    let load = |split: &str| FrameData::load(&job.manifest, split, job.lowest_pitch, job.outputs);
    let train = load("train")?;
    // Every exported epoch records its lowest pitch and the frame rate it was trained at
    // (model metadata), so predict / analyze / watch need not be told.
    let arch = job
        .arch
        .build(job.outputs)
        .trained_on(job.lowest_pitch, train.shards[0].0.fps);
    let validation = load("validation")?;
    let options = FitOptions {
        start: job.start,
        device,
        progress: job.progress,
    };
    let history = fit(&arch, &train, &validation, &job.config, &job.out, options)?;
    if let Some(best) = history
        .iter()
        .max_by(|a, b| a.validation_micro_f1.total_cmp(&b.validation_micro_f1))
    {
        tracing::info!(
            epoch = best.epoch,
            validation_micro_f1 = best.validation_micro_f1,
            "best epoch by validation micro F"
        );
    }
    Ok(history)
}
