//! The systems inside the analysis: `entangle system predict` writes predictions and labels at
//! the system's own frames, `entangle analyze` turns them into the usual tables. Checked with
//! DuckDB: every frame has a label row and a prediction row, labels sit at the system's frame
//! centres (basic-pitch's irregular ones, computed here in SQL from its formula), and
//! `shared` is NULL (no training set is known for these systems).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn entangle(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_entangle"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "entangle {args:?}: {stderr}");
    // ONNX Runtime's per-run warning about madmom's declared output shapes is not shown.
    assert!(!stderr.contains("VerifyOutputSizes"), "{stderr}");
}

/// Two test shards: a FLUID interval (C4 + E4, 1 s) and a chord held 30 s (so basic-pitch's
/// frames cross several of its windows).
fn corpus(dir: &Path) -> PathBuf {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings::default(),
    };
    let notes = |pitches: &[u8], onset: f64, offset: f64| -> Vec<Note> {
        pitches
            .iter()
            .map(|&pitch| Note {
                onset,
                offset,
                pitch,
                velocity: 80,
            })
            .collect()
    };
    let jobs = vec![
        RenderJob {
            shard: "interval".into(),
            notes: notes(&[60, 64], 0.0, 1.0),
            renderer: renderer.clone(),
            velocity: 80,
        },
        RenderJob {
            shard: "chord".into(),
            notes: notes(&[48, 55, 64], 0.3, 30.3),
            renderer,
            velocity: 80,
        },
    ];
    let corpus = dir.join("corpus");
    render_jobs(&corpus, &jobs, false).unwrap();
    common::manifest_of_dir(dir, &corpus, "interval test\nchord test\n")
}

/// `entangle system predict` of `systems/SYSTEM.toml` on the manifest into `out`.
fn system_predict(system: &str, manifest: &Path, out: &Path, extra: &[&str]) {
    let spec = format!("systems/{system}.toml");
    let mut args = vec!["system", "predict", "--system", &spec];
    args.extend(["--manifest", manifest.to_str().unwrap()]);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    entangle(&args);
}

fn analyse(system: &str, manifest: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(system);
    system_predict(system, manifest, &out, &[]);
    let labels = out.join("labels.parquet");
    let predictions = out.join("predictions.parquet");
    entangle(&[
        "analyze",
        "--labels",
        &format!("test={}", labels.display()),
        "--predictions",
        predictions.to_str().unwrap(),
        "--out",
        out.join("analysis").to_str().unwrap(),
    ]);
    out
}

fn sql(q: &str) -> String {
    common::duckdb(q).unwrap().trim().to_string()
}

