//! The labels/predictions contract (schemas/predictions.md, labels.md) as a new user meets it:
//! a shard a model did not predict is predicted empty, the frame rate is checked, both label
//! paths frame a shard alike, a wrong training split is an error, names stay whole,
//! thresholds make their own models, and `analysis.json` says where everything came from.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fixture::*;
use common::{duckdb, duckdb_with, midi};
use entangle::corpus::manifest::{ManifestRow, write_manifest};
use entangle::dataflow::TruthSource;
use entangle::pitchset::PitchSet;
use entangle::sink::predictions_table::{PredictionRow, write_predictions};

use common::entangle;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exact predictions of `model` for the given shards of `rolls`.
fn exact_rows(model: &str, rolls: &[(String, entangle::labels::PianoRoll)]) -> Vec<PredictionRow> {
    rolls
        .iter()
        .flat_map(|(shard, roll)| {
            roll.frames
                .iter()
                .enumerate()
                .map(move |(frame, &pitches)| PredictionRow {
                    model: model.into(),
                    shard: shard.clone(),
                    frame: frame as u32,
                    pitches,
                    probs: None,
                })
        })
        .collect()
}

#[test]
fn a_shard_without_predictions_is_predicted_empty() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(3), "p", 3, 50);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    // The model's table leaves out p002 entirely.
    write_rows(
        &dir.path().join("in/m.parquet"),
        &exact_rows("m", &rolls[..2]),
    );
    let out = dir.path().join("out");
    let summary = entangle::dataflow::analyze(
        &options(&labels, None, &out, 2),
        vec![dir.path().join("in")],
    )
    .unwrap()
    .unwrap();
    // Every labelled frame of the split counts: p002's 50 frames, predicted empty.
    let frames: u64 = read_combinations(&out).values().map(|v| v.0).sum();
    assert_eq!(frames, 150);
    let missing: Vec<_> = summary
        .missing_shards
        .iter()
        .map(|m| {
            (
                m.model.as_str(),
                m.split.as_str(),
                m.shard.as_str(),
                m.frames,
            )
        })
        .collect();
    assert_eq!(missing, [("m", "test", "p002", 50)]);
    let sounding: u32 = rolls[2].1.frames.iter().map(|s| s.len()).sum();
    let total: u32 = rolls
        .iter()
        .flat_map(|(_, r)| &r.frames)
        .map(|s| s.len())
        .sum();
    let recall = duckdb(&format!(
        "SELECT shards, micro_recall FROM read_parquet('{}')",
        out.join("split_metrics.parquet").display()
    ))
    .unwrap();
    let expected = (total - sounding) as f64 / total as f64;
    let (shards, got) = recall.trim().split_once(' ').unwrap();
    assert_eq!(shards, "3");
    assert!(
        (got.parse::<f64>().unwrap() - expected).abs() < 1e-12,
        "{recall}"
    );
    let json = std::fs::read_to_string(out.join("analysis.json")).unwrap();
    assert!(json.contains("\"missing_shards\""), "{json}");

    // --strict refuses, naming the model, the split and the shard, and writes nothing new.
    let before = table_bytes(&out);
    let mut strict = options(&labels, None, &out, 1);
    strict.evaluation.strict = true;
    let err = entangle::dataflow::analyze(&strict, vec![dir.path().join("in")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            r#"model "m" has no predictions for 1 of the 3 labelled shards of split "test" ("p002")"#
        ),
        "{err}"
    );
    assert_eq!(table_bytes(&out), before);

    // Once the shard arrives (a second file), its empty stand-in is retracted: the tables
    // equal those of one complete table.
    write_rows(
        &dir.path().join("in/m-rest.parquet"),
        &exact_rows("m", &rolls[2..]),
    );
    let split = dir.path().join("split");
    let summary = entangle::dataflow::analyze(
        &options(&labels, None, &split, 2),
        vec![dir.path().join("in")],
    )
    .unwrap()
    .unwrap();
    assert!(summary.missing_shards.is_empty());
    let whole_dir = dir.path().join("whole");
    std::fs::create_dir_all(&whole_dir).unwrap();
    write_rows(&whole_dir.join("m.parquet"), &exact_rows("m", &rolls));
    let whole = dir.path().join("whole-out");
    entangle::dataflow::analyze(&options(&labels, None, &whole, 2), vec![whole_dir]).unwrap();
    assert_eq!(table_bytes(&split), table_bytes(&whole));
}

