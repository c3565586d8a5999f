//! A new user's first hour (issue 17): models that describe themselves, so that `predict`,
//! `analyze` and `watch` put every output on its note; clear refusals said once; a misspelt
//! split; a training run's `best.onnx`; `entangle report` on any analysis; trained weights
//! into `model export`; a closed pipe; each error cause once; SoundFont names in `demo`;
//! and every option of the analysis commands in the README.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{duckdb, python};
use entangle::corpus::manifest::write_manifest;
use entangle::model::{Weights, export_onnx, small_convnet};

use common::entangle;

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tiny FLUID-like corpus: two intervals in `train`, one in `validation`, three isolated
/// notes in `test` (none shared with training), rendered through FluidR3_GM.
fn tiny_corpus(dir: &Path) -> PathBuf {
    let examples: [(&str, &[u8]); 6] = [
        ("train", &[55, 60]),
        ("train", &[60, 64]),
        ("validation", &[57, 62]),
        ("test", &[55]),
        ("test", &[60]),
        ("test", &[64]),
    ];
    common::render_examples(dir, "ex", &examples)
}

/// A FLUID-sized SmallConvNet (23 outputs) exported by the command line, so it records
/// that its first output is MIDI 49.
fn fluid_net(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.onnx"));
    ok(&entangle(&[
        "model",
        "export",
        "smallconvnet",
        "--outputs",
        "23",
        "--lowest-pitch",
        "49",
        "--seed",
        "11",
        "-o",
        s(&path),
    ]));
    path
}

/// A 23-output network that records nothing about its outputs (as other tools write them).
fn anonymous_net(dir: &Path) -> PathBuf {
    let path = dir.join("anonymous.onnx");
    let arch = small_convnet(23);
    export_onnx(&arch, &Weights::random(&arch, 11).unwrap(), &path).unwrap();
    path
}

