//! The training loop on real rendered audio (FluidR3_GM), on CPU: SmallConvNet learns a small
//! FLUID-style set, ConvNet's loss goes down, an interrupted run resumes to the same weights,
//! and bad set-ups are refused with clear messages.

use std::path::{Path, PathBuf};

use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::manifest::write_manifest;
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;
use entangle::model::{convnet, small_convnet};
use entangle_train::{
    FitOptions, FrameData, Optimizer, OutputBias, Start, TrainConfig, TrainError, fit,
};

/// Five notes and three intervals from the FLUID range, 0.6 s each, in both splits.
fn tiny_fluid(dir: &Path) -> PathBuf {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings {
            tail_seconds: 0.1,
            ..Default::default()
        },
    };
    let items: [&[u8]; 8] = [
        &[60],
        &[62],
        &[64],
        &[65],
        &[67],
        &[60, 64],
        &[62, 65],
        &[64, 67],
    ];
    let jobs: Vec<RenderJob> = items
        .iter()
        .enumerate()
        .map(|(i, pitches)| RenderJob {
            shard: format!("item{i}"),
            notes: pitches
                .iter()
                .map(|&pitch| Note {
                    onset: 0.1,
                    offset: 0.7,
                    pitch,
                    velocity: 80,
                })
                .collect(),
            renderer: renderer.clone(),
            velocity: 80,
        })
        .collect();
    let rendered = render_jobs(dir, &jobs, false).unwrap();
    let rows: Vec<_> = ["train", "validation"]
        .iter()
        .flat_map(|split| rendered.iter().map(|r| r.clone().into_row(split)))
        .collect();
    let manifest = dir.join("tiny.manifest.parquet");
    write_manifest(&manifest, &rows).unwrap();
    manifest
}

/// libtorch's thread count is global to the process and changes the order of float
/// reductions, so tests that compare checkpoints byte for byte must not overlap with tests
/// that set another count: every test here holds this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn cpu(start: Start) -> FitOptions {
    FitOptions {
        start,
        device: tch::Device::Cpu,
        progress: false,
    }
}

fn config(epochs: usize, steps: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        steps_per_epoch: steps,
        learning_rate: 0.1,
        seed: 3,
        ..Default::default()
    }
}

#[test]
fn small_convnet_learns_a_small_fluid_set_and_resumes_exactly() {
    let _serial = serial();
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 49, 23).unwrap();
    let validation = FrameData::load(&manifest, "validation", 49, 23).unwrap();
    let arch = small_convnet(23);

    let run = dir.path().join("run");
    let history = fit(
        &arch,
        &train,
        &validation,
        &config(6, 150),
        &run,
        cpu(Start::Fresh),
    )
    .unwrap();
    let best = history
        .iter()
        .map(|r| r.validation_micro_f1)
        .fold(0.0, f64::max);
    assert!(best >= 0.95, "best validation F {best}: {history:?}");
    assert!(run.join("best.onnx").exists() && run.join("epoch-0006.onnx").exists());

    // Interrupted after epoch 2 (as if killed), then resumed: same weights as uninterrupted.
    let whole = dir.path().join("whole");
    let parts = dir.path().join("parts");
    fit(
        &arch,
        &train,
        &validation,
        &config(3, 40),
        &whole,
        cpu(Start::Fresh),
    )
    .unwrap();
    fit(
        &arch,
        &train,
        &validation,
        &config(2, 40),
        &parts,
        cpu(Start::Fresh),
    )
    .unwrap();
    let resumed = fit(
        &arch,
        &train,
        &validation,
        &config(3, 40),
        &parts,
        cpu(Start::Resume),
    )
    .unwrap();
    assert_eq!(resumed.len(), 3, "history continues");
    let bytes = |d: &Path| std::fs::read(d.join("checkpoint-0003.safetensors")).unwrap();
    assert!(
        bytes(&whole) == bytes(&parts),
        "resumed weights differ from the uninterrupted run"
    );
}

#[test]
fn convnet_loss_decreases() {
    let _serial = serial();
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 21, 88).unwrap();
    let validation = FrameData::load(&manifest, "validation", 21, 88).unwrap();
    let cfg = TrainConfig {
        learning_rate: 0.05,
        ..config(3, 15)
    };
    let history = fit(
        &convnet(88),
        &train,
        &validation,
        &cfg,
        &dir.path().join("run"),
        cpu(Start::Fresh),
    )
    .unwrap();
    assert!(history[2].train_loss < history[0].train_loss, "{history:?}");
    assert!(
        history[2].validation_loss < history[0].validation_loss,
        "{history:?}"
    );
}