#[test]
fn the_frame_rate_of_predictions_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(4), "p", 2, 40);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    let rows = exact_rows("m", &rolls);
    let run = |table: &Path, assumed: Option<f64>| {
        let mut options = options(&labels, None, &dir.path().join("out"), 1);
        options.evaluation.assumed_fps = assumed;
        entangle::dataflow::analyze(&options, vec![table.to_path_buf()])
    };

    let at_50 = dir.path().join("at50.parquet");
    write_predictions(&at_50, &rows, 50.0).unwrap();
    let err = run(&at_50, None).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "{}: predictions at 50 fps (from its entangle.fps metadata), labels at 100 fps",
            at_50.display()
        )),
        "{err}"
    );
    // Metadata wins over --fps.
    assert!(run(&at_50, Some(100.0)).is_err());

    // A table another tool wrote without metadata: refused unless --fps says its rate.
    let bare = dir.path().join("bare.parquet");
    duckdb(&format!(
        "COPY (SELECT 'm' AS model, 'p000' AS shard, range::INTEGER AS frame, [60] AS pitches \
         FROM range(40)) TO '{}' (FORMAT parquet)",
        bare.display()
    ))
    .unwrap();
    let err = run(&bare, None).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}: no \"entangle.fps\" metadata", bare.display()))
            && err.contains("--fps"),
        "{err}"
    );
    run(&bare, Some(100.0)).unwrap();
    let err = run(&bare, Some(86.1328125)).unwrap_err().to_string();
    assert!(
        err.contains("--fps 86.1328125, but the labels") && err.contains("are at 100 fps"),
        "{err}"
    );
    // DuckDB can write the metadata itself.
    let tagged = dir.path().join("tagged.parquet");
    duckdb(&format!(
        "COPY (SELECT 'm' AS model, 'p000' AS shard, range::INTEGER AS frame, [60] AS pitches \
         FROM range(40)) TO '{}' (FORMAT parquet, KV_METADATA {{'entangle.fps': '100'}})",
        tagged.display()
    ))
    .unwrap();
    run(&tagged, None).unwrap();
    let other_rate = dir.path().join("native.parquet");
    duckdb(&format!(
        "COPY (SELECT 'm' AS model, 'p000' AS shard, range::INTEGER AS frame, [60] AS pitches \
         FROM range(40)) TO '{}' (FORMAT parquet, KV_METADATA {{'entangle.fps': '86.1328125'}})",
        other_rate.display()
    ))
    .unwrap();
    let err = run(&other_rate, None).unwrap_err().to_string();
    assert!(err.contains("predictions at 86.1328125 fps"), "{err}");
}

/// A 16-bit mono WAV of `seconds` of quiet noise.
fn write_wav(path: &Path, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut rng = Rng(9);
    for _ in 0..(seconds * 44100.0).round() as usize {
        w.write_sample((rng.below(200) as i16) - 100).unwrap();
    }
    w.finalize().unwrap();
}

/// A corpus in entangle's layout: `audio/NAME.wav` (1.75 s), `labels/NAME.txt` (a note from
/// 0.25 s to 1.25 s), and a manifest with the given (name, split) rows.
fn corpus(dir: &Path, items: &[(&str, &str, u8)]) -> PathBuf {
    let mut rows = Vec::new();
    for &(name, split, pitch) in items {
        write_wav(&dir.join(format!("audio/{name}.wav")), 1.75);
        std::fs::create_dir_all(dir.join("labels")).unwrap();
        std::fs::write(
            dir.join(format!("labels/{name}.txt")),
            format!("OnsetTime\tOffsetTime\tMidiPitch\n0.25\t1.25\t{pitch}\n"),
        )
        .unwrap();
        rows.push(ManifestRow {
            shard: name.into(),
            path: format!("audio/{name}.wav"),
            labels_path: format!("labels/{name}.txt"),
            split: split.into(),
            soundfont: "none".into(),
            bank: 0,
            program: 0,
            velocity: 0,
            reverb: false,
            duration: 1.75,
            sha256: String::new(),
        });
    }
    let manifest = dir.join("corpus.manifest.parquet");
    write_manifest(&manifest, &rows).unwrap();
    manifest
}