#[test]
fn exported_models_record_what_their_outputs_mean() {
    let dir = tempfile::tempdir().unwrap();
    let model = fluid_net(dir.path(), "fluid");
    // ONNX Runtime (Python) reads what we wrote.
    let out = common::succeeded(
        Command::new(python())
            .args([
                "-c",
                "import sys, onnxruntime as ort\n\
             m = ort.InferenceSession(sys.argv[1]).get_modelmeta().custom_metadata_map\n\
             print(sorted(m.items()))",
                s(&model),
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[('entangle.architecture', 'SmallConvNet'), ('entangle.fps', '100'), \
         ('entangle.lowest_pitch', '49'), ('entangle.outputs', '23')]"
    );
    // Without 88 outputs there is no default first pitch to guess.
    let err = failed(&entangle(&[
        "model",
        "export",
        "smallconvnet",
        "--outputs",
        "23",
        "-o",
        s(&dir.path().join("x.onnx")),
    ]));
    assert!(err.contains("--lowest-pitch"), "{err}");
}

#[test]
fn predict_puts_a_fluid_network_on_its_notes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let model = fluid_net(dir.path(), "fluid");
    let table = dir.path().join("p.parquet");
    ok(&entangle(&[
        "predict",
        "--model",
        s(&model),
        "--manifest",
        s(&manifest),
        "-o",
        s(&table),
    ]));
    // Random weights: some outputs pass 0.5. All of them must be FLUID notes, and the
    // probabilities of the keys below C#4 must be zero.
    let summary = duckdb(&format!(
        "SELECT count(*) > 0, min(list_min(pitches)) >= 49, max(list_max(pitches)) <= 71,
                bool_and(list_sum(probs[1:28]) = 0), sum(len(pitches)) > 0
         FROM read_parquet('{}')",
        table.display()
    ))
    .unwrap();
    assert_eq!(summary.trim(), "True True True True True");
    // A flag that contradicts the file is refused.
    let err = failed(&entangle(&[
        "predict",
        "--model",
        s(&model),
        "--manifest",
        s(&manifest),
        "--lowest-pitch",
        "21",
        "-o",
        s(&table),
    ]));
    assert!(err.contains("--lowest-pitch 21 contradicts"), "{err}");
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_model_that_does_not_say_is_refused_once_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let model = anonymous_net(dir.path());
    let err = failed(&entangle(&[
        "predict",
        "--model",
        s(&model),
        "--manifest",
        s(&manifest),
        "-o",
        s(&dir.path().join("p.parquet")),
    ]));
    assert_eq!(count(&err, "pass --lowest-pitch"), 1, "{err}");
    // analyze: three test shards, one message.
    let err = failed(&entangle(&[
        "analyze",
        "--manifest",
        s(&manifest),
        "--predictions",
        s(&model),
        "--out",
        s(&dir.path().join("a")),
    ]));
    assert_eq!(count(&err, "pass --lowest-pitch"), 1, "{err}");
    // watch: three scans of a directory holding it, one message.
    let watched = dir.path().join("run");
    std::fs::create_dir(&watched).unwrap();
    std::fs::copy(&model, watched.join("anonymous.onnx")).unwrap();
    // Files just copied in: read at once (issue 16's default waits --settle 1 s).
    let out = entangle(&[
        "watch",
        s(&watched),
        "--settle",
        "0",
        "--manifest",
        s(&manifest),
        "--out",
        s(&dir.path().join("w")),
        "--poll",
        "0",
        "--rounds",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(count(&err, "pass --lowest-pitch"), 1, "{err}");
    // With the flag, it is analysed.
    ok(&entangle(&[
        "analyze",
        "--manifest",
        s(&manifest),
        "--predictions",
        s(&model),
        "--lowest-pitch",
        "49",
        "--out",
        s(&dir.path().join("b")),
    ]));
}

#[test]
fn predict_runs_segment_networks_like_aunet() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let model = dir.path().join("aunet.onnx");
    ok(&entangle(&["model", "export", "aunet", "-o", s(&model)]));
    let table = dir.path().join("p.parquet");
    ok(&entangle(&[
        "predict",
        "--model",
        s(&model),
        "--manifest",
        s(&manifest),
        "-o",
        s(&table),
    ]));
    let expected: u64 = entangle::corpus::manifest::read_manifest(&manifest)
        .unwrap()
        .iter()
        .filter(|r| r.split == "test")
        .map(|r| {
            entangle::features::SpectrogramParams::default()
                .num_frames_of_wav(Path::new(&r.path))
                .unwrap() as u64
        })
        .sum();
    let frames = duckdb(&format!(
        "SELECT count(*), count(DISTINCT shard) FROM read_parquet('{}')",
        table.display()
    ))
    .unwrap();
    assert_eq!(frames.trim(), format!("{expected} 3"));
}

#[test]
fn a_split_that_does_not_exist_is_an_error_naming_those_that_do() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let model = fluid_net(dir.path(), "fluid");
    let err = failed(&entangle(&[
        "analyze",
        "--manifest",
        s(&manifest),
        "--split",
        "test,validaton",
        "--predictions",
        s(&model),
        "--out",
        s(&dir.path().join("a")),
    ]));
    assert!(
        err.contains("no split \"validaton\"; the manifest has test, train, validation"),
        "{err}"
    );
    assert!(!dir.path().join("a/combinations.parquet").exists());
    // A training split asked for by name must exist too (by default a corpus without one
    // is analysed with `shared` NULL).
    let err = failed(&entangle(&[
        "analyze",
        "--manifest",
        s(&manifest),
        "--train-split",
        "trian",
        "--predictions",
        s(&model),
        "--out",
        s(&dir.path().join("b")),
    ]));
    assert!(
        err.contains("--train-split trian") && err.contains("it has test, train, validation"),
        "{err}"
    );
    let err = failed(&entangle(&[
        "predict",
        "--model",
        s(&model),
        "--manifest",
        s(&manifest),
        "--split",
        "tset",
        "-o",
        s(&dir.path().join("p.parquet")),
    ]));
    assert!(
        err.contains("no split \"tset\"; the manifest has test, train, validation"),
        "{err}"
    );
}

#[test]
fn a_training_runs_best_onnx_is_not_a_model_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let epoch = fluid_net(&run, "epoch-0001");
    std::fs::copy(&epoch, run.join("best.onnx")).unwrap();
    for command in ["analyze", "watch"] {
        let out = dir.path().join(command);
        let mut args = vec![command];
        if command == "analyze" {
            args.extend(["--predictions", s(&run)]);
        } else {
            args.extend([s(&run), "--rounds", "1", "--poll", "0", "--settle", "0"]);
        }
        args.extend(["--manifest", s(&manifest), "--out", s(&out)]);
        ok(&entangle(&args));
        let models = duckdb(&format!(
            "SELECT string_agg(DISTINCT model, ',') FROM read_parquet('{}')",
            out.join("frame_metrics.parquet").display()
        ))
        .unwrap();
        assert_eq!(models.trim(), "epoch-0001", "{command}");
    }
}