#[test]
fn bad_set_ups_are_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 49, 23).unwrap();
    // Labels for 23 outputs, a network with 88.
    let err = fit(
        &small_convnet(88),
        &train,
        &train,
        &config(1, 1),
        &dir.path().join("a"),
        cpu(Start::Fresh),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(err, "SmallConvNet has 88 outputs, the labels 23");
    // An empty split.
    let err = FrameData::load(&manifest, "test", 49, 23)
        .err()
        .unwrap()
        .to_string();
    assert!(err.ends_with("the test split is empty"), "{err}");
    // Pitches that do not fit the outputs.
    let err = FrameData::load(&manifest, "train", 61, 23)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("pitch 60 does not fit 23 outputs starting at 61"),
        "{err}"
    );
    // A learning rate that blows up: the NaN loss stops the run with a clear message and
    // no checkpoint of the broken epoch is written.
    let run = dir.path().join("nan");
    let wild = TrainConfig {
        learning_rate: 1e30,
        ..config(3, 50)
    };
    match fit(
        &small_convnet(23),
        &train,
        &train,
        &wild,
        &run,
        cpu(Start::Fresh),
    ) {
        Err(err @ TrainError::NanLoss { epoch: 1, .. }) => {
            assert!(
                err.to_string()
                    .contains("the last good checkpoint is none (no epoch finished)"),
                "{err}"
            );
        }
        other => panic!("expected a NaN loss in epoch 1, got {other:?}"),
    }
    assert!(!run.join("checkpoint-0001.safetensors").exists());
}

#[test]
fn aunet_trains_on_256_frame_segments() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 21, 88).unwrap();
    let cfg = TrainConfig {
        batch_size: 2,
        learning_rate: 0.01,
        ..config(2, 3)
    };
    let run = dir.path().join("aunet");
    let history = fit(
        &entangle::model::aunet(88),
        &train,
        &train,
        &cfg,
        &run,
        cpu(Start::Fresh),
    )
    .unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|r| r.train_loss.is_finite() && r.validation_loss.is_finite()),
        "{history:?}"
    );
    // Its ONNX export takes the 256 x 256 input and gives 256 x 88.
    assert!(run.join("epoch-0002.onnx").exists() && run.join("best.onnx").exists());
}

#[test]
fn adam_with_warm_up_learns_and_resumes_exactly() {
    let _serial = serial();
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 49, 23).unwrap();
    let arch = small_convnet(23);
    let adam = |epochs| TrainConfig {
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        warmup_steps: 30,
        output_bias: OutputBias::Prior,
        ..config(epochs, 40)
    };
    let whole = dir.path().join("whole");
    let parts = dir.path().join("parts");
    let history = fit(&arch, &train, &train, &adam(3), &whole, cpu(Start::Fresh)).unwrap();
    assert!(
        history[2].train_loss < history[0].train_loss,
        "Adam's loss falls: {history:?}"
    );
    fit(&arch, &train, &train, &adam(2), &parts, cpu(Start::Fresh)).unwrap();
    fit(&arch, &train, &train, &adam(3), &parts, cpu(Start::Resume)).unwrap();
    let bytes = |d: &Path| std::fs::read(d.join("checkpoint-0003.safetensors")).unwrap();
    assert!(
        bytes(&whole) == bytes(&parts),
        "a resumed Adam run (moments, step count) differs from the uninterrupted one"
    );
}

#[test]
fn existing_checkpoints_are_refused_unless_resumed_or_overwritten() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 49, 23).unwrap();
    let arch = small_convnet(23);
    let run = dir.path().join("run");
    fit(
        &arch,
        &train,
        &train,
        &config(2, 2),
        &run,
        cpu(Start::Fresh),
    )
    .unwrap();
    let err = fit(
        &arch,
        &train,
        &train,
        &config(2, 2),
        &run,
        cpu(Start::Fresh),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("up to epoch 2") && err.contains("--resume") && err.contains("--overwrite"),
        "{err}"
    );
    // Overwriting a 2-epoch run with a 1-epoch one leaves no trace of the old epoch 2.
    let history = fit(
        &arch,
        &train,
        &train,
        &config(1, 2),
        &run,
        cpu(Start::Overwrite),
    )
    .unwrap();
    assert_eq!(history.len(), 1);
    assert!(run.join("epoch-0001.onnx").exists());
    assert!(!run.join("epoch-0002.onnx").exists() && !run.join("state-0002.json").exists());
}

#[test]
fn aunet_with_prior_bias_loss_falls_and_predicts_notes() {
    let _serial = serial();
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_fluid(dir.path());
    let train = FrameData::load(&manifest, "train", 21, 88).unwrap();
    // Batch norm's running statistics (momentum 0.1) need some tens of steps before the
    // network in inference mode matches what it learned: 8 epochs of 8 steps.
    let cfg = TrainConfig {
        batch_size: 2,
        optimizer: Optimizer::Adam,
        learning_rate: 3e-3,
        output_bias: OutputBias::Prior,
        ..config(8, 8)
    };
    let run = dir.path().join("aunet");
    let history = fit(
        &entangle::model::aunet(88),
        &train,
        &train,
        &cfg,
        &run,
        cpu(Start::Fresh),
    )
    .unwrap();
    assert!(
        history[7].train_loss < history[0].train_loss,
        "AUNet loss falls: {history:?}"
    );
    let best = history
        .iter()
        .map(|r| r.validation_micro_f1)
        .fold(0.0, f64::max);
    assert!(best > 0.0, "AUNet predicts no note at all: {history:?}");
}