fn frames_in(labels: &Path) -> String {
    duckdb(&format!(
        "SELECT count(*) FROM read_parquet('{}')",
        labels.display()
    ))
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn both_label_paths_frame_a_shard_by_its_audio() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(dir.path(), &[("n60", "test", 60), ("n64", "test", 64)]);
    let txt = dir.path().join("labels/n60.txt");
    let txt2 = dir.path().join("labels/n64.txt");

    // audio/ beside labels/: 1.75 s -> 175 frames, not the 125 up to the note's end.
    let labels = dir.path().join("l.parquet");
    let out = entangle(&["labels", s(&txt), s(&txt2), "-o", s(&labels)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frames_in(&labels), "350");
    let out = entangle(&["labels", s(&txt), "--frames-from-audio", "-o", s(&labels)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frames_in(&labels), "175");

    // A note file elsewhere: through the manifest, or by its last note.
    let elsewhere = dir.path().join("copy/n60.txt");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::copy(&txt, &elsewhere).unwrap();
    let via_manifest = dir.path().join("m.parquet");
    let out = entangle(&[
        "labels",
        s(&elsewhere),
        "--manifest",
        s(&manifest),
        "--frames-from-audio",
        "-o",
        s(&via_manifest),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frames_in(&via_manifest), "175");
    let no_audio = dir.path().join("n.parquet");
    let out = entangle(&["labels", s(&elsewhere), "-o", s(&no_audio)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(frames_in(&no_audio), "125");
    let out = entangle(&[
        "labels",
        s(&elsewhere),
        "--frames-from-audio",
        "-o",
        s(&no_audio),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "{}: --frames-from-audio found no audio",
            elsewhere.display()
        )),
        "{}",
        stderr(&out)
    );

    // The same predictions score the same through the labels table and the manifest.
    let out = entangle(&["labels", s(&txt), s(&txt2), "-o", s(&labels)]);
    assert!(out.status.success());
    let rows: Vec<PredictionRow> = (0..175u32)
        .flat_map(|frame| {
            ["n60", "n64"].map(|shard| PredictionRow {
                model: "m".into(),
                shard: shard.into(),
                frame,
                pitches: if (20..130).contains(&frame) {
                    [60u8].into_iter().collect()
                } else {
                    PitchSet::EMPTY
                },
                probs: None,
            })
        })
        .collect();
    let table = dir.path().join("pred/m.parquet");
    std::fs::create_dir_all(table.parent().unwrap()).unwrap();
    write_rows(&table, &rows);
    let mut via_labels = options(&labels, None, &dir.path().join("a"), 1);
    via_labels.truth = TruthSource::Labels(vec![("test".into(), labels.clone())]);
    let summary = entangle::dataflow::analyze(&via_labels, vec![table.clone()])
        .unwrap()
        .unwrap();
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    let mut via_manifest = via_labels.clone();
    via_manifest.truth = TruthSource::Manifest {
        path: manifest.clone(),
        splits: vec!["test".into()],
    };
    via_manifest.out = dir.path().join("b");
    entangle::dataflow::analyze(&via_manifest, vec![table]).unwrap();
    assert_eq!(
        table_bytes(&dir.path().join("a")),
        table_bytes(&dir.path().join("b"))
    );
}

#[test]
fn a_wrong_train_split_is_an_error_and_no_training_labels_is_null() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(
        dir.path(),
        &[("a", "train", 60), ("b", "test", 60), ("c", "test", 64)],
    );
    let table = dir.path().join("m.parquet");
    let rows: Vec<PredictionRow> = ["b", "c"]
        .iter()
        .flat_map(|shard| {
            (0..175u32).map(move |frame| PredictionRow {
                model: "m".into(),
                shard: shard.to_string(),
                frame,
                pitches: [60u8].into_iter().collect(),
                probs: None,
            })
        })
        .collect();
    write_rows(&table, &rows);
    let analyze = |manifest: &Path, extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "analyze",
            "--manifest",
            s(manifest),
            "--predictions",
            s(&table),
            "--out",
        ];
        let out_s = out.to_str().unwrap().to_string();
        args.push(&out_s);
        args.extend_from_slice(extra);
        (entangle(&args), out)
    };
    let (out, _) = analyze(&manifest, &["--train-split", "none"], "x");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "--train-split none: {} has no such split; it has test, train",
            manifest.display()
        )),
        "{}",
        stderr(&out)
    );
    let (out, _) = analyze(&manifest, &["--split", "tset"], "y");
    assert!(
        stderr(&out).contains("no split \"tset\""),
        "{}",
        stderr(&out)
    );

    let shared = |out: &Path| {
        duckdb_with(
            &format!(
                "SELECT name, coalesce(shared::VARCHAR, 'NULL'), coalesce(train_frames::VARCHAR, 'NULL') \
                 FROM read_parquet('{}') ORDER BY name",
                out.join("combinations.parquet").display()
            ),
            "|",
        )
        .unwrap()
    };
    let (out, dir_ok) = analyze(&manifest, &[], "ok");
    assert!(out.status.success(), "{}", stderr(&out));
    // C4 sounds in the training item (100 frames), E4 does not.
    assert_eq!(
        shared(&dir_ok),
        "|true|75\nC4|true|100\nE4|false|0\n",
        "{}",
        stderr(&out)
    );

    // A test-only corpus: no training labels, so whether a combination is shared is unknown.
    let test_only = tempfile::tempdir().unwrap();
    let manifest = corpus(test_only.path(), &[("b", "test", 60), ("c", "test", 64)]);
    let (out, dir_null) = analyze(&manifest, &[], "null");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no train split"), "{}", stderr(&out));
    assert_eq!(
        shared(&dir_null),
        "|NULL|NULL\nC4|NULL|NULL\nE4|NULL|NULL\n"
    );
}

