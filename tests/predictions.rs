//! The `predictions` table: written by `entangle predict` from a real network run, read back
//! by DuckDB, and validated on the way in when another system wrote it.

mod common;

use std::path::Path;
use std::process::Command;

use common::python;
use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::manifest::write_manifest;
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;
use entangle::model::{Weights, export_onnx, small_convnet};
use entangle::sink::predictions_table::read_predictions;

fn duckdb(sql: &str) -> Result<String, String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, duckdb\nfor r in duckdb.sql(sys.argv[1]).fetchall(): print(*r)",
            sql,
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn tiny_test_split(dir: &Path) -> std::path::PathBuf {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings::default(),
    };
    let jobs: Vec<RenderJob> = [[55u8, 60], [60, 64], [64, 67]]
        .iter()
        .enumerate()
        .map(|(i, pair)| RenderJob {
            shard: format!("pair{i}"),
            notes: pair
                .iter()
                .map(|&pitch| Note {
                    onset: 0.1,
                    offset: 0.6,
                    pitch,
                    velocity: 90,
                })
                .collect(),
            renderer: renderer.clone(),
            velocity: 90,
        })
        .collect();
    let rows: Vec<_> = render_jobs(dir, &jobs, false)
        .unwrap()
        .into_iter()
        .map(|r| r.into_row("test"))
        .collect();
    let manifest = dir.join("m.manifest.parquet");
    write_manifest(&manifest, &rows).unwrap();
    manifest
}

#[test]
fn predict_writes_a_table_duckdb_reads() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = tiny_test_split(dir.path());
    let model = dir.path().join("fluidnet.onnx");
    let arch = small_convnet(23);
    export_onnx(&arch, &Weights::random(&arch, 4).unwrap(), &model).unwrap();
    let out = dir.path().join("predictions.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_entangle"))
        .args([
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ])
        .args(["--lowest-pitch", "49", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
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
        let err = read_predictions(&path).unwrap_err();
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
        write_predictions(&path, &[row]).unwrap();
        let err = read_predictions(&path).unwrap_err();
        assert!(
            err.ends_with(&format!("row 1: probability {shown} is not in [0, 1]")),
            "{err}"
        );
    }
}
