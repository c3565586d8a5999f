//! Incremental analysis equals batch analysis: any sequence of new, replaced and removed
//! prediction files, fed to `watch` one change per round, ends in exactly the tables a batch
//! run over the final files writes, and the change log sums to them. Restarting `watch` after
//! `kill -9` rebuilds the same tables.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fixture::*;
use entangle::dataflow::WatchOptions;
use entangle::sink::predictions_table::{PredictionRow, write_predictions_grouped};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Write file `file` with predictions of `model`, drawn with `seed`: creates or
    /// replaces it.
    Write {
        file: u8,
        model: u8,
        seed: u64,
    },
    Remove {
        file: u8,
    },
    /// Write `table.parquet`: model "t" on every shard, shard `k`'s rows drawn with
    /// `seeds[k]`, a row group per shard (which `watch` evaluates group by group) or one for
    /// all. Seeds are few, so a rewrite often leaves some groups as they were.
    WriteTable {
        seeds: [u64; 4],
        grouped: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4u8, 0..2u8, any::<u64>())
            .prop_map(|(file, model, seed)| Op::Write { file, model, seed }),
        1 => (0..4u8).prop_map(|file| Op::Remove { file }),
        2 => (prop::array::uniform4(0..3u64), prop::bool::weighted(0.8))
            .prop_map(|(seeds, grouped)| Op::WriteTable { seeds, grouped }),
    ]
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rolls: Vec<(String, entangle::labels::PianoRoll)>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let rolls = random_rolls(&mut Rng(3), "s", 4, 60);
    write_labels(&root.join("labels.parquet"), &rolls);
    write_labels(&root.join("train.parquet"), &rolls[..1]);
    std::fs::create_dir_all(root.join("watched")).unwrap();
    Setup {
        _dir: dir,
        root,
        rolls,
    }
}

/// File `f` predicts shard `f` only, and `table.parquet` model "t" only, so two files never
/// predict the same (model, shard) (that conflict is tested in analysis_bad_inputs.rs).
fn apply(op: &Op, watched: &Path, rolls: &[(String, entangle::labels::PianoRoll)]) {
    match *op {
        Op::Write { file, model, seed } => {
            let mut rng = Rng(seed);
            let shard = &rolls[usize::from(file)..=usize::from(file)];
            let rows: Vec<PredictionRow> = prediction_rows(&mut rng, &format!("m{model}"), shard);
            write_rows(&watched.join(format!("f{file}.parquet")), &rows);
        }
        Op::Remove { file } => {
            let _ = std::fs::remove_file(watched.join(format!("f{file}.parquet")));
        }
        Op::WriteTable { seeds, grouped } => {
            let groups: Vec<Vec<PredictionRow>> = rolls
                .chunks(1)
                .zip(seeds)
                .map(|(shard, seed)| prediction_rows(&mut Rng(seed), "t", shard))
                .collect();
            let path = watched.join("table.parquet");
            match grouped {
                true => write_predictions_grouped(&path, &groups, 100.0).unwrap(),
                false => write_rows(&path, &groups.concat()),
            }
        }
    }
}