fn models(out: &Path) -> String {
    duckdb(&format!(
        "SELECT string_agg(DISTINCT model, ',' ORDER BY model) FROM read_parquet('{}')",
        out.join("frame_metrics.parquet").display()
    ))
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn several_sources_in_one_flag_names_kept_whole_and_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(6), "p", 2, 100);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    let system = dir.path().join("basic-pitch@0.3");
    std::fs::create_dir_all(&system).unwrap();
    for (shard, _) in &rolls {
        std::fs::write(system.join(format!("{shard}.mid")), midi(&[(0.1, 0.5, 60)])).unwrap();
    }
    // madmom's transcribers write `.notes`: the same notes give the same counts.
    let madmom = dir.path().join("madmom");
    std::fs::create_dir_all(&madmom).unwrap();
    for (shard, _) in &rolls {
        std::fs::write(madmom.join(format!("{shard}.notes")), "0.1\t60\t0.4\t80\n").unwrap();
    }
    let table = dir.path().join("other.parquet");
    write_rows(&table, &exact_rows("other", &rolls));
    let out = dir.path().join("out");
    let run = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--predictions",
        s(&system),
        s(&table),
        "--out",
        s(&out),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(models(&out), "basic-pitch@0.3,other");
    let as_notes = dir.path().join("as-notes");
    let run = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--predictions",
        s(&madmom),
        "--name",
        "basic-pitch@0.3",
        "--out",
        s(&as_notes),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let metrics = |dir: &Path| {
        duckdb(&format!(
            "SELECT shard, tp, fp, fn FROM read_parquet('{}') WHERE model = 'basic-pitch@0.3' ORDER BY shard",
            dir.join("frame_metrics.parquet").display()
        ))
        .unwrap()
    };
    assert_eq!(metrics(&as_notes), metrics(&out));

    let renamed = dir.path().join("renamed");
    let run = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--predictions",
        s(&system),
        "--name",
        "Basic Pitch 0.3 (onset 0.5)",
        "--out",
        s(&renamed),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(models(&renamed), "Basic Pitch 0.3 (onset 0.5)");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(renamed.join("analysis.json")).unwrap())
            .unwrap();
    assert_eq!(json["fps"], 100.0);
    assert_eq!(json["labels"], labels.display().to_string());
    assert!(json["train_labels"].is_null());
    let inputs = json["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "{json}");
    for input in inputs {
        assert_eq!(
            input["models"],
            serde_json::json!(["Basic Pitch 0.3 (onset 0.5)"])
        );
        assert!(
            input["path"]
                .as_str()
                .unwrap()
                .contains("basic-pitch@0.3/p00")
        );
    }
}