#[test]
fn systems_are_analysed_at_their_own_frames() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(dir.path());
    // (system, frame centre of frame f in SQL, half a hop, frames of n 44.1 kHz samples)
    let bp_time = "(frame * 256.0 / 22050 - floor(frame / 172) * (256.0 / 22050 * (172 - 43844 / 256.0) + 0.0018))";
    let cases = [
        ("basic-pitch", bp_time.to_string(), 128.0 / 22050.0),
        ("adsr-cnn", "(frame / 50.0)".to_string(), 0.01),
    ];
    for (system, time, half_hop) in cases {
        let out = analyse(system, &manifest, dir.path());
        // Same inputs, same tables, byte for byte, with 1 worker or 2 (files side by side,
        // every session on one ONNX Runtime thread: with 2 intra-op threads basic-pitch's
        // probabilities moved by up to 4.2e-3).
        for workers in ["1", "2"] {
            let again = dir.path().join(format!("{system}-{workers}"));
            system_predict(system, &manifest, &again, &["--workers", workers]);
            for table in ["labels.parquet", "predictions.parquet"] {
                assert!(
                    std::fs::read(out.join(table)).unwrap()
                        == std::fs::read(again.join(table)).unwrap(),
                    "{system}: {table} differs ({workers} workers)"
                );
            }
        }
        let (l, p, a) = (
            out.join("labels.parquet"),
            out.join("predictions.parquet"),
            out.join("analysis"),
        );
        let (l, p) = (l.display(), p.display());
        // One label row and one prediction row per native frame, same shards, same counts.
        let counts = format!(
            "SELECT shard, count(*) FROM '{l}' GROUP BY shard EXCEPT \
             SELECT shard, count(*) FROM '{p}' GROUP BY shard"
        );
        assert_eq!(
            sql(&counts),
            "",
            "{system}: label and prediction frames differ"
        );
        // The chord (30.3 s at 44.1 kHz, plus the renderer's 0.5 s tail).
        let frames: u64 = sql(&format!("SELECT count(*) FROM '{l}' WHERE shard = 'chord'"))
            .parse()
            .unwrap();
        let samples = ((30.3 + 0.5) * 44_100.0_f64).round();
        let expected = match system {
            "basic-pitch" => ((samples / 2.0).ceil() * 86.0 / 22_050.0).floor(),
            _ => (samples / 882.0).ceil(),
        } as u64;
        assert_eq!(frames, expected, "{system}: frames of the chord");
        // Every labelled frame's centre lies within half a hop of its note, and every frame
        // whose centre is well inside the note is labelled.
        let outside = sql(&format!(
            "SELECT count(*) FROM '{l}' WHERE shard = 'chord' AND len(pitches) > 0 AND \
             ({time} < 0.3 - {half_hop} - 1e-9 OR {time} > 30.3 + {half_hop} + 1e-9)"
        ));
        assert_eq!(outside, "0", "{system}: labels outside the note");
        let missing = sql(&format!(
            "SELECT count(*) FROM '{l}' WHERE shard = 'chord' AND len(pitches) = 0 AND \
             {time} > 0.3 + {half_hop} + 1e-9 AND {time} < 30.3 - {half_hop} - 1e-9"
        ));
        assert_eq!(missing, "0", "{system}: unlabelled frames inside the note");
        let fps = sql(&format!(
            "SELECT decode(value) FROM parquet_kv_metadata('{l}') WHERE key = 'entangle.fps' UNION ALL \
             SELECT decode(value) FROM parquet_kv_metadata('{p}') WHERE key = 'entangle.fps'"
        ));
        let want = if system == "basic-pitch" {
            "86.1328125"
        } else {
            "50"
        };
        assert_eq!(
            fps,
            format!("{want}\n{want}"),
            "{system}: recorded frame rates"
        );
        // The analysis counted every one of those frames; shared is NULL throughout.
        let analysed = sql(&format!(
            "SELECT sum(frames) FROM '{}/split_metrics.parquet' WHERE model = '{system}'",
            a.display()
        ));
        let labelled = sql(&format!("SELECT count(*) FROM '{l}'"));
        assert_eq!(analysed, labelled, "{system}: frames analysed");
        let shared = sql(&format!(
            "SELECT count(*) FILTER (shared IS NOT NULL), count(*) FROM '{}/combinations.parquet'",
            a.display()
        ));
        assert!(shared.starts_with("0 "), "{system}: shared {shared}");
        // The system hears the chord: its lowest note is there in most of its frames (the
        // sample decays within about 20 s; basic-pitch also adds C2 and C4 there).
        let heard = sql(&format!(
            "SELECT c.frames - coalesce(o.frames, 0) > c.frames / 2 \
             FROM '{a}/combinations.parquet' c LEFT JOIN '{a}/omissions.parquet' o \
             ON o.model = c.model AND o.combination = c.combination AND o.note = 'C3' \
             WHERE c.name = 'C3 G3 E4'",
            a = a.display()
        ));
        assert_eq!(heard, "True", "{system}: C3 heard in most chord frames");
        // Error positions (the analysis writes them): every labelled pitch-frame is exact or
        // omitted somewhere, every predicted one exact or added somewhere, once.
        let positions = a.join("positions.parquet");
        let q = positions.display();
        let sums = sql(&format!(
            "SELECT (SELECT sum(exact + omitted) FROM '{q}') = (SELECT sum(len(pitches)) FROM '{l}'), \
                    (SELECT sum(exact + added) FROM '{q}') = (SELECT sum(len(pitches)) FROM '{p}'), \
                    (SELECT count(*) FROM '{q}')"
        ));
        assert_eq!(sums, "True True 7", "{system}: positions add up");
    }
}

/// A system run inside the dataflow (`analyze --manifest M --system S`: its units on the
/// workers, the labels framed at its frames) gives the same tables, byte for byte, as
/// `system predict` then `analyze` of the two tables; with 1 worker or 2.
#[test]
fn a_system_on_the_workers_gives_the_tables_of_its_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(dir.path());
    for system in ["basic-pitch", "adsr-cnn"] {
        let via_tables = analyse(system, &manifest, dir.path()).join("analysis");
        for workers in ["1", "2"] {
            let inside = dir.path().join(format!("{system}-inside-{workers}"));
            entangle(&[
                "analyze",
                "--manifest",
                manifest.to_str().unwrap(),
                "--system",
                &format!("systems/{system}.toml"),
                "-w",
                workers,
                "--out",
                inside.to_str().unwrap(),
            ]);
            for table in entangle::dataflow::tables::Table::ALL {
                let file = table.file();
                assert!(
                    std::fs::read(via_tables.join(file)).unwrap()
                        == std::fs::read(inside.join(file)).unwrap(),
                    "{system}: {file} differs ({workers} workers)"
                );
            }
            let summary: serde_json::Value =
                serde_json::from_slice(&std::fs::read(inside.join("analysis.json")).unwrap())
                    .unwrap();
            assert_eq!(summary["units"], 2, "{system}: one unit per shard");
        }
    }
}

/// A cached ONNX file whose bytes are not the ones the spec names is refused, naming the file
/// and both hashes, before anything is written.
#[test]
fn a_foreign_onnx_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = entangle::systems::SystemSpec::load(&root().join("systems/adsr-cnn.toml")).unwrap();
    let mut bytes = std::fs::read(spec.onnx_path(&root())).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let foreign = dir.path().join("notes_cnn.onnx");
    std::fs::write(&foreign, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entangle"))
        .current_dir(root())
        .args([
            "system",
            "predict",
            "--system",
            "systems/adsr-cnn.toml",
            "--manifest",
        ])
        .arg(dir.path().join("unused.parquet"))
        .arg("--onnx")
        .arg(&foreign)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("notes_cnn.onnx") && err.contains(&spec.onnx.sha256),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
}
