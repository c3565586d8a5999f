//! Third-party systems inside `entangle run` (a spec's `[[systems]]`), end to end on a small
//! rendered corpus with the real ONNX files of `.cache/systems`: each system is a keyed stage
//! (skipped when up to date), its tables are the usual ones plus `positions`, the figures
//! include the side-by-side and positions figures, the report has the systems, and the tables
//! are byte-identical whatever the number of workers. Also: the analysis refuses to join
//! labels and predictions on different time bases, naming both files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn entangle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entangle"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = entangle(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "entangle {args:?}: {stderr}");
    stderr
}

/// `entangle system predict` of `system` over the manifest's test split into `out`.
fn predict(system: &str, manifest: &Path, out: &Path) {
    ok(&[
        "system",
        "predict",
        "--system",
        &format!("systems/{system}.toml"),
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
}

fn sql(q: &str) -> String {
    common::duckdb(q).unwrap().trim().to_string()
}

/// A manifest with three short shards: a train and a validation note (a pipeline's corpus
/// needs the three splits) and a test interval with a note after it (C4 + E4, then G4).
fn corpus(dir: &Path) -> PathBuf {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings::default(),
    };
    let note = |pitch: u8, onset: f64, offset: f64| Note {
        onset,
        offset,
        pitch,
        velocity: 80,
    };
    let job = |shard: &str, notes: Vec<Note>| RenderJob {
        shard: shard.into(),
        notes,
        renderer: renderer.clone(),
        velocity: 80,
    };
    let jobs = vec![
        job("train-a", vec![note(60, 0.0, 1.0)]),
        job("validation-a", vec![note(62, 0.0, 1.0)]),
        job(
            "test-a",
            vec![note(60, 0.2, 1.2), note(64, 0.2, 1.2), note(67, 1.5, 2.5)],
        ),
        job("test-b", vec![note(48, 0.1, 1.1), note(55, 0.1, 1.1)]),
    ];
    let corpus = dir.join("corpus");
    render_jobs(&corpus, &jobs, false).unwrap();
    common::manifest_of_dir(
        dir,
        &corpus,
        "train-a train\nvalidation-a validation\ntest-a test\ntest-b test\n",
    )
}

/// A systems-only spec over `manifest` into `out`, with `workers` workers.
fn spec(dir: &Path, manifest: &Path, out: &Path, workers: usize) -> PathBuf {
    let path = dir.join(format!("systems-{workers}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"small-systems\"\nout = {out:?}\n\n[corpus]\nkind = \"manifest\"\npath = \
             {manifest:?}\n\n[analysis]\nworkers = {workers}\n\n[figures]\nformats = [\"png\"]\n\n\
             [[systems]]\nspec = \"systems/basic-pitch.toml\"\n\n[[systems]]\nspec = \
             \"systems/adsr-cnn.toml\"\n",
        ),
    )
    .unwrap();
    path
}

/// Every Parquet file under `dir`, relative path -> bytes.
fn tables(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_spec_runs_systems_as_stages_with_figures_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(dir.path());
    let out = dir.path().join("run");
    let spec1 = spec(dir.path(), &manifest, &out, 1);
    let stderr = ok(&["run", spec1.to_str().unwrap()]);
    assert!(
        stderr.contains("ran") && stderr.contains("system basic-pitch"),
        "{stderr}"
    );
    for system in ["basic-pitch", "adsr-cnn"] {
        let sys = out.join("systems").join(system);
        assert!(sys.join("stage.json").is_file(), "{system}: stage.json");
        let a = sys.join("analysis");
        // The labels at the system's frames as `entangle system predict` writes them (the
        // stage ran the system on the dataflow's workers instead).
        let predicted = dir.path().join(format!("predicted-{system}"));
        predict(system, &manifest, &predicted);
        // The dataflow analysed every labelled frame of the test split; shared is NULL.
        let frames = sql(&format!(
            "SELECT (SELECT sum(frames) FROM '{a}/split_metrics.parquet' WHERE model = '{system}') \
             = (SELECT count(*) FROM '{l}'), \
             (SELECT count(*) FILTER (shared IS NOT NULL) FROM '{a}/combinations.parquet')",
            a = a.display(),
            l = predicted.join("labels.parquet").display()
        ));
        assert_eq!(frames, "True 0", "{system}: frames analysed, shared");
        // The positions table adds up and says its time base on every row.
        let positions = sql(&format!(
            "SELECT count(*), count(DISTINCT time_base), any_value(time_base), \
             sum(exact + omitted) = (SELECT sum(len(pitches)) FROM '{l}') FROM '{p}'",
            p = a.join("positions.parquet").display(),
            l = predicted.join("labels.parquet").display()
        ));
        let base = if system == "basic-pitch" {
            "t(i) = i * 0.011609977324263039 - floor(i / 172) * 0.010326077097505668 s"
        } else {
            "even grid, 50 fps"
        };
        assert_eq!(positions, format!("7 1 {base} True"), "{system}: positions");
        // So does every other table's every row.
        for table in entangle::dataflow::tables::Table::ALL {
            let other = sql(&format!(
                "SELECT count(*) FILTER (time_base <> '{base}') FROM '{}'",
                a.join(table.file()).display()
            ));
            assert_eq!(other, "0", "{system}: {}", table.file());
        }
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join("analysis.json")).unwrap()).unwrap();
        assert_eq!(summary["time_base"], base, "{system}: analysis.json");
        for figure in [format!("positions-{system}.png"), system.to_string()] {
            assert!(out.join("figures").join(&figure).exists(), "{figure}");
        }
    }
    assert!(out.join("figures/side-by-side.png").is_file());
    assert!(out.join("figures/positions-side-by-side.png").is_file());
    // `entangle report` on a system's analysis directory draws its positions figure too.
    let analysis = out.join("systems/basic-pitch/analysis");
    ok(&["report", analysis.to_str().unwrap(), "--formats", "png"]);
    assert!(analysis.join("figures/positions.png").is_file());
    assert!(
        std::fs::read_to_string(analysis.join("report.md"))
            .unwrap()
            .contains("figures/positions.png")
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "## Systems",
        "| basic-pitch | t(i) = i * 0.0116",
        "| adsr-cnn | even grid, 50 fps | 2 |",
        "figures/side-by-side.png",
        "figures/positions-adsr-cnn.png",
        "**basic-pitch**",
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }

    // Up to date: the systems' stages are skipped, their tables untouched.
    let before = tables(&out.join("systems"));
    let stderr = ok(&["run", spec1.to_str().unwrap()]);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("skipped") && l.contains("system adsr-cnn")),
        "{stderr}"
    );
    assert_eq!(before, tables(&out.join("systems")), "tables rewritten");

    // Two workers (files in parallel, each on its own single-threaded session; two dataflow
    // workers): byte-identical tables.
    let out2 = dir.path().join("run-2");
    ok(&[
        "run",
        spec(dir.path(), &manifest, &out2, 2).to_str().unwrap(),
    ]);
    let again = tables(&out2.join("systems"));
    assert_eq!(before.len(), again.len());
    for ((name, a), (_, b)) in before.iter().zip(&again) {
        assert!(a == b, "{}: differs with 2 workers", name.display());
    }
}