#[test]
fn thresholds_derive_pitches_from_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(8), "p", 2, 60);
    let labels = dir.path().join("labels.parquet");
    let train = dir.path().join("train.parquet");
    write_labels(&labels, &rolls);
    write_labels(&train, &rolls[..1]);
    let mut rng = Rng(21);
    let mut with_probs = Vec::new();
    let mut expected: std::collections::BTreeMap<String, Vec<PredictionRow>> = Default::default();
    for (shard, roll) in &rolls {
        for frame in 0..roll.frames.len() {
            let probs: Vec<f32> = (0..88).map(|_| (rng.below(1000) as f32) / 1000.0).collect();
            for t in [0.25f32, 0.9] {
                let pitches: PitchSet = (0..88u8)
                    .filter(|&k| probs[k as usize] >= t)
                    .map(|k| 21 + k)
                    .collect();
                expected
                    .entry(format!("net[t={t}]"))
                    .or_default()
                    .push(PredictionRow {
                        model: format!("net[t={t}]"),
                        shard: shard.clone(),
                        frame: frame as u32,
                        pitches,
                        probs: None,
                    });
            }
            with_probs.push(PredictionRow {
                model: "net".into(),
                shard: shard.clone(),
                frame: frame as u32,
                pitches: PitchSet::EMPTY,
                probs: Some(probs),
            });
        }
    }
    let table = dir.path().join("net.parquet");
    write_rows(&table, &with_probs);
    let out = dir.path().join("out");
    let run = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--train-labels",
        s(&train),
        "--predictions",
        s(&table),
        "--threshold",
        "0.25",
        "0.9",
        "--out",
        s(&out),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(models(&out), "net[t=0.25],net[t=0.9]");
    // The same counts as tables written with those pitch sets.
    let direct = dir.path().join("direct");
    std::fs::create_dir_all(&direct).unwrap();
    for (name, rows) in &expected {
        write_rows(&direct.join(format!("{name}.parquet")), rows);
    }
    let reference = dir.path().join("reference");
    let run2 = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--train-labels",
        s(&train),
        "--predictions",
        s(&direct),
        "--out",
        s(&reference),
    ]);
    assert!(run2.status.success(), "{}", stderr(&run2));
    assert_eq!(table_bytes(&out), table_bytes(&reference));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(json["thresholds"], serde_json::json!([0.25, 0.9]));
    assert_eq!(json["train_labels"], train.display().to_string());
    assert_eq!(
        json["inputs"][0]["models"],
        serde_json::json!(["net[t=0.25]", "net[t=0.9]"])
    );

    // A table without probabilities cannot be thresholded.
    let plain = dir.path().join("plain.parquet");
    write_rows(&plain, &exact_rows("m", &rolls));
    let run = entangle(&[
        "analyze",
        "--labels",
        s(&labels),
        "--predictions",
        s(&plain),
        "--threshold",
        "0.5",
        "--out",
        s(&dir.path().join("x")),
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("row 1: no probs: --threshold needs the probabilities"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("x.txt");
    std::fs::write(&txt, "0.1 0.5 60\n").unwrap();
    let out = entangle(&["labels", s(&txt), "-o", s(&dir.path().join("l.parquet"))]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wrote"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn model_summaries_default_to_the_papers_output_counts() {
    for (name, total) in [
        ("smallconvnet", "5,327"),
        ("convnet", "1,877,880"),
        ("aunet", "964,673"),
    ] {
        let out = entangle(&["model", "summary", name]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.trim_end().ends_with(total), "{name}: {text}");
    }
}
