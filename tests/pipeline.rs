//! `entangle run`: spec validation before any work, the demo-sized pipeline end to end with
//! its tables read back by DuckDB, stage skipping on a second run, and a killed run resuming.

#![cfg(feature = "train")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn entangle(args: &[&str], cwd: &Path) -> Output {
    common::entangle_command()
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn spec(epochs: usize, steps: usize) -> String {
    format!(
        r#"
name = "tiny"
out = "run"

[corpus]
kind = "fluid"
dataset = "combi"
train_velocities = [80]

[[networks]]
name = "small"
arch = "smallconvnet"
epochs = {epochs}
steps_per_epoch = {steps}
learning_rate = 0.1
device = "cpu"

[analysis]
workers = 2

[figures]
formats = ["svg"]
top = 5
"#
    )
}

#[test]
fn invalid_specs_fail_before_any_work_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = spec(1, 1);
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace(
                "learning_rate = 0.1",
                "learning_rate = 0.1\nlearnig_rate = 0.2",
            ),
            "unknown field `learnig_rate`",
        ),
        (
            good.replace("epochs = 1", "epochs = \"many\""),
            "invalid type: string \"many\", expected usize",
        ),
        (
            good.replace("arch = \"smallconvnet\"", "arch = \"resnet\""),
            "unknown variant `resnet`, expected one of `convnet`, `smallconvnet`, `aunet`",
        ),
        (
            good.replace(
                "kind = \"fluid\"\ndataset = \"combi\"\ntrain_velocities = [80]",
                "kind = \"maps\"\nroot = \"/nonexistent/MAPS\"",
            ),
            "corpus.root = \"/nonexistent/MAPS\": no such directory",
        ),
        (
            good.replace(
                "train_velocities = [80]",
                "soundfont = \"/nowhere/piano.sf2\"",
            ),
            "corpus.soundfont = \"/nowhere/piano.sf2\": /nowhere/piano.sf2 does not exist",
        ),
        (
            good.replace(
                "[figures]\nformats = [\"svg\"]",
                "[figures]\nformats = [\"gif\"]",
            ),
            "figures.formats: \"gif\" is not svg or png",
        ),
        (
            good.replace("device = \"cpu\"", "device = \"gpu\""),
            "unknown variant `gpu`, expected one of `cpu`, `cuda`, `auto`",
        ),
        (
            good.replace("device = \"cpu\"", "optimizer = \"rmsprop\""),
            "unknown variant `rmsprop`, expected `sgd` or `adam`",
        ),
        (
            good.replace("device = \"cpu\"", "output_bias = \"zero\""),
            "unknown variant `zero`, expected `random` or `prior`",
        ),
        (
            good.replace("device = \"cpu\"", "select_by = \"f1\""),
            "unknown variant `f1`, expected `validation-f1` or `validation-loss`",
        ),
        (
            good.replace("device = \"cpu\"", "warmup_steps = -5"),
            "warmup_steps",
        ),
        (
            good.replace("device = \"cpu\"", "seed = 4\nseeds = [0, 1]"),
            "networks[0].seed and networks[0].seeds: give one seed or a list of seeds, not both",
        ),
        (
            good.replace("device = \"cpu\"", "seeds = [1, 1]"),
            "networks[0].seeds = [1, 1]: seed 1 twice",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = entangle(&["run", "bad.toml"], dir.path());
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml") && err.contains(expected),
            "expected {expected:?} in {err}"
        );
        assert!(
            !dir.path().join("run").exists(),
            "no work before validation"
        );
    }
}

