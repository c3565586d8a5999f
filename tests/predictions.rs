//! The `predictions` table: written by `entangle predict` from a real network run, read back
//! by DuckDB, and validated on the way in when another system wrote it.

mod common;

use std::path::Path;

use common::duckdb;
use entangle::model::{Weights, export_onnx, small_convnet};
use entangle::sink::predictions_table::read_predictions;

fn tiny_test_split(dir: &Path) -> std::path::PathBuf {
    let pairs: [(&str, &[u8]); 3] = [
        ("test", &[55, 60]),
        ("test", &[60, 64]),
        ("test", &[64, 67]),
    ];
    common::render_examples(dir, "pair", &pairs)
}

#[test]
fn predict_writes_a_table_duckdb_reads() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let model = dir.path().join("fluidnet.onnx");
    let arch = small_convnet(23);
    export_onnx(&arch, &Weights::random(&arch, 4).unwrap(), &model).unwrap();
    let out = dir.path().join("predictions.parquet");
    common::succeeded(
        common::entangle_command()
            .args([
                "predict",
                "--model",
                model.to_str().unwrap(),
                "--manifest",
                manifest.to_str().unwrap(),
            ])
            .args(["--lowest-pitch", "49", "-o", out.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let rows = read_predictions(&out).unwrap();
    // 3 files of 0.6 + 0.5 s = 1.1 s -> 110 frames each at 100 fps.
    assert_eq!(rows.len(), 330);
    let summary = duckdb(&format!(
        "SELECT model, count(*), count(DISTINCT shard), min(list_min(pitches)) >= 49, max(list_max(pitches)) <= 71,
                bool_and(len(probs) = 88), bool_and(list_sum(probs[1:28]) = 0)
         FROM read_parquet('{}') GROUP BY model",
        out.display()
    ))
    .unwrap();
    assert_eq!(summary, "fluidnet 330 3 True True True True\n");
}

/// `predict` runs at the frame rate the model records (issue 17) and so must label its table
/// with that rate (`entangle.fps`, issue 10), not the default 100.
#[test]
fn predict_records_the_frame_rate_it_ran_at() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let model = dir.path().join("net50.onnx");
    let arch = small_convnet(23).trained_on(49, 50.0);
    export_onnx(&arch, &Weights::random(&arch, 4).unwrap(), &model).unwrap();
    let out = dir.path().join("predictions.parquet");
    common::succeeded(
        common::entangle_command()
            .args(["predict", "--model", model.to_str().unwrap()])
            .args(["--manifest", manifest.to_str().unwrap()])
            .args(["-o", out.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let fps = duckdb(&format!(
        "SELECT decode(value) FROM parquet_kv_metadata('{}') WHERE decode(key) = 'entangle.fps'",
        out.display()
    ))
    .unwrap();
    assert_eq!(fps, "50\n");
    // 1.1 s per file at 50 fps: 55 frames each, 165 in all.
    let frames = duckdb(&format!(
        "SELECT count(*) FROM read_parquet('{}')",
        out.display()
    ))
    .unwrap();
    assert_eq!(frames, "165\n");
}

#[test]
fn tables_from_elsewhere_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "low.parquet",
            "SELECT 'm' AS model, 's' AS shard, 0::UINTEGER AS frame, [12::UTINYINT] AS pitches",
            "row 1: pitch 12 is outside the piano range 21..=108",
        ),
        (
            "dup.parquet",
            "SELECT 'm' AS model, 's' AS shard, 7::UINTEGER AS frame, [60::UTINYINT] AS pitches FROM range(2)",
            "row 2: duplicate prediction for model \"m\", shard \"s\", frame 7",
        ),
    ];
    for (name, select, expected) in cases {
        let path = dir.path().join(name);
        duckdb(&format!(
            "COPY ({select}) TO '{}' (FORMAT parquet)",
            path.display()
        ))
        .unwrap();
        let err = read_predictions(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: ", path.display())) && err.ends_with(expected),
            "{name}: {err}"
        );
    }
    // NaN and out-of-range probabilities, through our own writer's schema.
    use entangle::sink::predictions_table::{PredictionRow, write_predictions};
    for (bad, shown) in [(f32::NAN, "NaN"), (1.5, "1.5")] {
        let path = dir.path().join("probs.parquet");
        let mut probs = vec![0.0; 88];
        probs[39] = bad;
        let row = PredictionRow {
            model: "m".into(),
            shard: "s".into(),
            frame: 0,
            pitches: Default::default(),
            probs: Some(probs),
        };
        write_predictions(&path, &[row], 100.0).unwrap();
        let err = read_predictions(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!("row 1: probability {shown} is not in [0, 1]")),
            "{err}"
        );
    }
}