/// basic-pitch's predictions are at 86.13 fps on average but on its own irregular frame
/// times; labels on an even 86.13 fps grid have the same rate and another time base, and the
/// analysis refuses them, naming both files. The ADSR CNN's even 50 fps grid is accepted
/// against labels framed at 50 fps from the manifest.
#[test]
fn labels_and_predictions_on_different_time_bases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = corpus(dir.path());
    let m = manifest.to_str().unwrap();
    for system in ["basic-pitch", "adsr-cnn"] {
        let out = dir.path().join(system);
        predict(system, &manifest, &out);
    }
    let predictions = dir.path().join("basic-pitch/predictions.parquet");
    let refused = dir.path().join("refused");
    let result = entangle(&[
        "analyze",
        "--manifest",
        m,
        "--split",
        "test",
        "--fps",
        "86.1328125",
        "--predictions",
        predictions.to_str().unwrap(),
        "--out",
        refused.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    for needle in [
        predictions.to_str().unwrap(),
        m,
        "even grid, 86.1328125 fps",
        "floor(i / 172)",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert!(!refused.join("combinations.parquet").exists());
    // So does an analysis against a labels table on the even grid at the same rate.
    let even = dir.path().join("even-labels.parquet");
    let labels =
        entangle::dataflow::truth::TruthIndex::from_manifest(&manifest, &["test"], 86.1328125)
            .unwrap();
    let rolls: Vec<(String, entangle::labels::PianoRoll)> = labels
        .shards
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                entangle::labels::PianoRoll {
                    fps: 86.1328125,
                    frames: s.frames.to_vec(),
                },
            )
        })
        .collect();
    entangle::sink::labels_table::write_labels_table(&even, &rolls).unwrap();
    let against_table = dir.path().join("against-table");
    let result = entangle(&[
        "analyze",
        "--labels",
        even.to_str().unwrap(),
        "--predictions",
        predictions.to_str().unwrap(),
        "--out",
        against_table.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains(even.to_str().unwrap()) && stderr.contains("time base"),
        "{stderr}"
    );
    assert!(!against_table.join("positions.parquet").exists());
    // Same time base: accepted.
    let adsr = dir.path().join("adsr-cnn/predictions.parquet");
    ok(&[
        "analyze",
        "--manifest",
        m,
        "--split",
        "test",
        "--fps",
        "50",
        "--predictions",
        adsr.to_str().unwrap(),
        "--out",
        dir.path().join("accepted").to_str().unwrap(),
    ]);
}