fn duckdb(sql: &str) -> String {
    common::duckdb(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn statuses(run: &Path) -> Vec<(String, String)> {
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every epoch is trained, but the dataflow cannot evaluate any (ONNX Runtime is missing):
/// the run fails saying so, and the training stage is not marked finished, so a rerun with
/// ONNX Runtime back evaluates the checkpoints instead of skipping the stage.
#[test]
fn a_training_stage_whose_epochs_were_not_evaluated_is_not_finished() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), spec(1, 5)).unwrap();
    let out = common::entangle_command()
        .args(["run", "tiny.toml"])
        .current_dir(dir.path())
        .env(
            "ORT_DYLIB_PATH",
            dir.path().join("no-such-libonnxruntime.so"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("epochs [1] of the 1 trained were not evaluated"),
        "{err}"
    );
    let train = dir.path().join("run/train/small");
    assert!(train.join("epoch-0001.onnx").exists());
    assert!(!train.join("stage.json").exists());
    let out = entangle(&["run", "tiny.toml"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(train.join("stage.json").exists());
}

#[test]
fn a_small_pipeline_runs_end_to_end_skips_on_rerun_and_resumes_when_killed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), spec(3, 40)).unwrap();
    let run: PathBuf = dir.path().join("run");

    // Kill the first run once training has written its first epoch.
    let mut child = common::entangle_command()
        .args(["run", "tiny.toml"])
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run.join("train/small/epoch-0001.onnx").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no epoch after 5 minutes"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("train/small/stage.json").exists());

    // Rerun: the corpus is up to date, training resumes from the checkpoint.
    let out = entangle(&["run", "tiny.toml"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stages = statuses(&run);
    assert_eq!(stages[0], ("corpus".into(), "skipped".into()));
    // run.json records the versions that were built (Cargo.lock, the trainer's libtorch).
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for name in ["timely", "differential-dataflow", "ort", "tch"] {
        let version = record["tools"][name].as_str().unwrap_or_default();
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"")),
            "{name} {version:?} is not the locked version"
        );
    }
    assert!(
        record["tools"]["libtorch"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{record}"
    );
    assert_eq!(stages[1], ("train small".into(), "ran".into()));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("resuming from"), "{log}");
    let history: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(run.join("train/small/history.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(history.len(), 3);

    // Every epoch was evaluated on the validation split; the test tables hold the selected
    // model; DuckDB reads both.
    let epochs = duckdb(&format!(
        "SELECT count(DISTINCT model), min(split), sum(frames) FROM read_parquet('{}')",
        run.join("validation/small/split_metrics.parquet").display()
    ));
    assert_eq!(
        epochs.split_whitespace().take(2).collect::<Vec<_>>(),
        ["3", "validation"],
        "{epochs}"
    );
    let test = duckdb(&format!(
        "SELECT model, count(*), sum(frames) FROM read_parquet('{}') GROUP BY model",
        run.join("analysis/combinations.parquet").display()
    ));
    // 23 isolated notes (and silence) of 175 frames each.
    assert_eq!(test.trim(), "small 24 4025", "{test}");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("| small | test | small | 23 | 4025 |"),
        "{report}"
    );
    assert!(run.join("figures/isolated-notes-small.svg").exists());
    assert!(run.join("figures/training-small.svg").exists());

    // A second run changes nothing and skips every stage.
    let before = std::fs::read(run.join("analysis/combinations.parquet")).unwrap();
    let out = entangle(&["run", "tiny.toml"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stages = statuses(&run);
    for (stage, status) in &stages[..3] {
        assert_eq!(status, "skipped", "{stage}");
    }
    assert_eq!(
        before,
        std::fs::read(run.join("analysis/combinations.parquet")).unwrap()
    );
    let plan = entangle(&["run", "tiny.toml", "--dry-run"], dir.path());
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("corpus: skip (up to date)")
            && plan.contains("train small: skip (up to date)"),
        "{plan}"
    );

    // Changing a training parameter reruns training (and only what follows it).
    std::fs::write(dir.path().join("tiny.toml"), spec(3, 41)).unwrap();
    let plan = entangle(&["run", "tiny.toml", "--dry-run"], dir.path());
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("corpus: skip (up to date)") && plan.contains("train small: run"),
        "{plan}"
    );
}

/// A list of seeds becomes one network per seed, each with the spec's options.
#[test]
fn seeds_expand_into_named_instances_with_the_new_protocol_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seeds.toml");
    let text = spec(2, 10).replace(
        "device = \"cpu\"",
        "seeds = [0, 7]\noptimizer = \"adam\"\nwarmup_steps = 100\noutput_bias = \"prior\"\nselect_by = \"validation-loss\"",
    );
    std::fs::write(&path, text).unwrap();
    let spec = entangle::pipeline::PipelineSpec::load(&path).unwrap();
    let names: Vec<_> = spec.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["small-s0", "small-s7"]);
    for (n, seed) in spec.networks.iter().zip([0, 7]) {
        assert_eq!((n.seed, n.family.as_str()), (seed, "small"));
        assert_eq!(n.optimizer, entangle::protocol::Optimizer::Adam);
        assert_eq!(n.output_bias, entangle::protocol::OutputBias::Prior);
        assert_eq!(n.select_by, entangle::protocol::Selection::ValidationLoss);
        assert_eq!(n.warmup_steps, 100);
    }
}

/// Every shipped spec parses; those whose inputs exist here validate.
#[test]
fn the_shipped_specs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A suite (pipelines/systems.toml) lists other specs, each checked here on its own.
        let table: toml::Table = toml::from_str(&text).unwrap();
        if table.contains_key("runs") {
            let suite: entangle::pipeline::suite::Suite = toml::from_str(&text).unwrap();
            for run in &suite.runs {
                let run = Path::new(env!("CARGO_MANIFEST_DIR")).join(run);
                assert!(run.is_file(), "{}: {}", path.display(), run.display());
            }
            names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
            continue;
        }
        let spec: entangle::pipeline::PipelineSpec =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if matches!(
            spec.corpus,
            entangle::pipeline::spec::CorpusSpec::Fluid { .. }
        ) {
            spec.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "chords-synth-mus",
            "coverage-sweep",
            "coverage-sweep-full",
            "coverage-sweep-seeds",
            "demo",
            "fluid-combi",
            "fluid-isol",
            "maps-mus",
            "mixture-penalty-full",
            "remedies-fluid-isol",
            "synth-mus",
            "systems"
        ]
    );
}
