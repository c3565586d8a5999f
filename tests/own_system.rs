//! The README's worked example "Analyse your own system", run as written: the commands are
//! read from the README's block, on a small corpus rendered here (WAV + MIDI ground truth) and
//! a made-up "other system" whose MIDI transcriptions add an octave to every C4+E4 third.

mod common;

use std::path::Path;

use common::{duckdb_with, midi};

fn duckdb(sql: &str) -> String {
    duckdb_with(sql, "|").unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The commands of the README's "Analyse your own system" block, split into arguments.
fn readme_commands() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Analyse your own system")
        .nth(1)
        .expect("README has the section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a sh block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("entangle "))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// Notes (onset s, offset s, MIDI pitch).
type Notes = Vec<(f64, f64, u8)>;

/// Ground truth per piece: stem, split, notes.
fn pieces() -> Vec<(&'static str, &'static str, Notes)> {
    let third = (60, 64);
    vec![
        (
            "piece-a",
            "train",
            vec![(0.2, 1.2, third.0), (0.2, 1.2, third.1), (1.4, 2.0, 67)],
        ),
        (
            "piece-b",
            "train",
            vec![(0.3, 1.0, 65), (1.2, 2.1, third.0), (1.2, 2.1, third.1)],
        ),
        (
            "piece-c",
            "test",
            vec![(0.2, 1.2, third.0), (0.2, 1.2, third.1), (1.4, 2.2, 62)],
        ),
        (
            "piece-d",
            "test",
            vec![(0.1, 0.9, 62), (1.1, 2.0, third.0), (1.1, 2.0, third.1)],
        ),
    ]
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_readme_example_turns_another_systems_midi_into_tables_figures_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut splits = String::new();
    for (stem, split, notes) in pieces() {
        let truth = root.join("my-corpus").join(format!("{stem}.mid"));
        write(&truth, &midi(&notes));
        let wav = root.join("my-corpus").join(format!("{stem}.wav"));
        common::succeeded(common::entangle(&[
            "synth",
            "render",
            truth.to_str().unwrap(),
            "-o",
            wav.to_str().unwrap(),
        ]));
        splits.push_str(&format!("{stem} {split}\n"));
        // The other system: right notes, plus C5 whenever C4+E4 sounds.
        let mut transcribed = notes.clone();
        for &(on, off, p) in &notes {
            if p == 60
                && notes
                    .iter()
                    .any(|&(o, f, q)| q == 64 && o == on && f == off)
            {
                transcribed.push((on, off, 72));
            }
        }
        if split == "test" {
            write(
                &root.join("other-system").join(format!("{stem}.mid")),
                &midi(&transcribed),
            );
        }
    }
    write(&root.join("my-splits.txt"), splits.as_bytes());

    let commands = readme_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    for args in &commands {
        let out = common::entangle_command()
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "entangle {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let analysis = root.join("my-analysis");
    let table = |name: &str| analysis.join(name).display().to_string();
    // The octave is added to the third in every one of its frames, and nowhere else.
    assert_eq!(
        duckdb(&format!(
            "SELECT model, name, note, ratio FROM read_parquet('{}')",
            table("additions.parquet")
        )),
        "other-system|C4 E4|C5|1.0\n"
    );
    // The third occurs in training; D4 alone does not.
    assert_eq!(
        duckdb(&format!(
            "SELECT name, shared, exact_ratio, added_ratio FROM read_parquet('{}') \
             WHERE polyphony > 0 ORDER BY name",
            table("combinations.parquet")
        )),
        "C4 E4|True|0.0|1.0\nD4|False|1.0|0.0\n"
    );
    // Every note found, one in three of the third's notes is extra.
    let metrics = duckdb(&format!(
        "SELECT round(micro_recall, 3), micro_precision < 1 FROM read_parquet('{}')",
        table("split_metrics.parquet")
    ));
    assert_eq!(metrics, "1.0|True\n");
    let report = std::fs::read_to_string(analysis.join("report.md")).unwrap();
    assert!(report.contains("**other-system**"), "{report}");
    assert!(report.contains("C5 added to C4 E4"), "{report}");
    for figure in ["additions-other-system", "isolated-notes-other-system"] {
        assert!(
            analysis
                .join("figures")
                .join(format!("{figure}.svg"))
                .is_file(),
            "{figure}"
        );
    }
}