fn analyze(dir: &Path, manifest: &Path, sources: &[&Path], out: &str) -> std::process::Output {
    let mut cmd = common::entangle_command();
    cmd.arg("analyze")
        .arg("--manifest")
        .arg(manifest)
        .args(["--split", "test", "--lowest-pitch", "49", "--workers", "2"])
        .arg("--out")
        .arg(dir.join(out));
    for s in sources {
        cmd.arg("--predictions").arg(s);
    }
    cmd.output().unwrap()
}

/// A network run inside the dataflow gives the same tables as its `predict` table analysed.
#[test]
fn networks_in_the_dataflow_match_their_prediction_tables() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let model = dir.path().join("fluidnet.onnx");
    let arch = small_convnet(23);
    // Biased so that some outputs pass 0.5 and some do not.
    export_onnx(&arch, &Weights::random(&arch, 11).unwrap(), &model).unwrap();
    let table = dir.path().join("fluidnet.parquet");
    let status = common::entangle_command()
        .args(["predict", "--lowest-pitch", "49", "--split", "test"])
        .arg("--model")
        .arg(&model)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--output")
        .arg(&table)
        .status()
        .unwrap();
    assert!(status.success());
    let via_network = analyze(dir.path(), &manifest, &[&model], "a");
    assert!(
        via_network.status.success(),
        "{}",
        String::from_utf8_lossy(&via_network.stderr)
    );
    let via_table = analyze(dir.path(), &manifest, &[&table], "b");
    assert!(
        via_table.status.success(),
        "{}",
        String::from_utf8_lossy(&via_table.stderr)
    );
    for t in entangle::dataflow::tables::Table::ALL.map(|t| t.file()) {
        let read = |d: &str| std::fs::read(dir.path().join(d).join(t)).unwrap();
        assert_eq!(read("a"), read("b"), "{t}");
    }
    let frames = duckdb(&format!(
        "SELECT sum(frames) FROM read_parquet('{}')",
        dir.path().join("a/combinations.parquet").display()
    ))
    .unwrap();
    let labelled = duckdb(&format!(
        "SELECT count(*) FROM read_parquet('{}')",
        table.display()
    ))
    .unwrap();
    assert_eq!(frames, labelled, "every frame of every shard counted once");
}

#[test]
fn unusable_networks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let missing = dir.path().join("nowhere.onnx");
    let out = analyze(dir.path(), &manifest, &[&missing], "x");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nowhere.onnx: no such file or directory"),
        "{err}"
    );

    // A network whose input fits no features: 5 frames of 200 bands.
    let aunet = dir.path().join("aunet.onnx");
    let mut arch = small_convnet(23);
    arch.input = entangle::model::layers::Shape::Map(1, 5, 200);
    export_onnx(&arch, &Weights::random(&arch, 1).unwrap(), &aunet).unwrap();
    let out = analyze(dir.path(), &manifest, &[&aunet], "y");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aunet.onnx: the model takes input"), "{err}");
    assert!(
        !dir.path().join("y/combinations.parquet").exists(),
        "no tables from a failed run"
    );
}

/// AUNet (256-frame segments) runs in the dataflow too; every labelled frame is counted once.
#[test]
fn segment_networks_run_in_the_dataflow() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let model = dir.path().join("aunet.onnx");
    // Exported as training exports it: the file says its first output is A0.
    let arch = entangle::model::aunet(88).trained_on(21, 100.0);
    export_onnx(&arch, &Weights::random(&arch, 2).unwrap(), &model).unwrap();
    common::succeeded(
        common::entangle_command()
            .arg("analyze")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--predictions")
            .arg(&model)
            .arg("--out")
            .arg(dir.path().join("t"))
            .output()
            .unwrap(),
    );
    let frames = duckdb(&format!(
        "SELECT sum(frames), count(DISTINCT model) FROM read_parquet('{}')",
        dir.path().join("t/frame_metrics.parquet").display()
    ))
    .unwrap();
    // As many frames as the spectrograms of the three examples have.
    let expected: u64 = entangle::corpus::manifest::read_manifest(&manifest)
        .unwrap()
        .iter()
        .map(|r| {
            entangle::features::SpectrogramParams::default()
                .num_frames_of_wav(Path::new(&r.path))
                .unwrap() as u64
        })
        .sum();
    assert_eq!(frames.trim(), format!("{expected} 1"));
}
