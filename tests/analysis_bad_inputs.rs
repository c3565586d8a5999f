//! Bad inputs to the analysis: clear errors naming the file (or counted, reported skips),
//! and tables already written are never lost.

mod common;

use std::path::Path;

use common::fixture::*;
use entangle::pitchset::PitchSet;
use entangle::sink::predictions_table::PredictionRow;

fn setup(
    dir: &Path,
) -> (
    std::path::PathBuf,
    Vec<(String, entangle::labels::PianoRoll)>,
) {
    let rolls = random_rolls(&mut Rng(5), "p", 3, 50);
    let labels = dir.join("labels.parquet");
    write_labels(&labels, &rolls);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    (labels, rolls)
}

fn run(
    dir: &Path,
    labels: &Path,
    strict: bool,
) -> anyhow::Result<entangle::dataflow::AnalysisSummary> {
    let mut options = options(labels, None, &dir.join("out"), 2);
    options.evaluation.strict = strict;
    entangle::dataflow::analyze(&options, vec![dir.join("in")]).map(Option::unwrap)
}

fn row(model: &str, shard: &str, frame: u32, pitches: &[u8]) -> PredictionRow {
    PredictionRow {
        model: model.into(),
        shard: shard.into(),
        frame,
        pitches: pitches.iter().copied().collect::<PitchSet>(),
        probs: None,
    }
}

#[test]
fn a_failed_run_names_the_problem_and_keeps_the_last_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, rolls) = setup(dir.path());
    let good = prediction_rows(&mut Rng(1), "m", &rolls);
    write_rows(&dir.path().join("in/a.parquet"), &good);
    run(dir.path(), &labels, false).unwrap();
    let before = table_bytes(&dir.path().join("out"));

    // The same (model, shard) predicted by two files would count its frames twice.
    write_rows(&dir.path().join("in/b.parquet"), &good[..3]);
    let err = run(dir.path(), &labels, false).unwrap_err().to_string();
    assert!(
        err.contains(r#"model "m" on shard "p000" is predicted by 2 files"#),
        "{err}"
    );
    assert!(
        err.contains("a.parquet") && err.contains("b.parquet"),
        "{err}"
    );
    assert!(err.contains("left as they were"), "{err}");
    assert_eq!(table_bytes(&dir.path().join("out")), before);
    std::fs::remove_file(dir.path().join("in/b.parquet")).unwrap();

    let cases: Vec<(Vec<PredictionRow>, &str)> = vec![
        (
            vec![row("m2", "p000", 0, &[109])],
            "row 1: pitch 109 is outside the piano range 21..=108",
        ),
        (
            vec![row("m2", "p000", 3, &[60]), row("m2", "p000", 3, &[61])],
            r#"row 2: duplicate prediction for model "m2", shard "p000", frame 3"#,
        ),
        (
            vec![PredictionRow {
                probs: Some(vec![f32::NAN; 88]),
                ..row("m2", "p001", 0, &[])
            }],
            "row 1: probability NaN is not in [0, 1]",
        ),
    ];
    for (rows, expected) in cases {
        let bad = dir.path().join("in/bad.parquet");
        write_rows(&bad, &rows);
        let err = run(dir.path(), &labels, false).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}: {expected}", bad.display())),
            "{err}"
        );
        assert_eq!(table_bytes(&dir.path().join("out")), before);
    }
    std::fs::write(dir.path().join("in/bad.parquet"), b"PAR1 not really").unwrap();
    let err = run(dir.path(), &labels, false).unwrap_err().to_string();
    assert!(
        err.contains("bad.parquet: not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn frames_and_shards_the_labels_lack_are_counted_skips_or_strict_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, _) = setup(dir.path());
    let rows = vec![
        row("m", "p000", 0, &[60]),
        row("m", "p000", 50, &[60]), // the shard has frames 0..50
        row("m", "p000", 51, &[60]),
        row("m", "elsewhere", 0, &[60]),
    ];
    write_rows(&dir.path().join("in/a.parquet"), &rows);
    let summary = run(dir.path(), &labels, false).unwrap();
    let mut skipped: Vec<_> = summary
        .skipped
        .iter()
        .map(|s| (s.reason.as_str(), s.frames))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            (
                r#"frames past the end of shard "p000" (50 labelled frames)"#,
                2
            ),
            (r#"shard "elsewhere" is not in the labels"#, 1),
        ]
    );
    let json = std::fs::read_to_string(dir.path().join("out/analysis.json")).unwrap();
    assert!(json.contains("is not in the labels"), "{json}");
    // The one valid frame and the 49 unpredicted (empty) frames of p000 are counted, and
    // the 100 frames of p001 and p002, which the model has no rows for, predicted empty.
    let frames: u64 = read_combinations(&dir.path().join("out"))
        .values()
        .map(|v| v.0)
        .sum();
    assert_eq!(frames, 150);
    assert_eq!(summary.missing_shards.len(), 2);

    let err = run(dir.path(), &labels, true).unwrap_err().to_string();
    assert!(
        err.contains("a.parquet: row 2: frames past the end"),
        "{err}"
    );
}

#[test]
fn an_unwritable_output_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, rolls) = setup(dir.path());
    write_rows(
        &dir.path().join("in/a.parquet"),
        &prediction_rows(&mut Rng(1), "m", &rolls),
    );
    std::fs::write(
        dir.path().join("out"),
        b"a file where the directory should be",
    )
    .unwrap();
    let err = run(dir.path(), &labels, false).unwrap_err().to_string();
    assert!(err.contains("out: cannot create"), "{err}");
}