#[test]
fn report_draws_figures_and_a_report_for_any_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let model = fluid_net(dir.path(), "fluid");
    let out = dir.path().join("a");
    ok(&entangle(&[
        "analyze",
        "--manifest",
        s(&manifest),
        "--predictions",
        s(&model),
        "--out",
        s(&out),
    ]));
    ok(&entangle(&["report", s(&out)]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for expected in [
        "| fluid | test | 3 |",
        "![figures/isolated-notes-fluid.svg](figures/isolated-notes-fluid.svg)",
        "![figures/networks.svg](figures/networks.svg)",
        // The test split's isolated notes never occur in training (intervals only).
        "shared combinations n/a (no frames)",
        "`common-shared-fluid`: no combination of the test split occurs in the training split",
        "`best-intervals-fluid`: the test split has no two-note combinations",
    ] {
        assert!(report.contains(expected), "{expected:?} not in:\n{report}");
    }
    for figure in ["isolated-notes-fluid", "common-unshared-fluid", "networks"] {
        for ext in ["svg", "png"] {
            let path = out.join("figures").join(format!("{figure}.{ext}"));
            assert!(
                std::fs::metadata(&path).unwrap().len() > 1000,
                "{}",
                path.display()
            );
        }
    }
    // The networks figure says what it shows: only unshared combinations here.
    let svg = std::fs::read_to_string(out.join("figures/networks.svg")).unwrap();
    assert!(svg.contains("unshared combinations (none shared with training)"));
    assert!(!svg.contains("shared vs unshared"));
    // PNG only: the report links the PNGs.
    ok(&entangle(&["report", s(&out), "--formats", "png"]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("![figures/isolated-notes-fluid.png](figures/isolated-notes-fluid.png)"),
        "{report}"
    );
    // A split the tables lack.
    let err = failed(&entangle(&["report", s(&out), "--split", "validation"]));
    assert!(
        err.contains("no split \"validation\" in the tables; they have test"),
        "{err}"
    );
}

#[test]
fn model_export_takes_trained_weights_from_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let arch = small_convnet(23).trained_on(49, 100.0);
    let weights = Weights::random(&arch, 5).unwrap();
    // A checkpoint as `train` writes it: the parameters, and momentum buffers beside them.
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = weights
        .tensors
        .iter()
        .flat_map(|(name, t)| {
            let data: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            [
                (name.clone(), t.shape.clone(), data.clone()),
                (format!("momentum/{name}"), t.shape.clone(), data),
            ]
        })
        .collect();
    for (name, shape, data) in &bytes {
        tensors.push((
            name.clone(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .unwrap(),
        ));
    }
    let checkpoint = dir.path().join("checkpoint-0003.safetensors");
    safetensors::serialize_to_file(tensors, &None, &checkpoint).unwrap();
    let exported = dir.path().join("cli.onnx");
    ok(&entangle(&[
        "model",
        "export",
        "smallconvnet",
        "--outputs",
        "23",
        "--lowest-pitch",
        "49",
        "--weights",
        s(&checkpoint),
        "-o",
        s(&exported),
    ]));
    let reference = dir.path().join("lib.onnx");
    export_onnx(&arch, &weights, &reference).unwrap();
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&reference).unwrap(),
        "the checkpoint's weights, exactly"
    );
    // A checkpoint of another shape is refused, naming the tensor (88 outputs asked for;
    // without --outputs it would be the paper's 23, issue 10).
    let err = failed(&entangle(&[
        "model",
        "export",
        "smallconvnet",
        "--outputs",
        "88",
        "--weights",
        s(&checkpoint),
        "-o",
        s(&dir.path().join("x.onnx")),
    ]));
    assert!(
        err.contains("checkpoint-0003.safetensors: tensor") && err.contains("shape"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_is_a_normal_stop() {
    let mut child = common::entangle_command()
        .args(["synth", "presets", "--soundfont", "FluidR3_GM"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the SoundFont is loaded and the list printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error"),
        "{stderr}"
    );
}

#[test]
fn each_cause_of_an_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.wav");
    let err = failed(&entangle(&[
        "spectrogram",
        s(&missing),
        "-o",
        s(&dir.path().join("x.npy")),
    ]));
    assert!(err.contains("nowhere.wav"), "{err}");
    assert_eq!(count(&err, "os error 2"), 1, "{err}");
}

#[test]
fn demo_takes_soundfont_names_and_says_which_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = entangle(&["demo", "--out", s(dir.path()), "--soundfont", "TimGM6mb"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(TimGM6mb,"), "{stdout}");
    assert!(!stdout.contains("FluidR3_GM"), "{stdout}");
}

/// Every option of `analyze` and `watch` is in the README (docs check).
#[test]
fn the_readme_lists_every_analysis_option() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for command in ["analyze", "watch"] {
        let help = entangle(&[command, "--help"]);
        let help = String::from_utf8_lossy(&help.stdout);
        for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") && word.len() > 2 && !["--help"].contains(&word) {
                assert!(
                    readme.contains(word),
                    "`entangle {command} {word}` is not in README.md"
                );
            }
        }
    }
}

fn pipeline_spec(manifest: &Path) -> String {
    format!(
        r#"
name = "own"
out = "run"

[corpus]
kind = "manifest"
path = "{}"

[[networks]]
name = "small"
arch = "smallconvnet"
epochs = 1
steps_per_epoch = 2
learning_rate = 0.1
device = "cpu"

[figures]
formats = ["svg"]
"#,
        manifest.display()
    )
}

/// `kind = "manifest"`: one's own corpus, checked before any work.
#[test]
fn a_pipeline_on_an_existing_manifest_is_validated_before_work() {
    use entangle::corpus::manifest::read_manifest;
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let run = |spec: &str| {
        let path = dir.path().join("spec.toml");
        std::fs::write(&path, spec).unwrap();
        common::entangle_command()
            .args(["run", s(&path), "--dry-run"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&pipeline_spec(&manifest));
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("corpus: run"));

    let rows = read_manifest(&manifest).unwrap();
    // Paths in a manifest are relative to it: write the broken ones beside it.
    let relative = |rows: Vec<entangle::corpus::manifest::ManifestRow>| -> Vec<_> {
        rows.into_iter()
            .map(|mut r| {
                for p in [&mut r.path, &mut r.labels_path] {
                    *p = Path::new(p.as_str())
                        .strip_prefix(dir.path())
                        .unwrap()
                        .display()
                        .to_string();
                }
                r
            })
            .collect()
    };
    let no_validation = dir.path().join("no-validation.manifest.parquet");
    write_manifest(
        &no_validation,
        &relative(
            rows.iter()
                .filter(|r| r.split != "validation")
                .cloned()
                .collect(),
        ),
    )
    .unwrap();
    let err = failed(&run(&pipeline_spec(&no_validation)));
    assert!(
        err.contains("no validation rows (it has test, train)") && err.contains("spec.toml"),
        "{err}"
    );
    let mut moved = relative(rows.clone());
    moved[3].path = "gone.wav".into();
    let missing_audio = dir.path().join("missing.manifest.parquet");
    write_manifest(&missing_audio, &moved).unwrap();
    let err = failed(&run(&pipeline_spec(&missing_audio)));
    assert!(
        err.contains("shard \"ex3\"") && err.contains("gone.wav does not exist"),
        "{err}"
    );
    let err = failed(&run(&pipeline_spec(&dir.path().join("nowhere.parquet"))));
    assert!(err.contains("nowhere.parquet\": no such file"), "{err}");
}

/// The same spec end to end: training on one's own manifest, every epoch's export records
/// what its outputs mean, and the run ends in tables, figures and a report.
#[cfg(feature = "train")]
#[test]
fn a_pipeline_on_an_existing_manifest_runs_and_its_models_describe_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_corpus(dir.path());
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, pipeline_spec(&manifest)).unwrap();
    let out = common::entangle_command()
        .args(["run", s(&spec)])
        .current_dir(dir.path())
        .output()
        .unwrap();
    ok(&out);
    let run = dir.path().join("run");
    for model in ["train/small/epoch-0001.onnx", "models/small.onnx"] {
        let meta = entangle::model::ModelMetadata::read(&run.join(model)).unwrap();
        assert_eq!(
            meta,
            entangle::model::ModelMetadata {
                architecture: Some("SmallConvNet".into()),
                lowest_pitch: Some(21),
                outputs: Some(88),
                fps: Some(100.0),
            },
            "{model}"
        );
    }
    assert!(run.join("report.md").is_file());
    assert!(run.join("analysis/combinations.parquet").is_file());
}