fn batch_tables(s: &Setup) -> BTreeMap<String, Vec<u8>> {
    let out = s.root.join("batch");
    let _ = std::fs::remove_dir_all(&out);
    let options = options(
        &s.root.join("labels.parquet"),
        Some(&s.root.join("train.parquet")),
        &out,
        1,
    );
    entangle::dataflow::analyze(&options, vec![s.root.join("watched")]).unwrap();
    table_bytes(&out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_batch(ops in prop::collection::vec(op(), 1..8), workers in 1..3usize) {
        let s = setup();
        let watched = s.root.join("watched");
        // Round 0 sees the first file; then one change per round.
        apply(&ops[0], &watched, &s.rolls);
        let script = Arc::new(Mutex::new(ops[1..].to_vec()));
        let (hook_dir, rolls) = (watched.clone(), s.rolls.clone());
        let hook = Arc::new(move |round: u64| {
            if round > 0 {
                if let Some(op) = script.lock().unwrap().get(round as usize - 1) {
                    apply(op, &hook_dir, &rolls);
                }
            }
        });
        let out = s.root.join("incremental");
        let options = options(&s.root.join("labels.parquet"), Some(&s.root.join("train.parquet")), &out, workers);
        let watch = WatchOptions { poll: Duration::ZERO, rounds: Some(ops.len() as u64), before_scan: Some(hook), ..Default::default() };
        entangle::dataflow::watch(&options, watched.clone(), watch).unwrap();
        let removed_all = !watched.read_dir().unwrap().any(|_| true);
        if removed_all && !out.join("combinations.parquet").exists() {
            return Ok(()); // nothing was ever written
        }
        prop_assert_eq!(table_bytes(&out), batch_tables(&s));
        prop_assert_eq!(change_log_totals(&out), table_totals(&out));
    }
}

/// Sum of the change log's `combinations` diffs per (model, combination): frames, exact.
fn change_log_totals(out: &Path) -> BTreeMap<(String, Vec<u8>), (i64, i64)> {
    let mut totals: BTreeMap<(String, Vec<u8>), (i64, i64)> = BTreeMap::new();
    for line in std::fs::read_to_string(out.join("changes.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["table"] != "combinations" {
            continue;
        }
        let key = (
            v["model"].as_str().unwrap().to_string(),
            serde_json::from_value(v["combination"].clone()).unwrap(),
        );
        let e = totals.entry(key).or_default();
        e.0 += v["diff"]["frames"].as_i64().unwrap_or(0);
        e.1 += v["diff"]["exact"].as_i64().unwrap_or(0);
    }
    totals.retain(|_, v| *v != (0, 0));
    totals
}

fn table_totals(out: &Path) -> BTreeMap<(String, Vec<u8>), (i64, i64)> {
    read_combinations(out)
        .into_iter()
        .map(|((m, _, c), v)| ((m, c), (v.0 as i64, v.1 as i64)))
        .collect()
}

#[test]
fn watch_survives_kill_9_and_rebuilds_the_same_tables() {
    let s = setup();
    let watched = s.root.join("watched");
    let out = s.root.join("watch-out");
    let watch = |rounds: Option<u64>| {
        let mut cmd = common::entangle_command();
        cmd.arg("watch")
            .arg(&watched)
            .arg("--labels")
            .arg(s.root.join("labels.parquet"))
            .arg("--train-labels")
            .arg(s.root.join("train.parquet"))
            .arg("--out")
            .arg(&out)
            .args(["--poll", "0.05", "--workers", "2"])
            // The writers here are atomic (rename), so nothing needs to settle.
            .args(["--settle", "0"]);
        if let Some(r) = rounds {
            cmd.args(["--rounds", &r.to_string()]);
        }
        cmd
    };
    let ops = [
        Op::Write {
            file: 0,
            model: 0,
            seed: 1,
        },
        Op::Write {
            file: 1,
            model: 1,
            seed: 2,
        },
        Op::Write {
            file: 2,
            model: 0,
            seed: 3,
        },
        Op::Write {
            file: 0,
            model: 0,
            seed: 4,
        },
        Op::Remove { file: 1 },
    ];
    let mut child = watch(None).spawn().unwrap();
    for (i, op) in ops.iter().enumerate() {
        apply(op, &watched, &s.rolls);
        std::thread::sleep(Duration::from_millis(150 + 37 * i as u64));
        if i == 2 {
            // Kill at an arbitrary moment, change a file while it is down, restart.
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            apply(
                &Op::Write {
                    file: 3,
                    model: 1,
                    seed: 9,
                },
                &watched,
                &s.rolls,
            );
            child = watch(None).spawn().unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(400));
    child.kill().unwrap();
    child.wait().unwrap();
    // No temporaries left behind, and the tables read.
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".partial") || name.starts_with('.'),
            "{name}"
        );
    }
    // A final round after the kill: the state rebuilt from the inputs equals a batch run,
    // and the log (cut wherever the kill hit) still sums to the tables.
    assert!(watch(Some(1)).status().unwrap().success());
    assert_eq!(table_bytes(&out), batch_tables(&s));
    assert_eq!(change_log_totals(&out), table_totals(&out));
}

/// Item 5 of issue 14: a round rewrites only the tables whose rows changed. Replacing a
/// prediction that adds one wrong pitch with one that adds another leaves every count of
/// `combinations`, `omissions` and both metric tables as it was; only `additions` changes.
#[test]
fn a_round_rewrites_only_the_tables_whose_rows_changed() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let c4: entangle::pitchset::PitchSet = [60u8].into_iter().collect();
    let roll = entangle::labels::PianoRoll {
        fps: 100.0,
        frames: vec![c4; 10],
    };
    write_labels(&root.join("labels.parquet"), &[("s0".into(), roll)]);
    let watched = root.join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let write = |added: u8| {
        let rows: Vec<PredictionRow> = (0..10)
            .map(|frame| PredictionRow {
                model: "m".into(),
                shard: "s0".into(),
                frame,
                pitches: [60u8, added].into_iter().collect(),
                probs: None,
            })
            .collect();
        write_rows(&watched.join("f.parquet"), &rows);
    };
    write(62);
    let out = root.join("out");
    let inodes = |out: &Path| -> BTreeMap<&'static str, u64> {
        entangle::dataflow::tables::Table::ALL
            .iter()
            .map(|t| {
                (
                    t.file(),
                    std::fs::metadata(out.join(t.file())).unwrap().ino(),
                )
            })
            .collect()
    };
    let before = Arc::new(Mutex::new(BTreeMap::new()));
    let (hook_before, hook_out, hook_watched) = (before.clone(), out.clone(), watched.clone());
    let hook = Arc::new(move |round: u64| {
        if round == 1 {
            *hook_before.lock().unwrap() = inodes(&hook_out);
            let rows: Vec<PredictionRow> = (0..10)
                .map(|frame| PredictionRow {
                    model: "m".into(),
                    shard: "s0".into(),
                    frame,
                    pitches: [60u8, 64].into_iter().collect(),
                    probs: None,
                })
                .collect();
            write_rows(&hook_watched.join("f.parquet"), &rows);
        }
    });
    let watch = WatchOptions {
        poll: Duration::ZERO,
        rounds: Some(2),
        before_scan: Some(hook),
        ..Default::default()
    };
    let labels = root.join("labels.parquet");
    entangle::dataflow::watch(&options(&labels, None, &out, 1), watched.clone(), watch).unwrap();
    let before = before.lock().unwrap().clone();
    let after = inodes(&out);
    let rewritten: Vec<&str> = before
        .iter()
        .filter(|(table, ino)| after[*table] != **ino)
        .map(|(table, _)| *table)
        .collect();
    assert_eq!(rewritten, vec!["additions.parquet"]);
    // And the tables are those of a batch run over the replaced file.
    let batch = root.join("batch");
    entangle::dataflow::analyze(&options(&labels, None, &batch, 1), vec![watched]).unwrap();
    assert_eq!(table_bytes(&out), table_bytes(&batch));
}
