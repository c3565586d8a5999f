//! Fault injection for `watch` and `analyze`: junk and foreign files, files written in place,
//! damaged pages, an output directory that stops being writable, gaps in the labels. Every
//! case checks the two invariants after the rounds it drives: the tables equal a fresh batch
//! run over the inputs `watch` has taken in, and the change log sums to the tables (after
//! every round, not just the last). Small data: a case takes well under a second or two.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arrow::array::{Array, StringArray, UInt64Array};
use common::fixture::*;
use entangle::dataflow::{AnalysisOptions, WatchOptions};
use entangle::labels::PianoRoll;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rolls: Vec<(String, PianoRoll)>,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let rolls = random_rolls(&mut Rng(11), "s", 4, 60);
        write_labels(&root.join("labels.parquet"), &rolls);
        write_labels(&root.join("train.parquet"), &rolls[..1]);
        std::fs::create_dir_all(root.join("watched")).unwrap();
        Self {
            _dir: dir,
            root,
            rolls,
        }
    }

    fn watched(&self) -> PathBuf {
        self.root.join("watched")
    }

    fn options(&self, out: &str) -> AnalysisOptions {
        options(
            &self.root.join("labels.parquet"),
            Some(&self.root.join("train.parquet")),
            &self.root.join(out),
            2,
        )
    }

    /// The bytes of a predictions file for shard `shard` by model `model`.
    fn predictions(&self, shard: usize, model: &str, seed: u64) -> Vec<u8> {
        let path = self
            .root
            .join(format!(".scratch-{shard}-{model}-{seed}.parquet"));
        let rows = prediction_rows(&mut Rng(seed), model, &self.rolls[shard..=shard]);
        write_rows(&path, &rows);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    /// Tables of a fresh batch run over `files` (name, bytes).
    fn batch(&self, files: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        let dir = self.root.join("batch-in");
        let out = self.root.join("batch-out");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let mut options = self.options("batch-out");
        options.cluster.workers = 1;
        entangle::dataflow::analyze(&options, vec![dir]).unwrap();
        table_bytes(&out)
    }
}

/// Writes `bytes` to `path` with a modification time long past, so `watch` reads it at
/// once whatever its settle time.
fn write_old(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}

type Sums = BTreeMap<(String, String), [i64; 4]>;

/// Row key and counters of every table row the change log covers, as the tables say.
fn table_sums(out: &Path) -> Sums {
    let mut sums = Sums::new();
    for ((model, split, c), v) in read_combinations(out) {
        sums.insert(
            ("combinations".into(), format!("{model}|{split}|{c:?}")),
            [v.0 as i64, v.1 as i64, v.2 as i64, v.3 as i64],
        );
    }
    for table in ["additions", "omissions"] {
        for ((model, c, pitch), frames) in read_pitch_errors(out, table) {
            sums.insert(
                (table.into(), format!("{model}|test|{c:?}|{pitch}")),
                [frames as i64, 0, 0, 0],
            );
        }
    }
    let file = std::fs::File::open(out.join("frame_metrics.parquet")).unwrap();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
    {
        let batch = batch.unwrap();
        let s = |n: &str| {
            batch
                .column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let u = |n: &str| {
            batch
                .column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .clone()
        };
        let (model, split, shard) = (s("model"), s("split"), s("shard"));
        let (frames, tp, fp, fn_) = (u("frames"), u("tp"), u("fp"), u("fn"));
        for i in 0..batch.num_rows() {
            sums.insert(
                (
                    "frame_metrics".into(),
                    format!("{}|{}|{}", model.value(i), split.value(i), shard.value(i)),
                ),
                [frames.value(i), tp.value(i), fp.value(i), fn_.value(i)].map(|x| x as i64),
            );
        }
    }
    for row in entangle::pipeline::tables_read::read_rows::<entangle::sink::rows::PositionRow>(
        &out.join("positions.parquet"),
    )
    .unwrap()
    {
        sums.insert(
            (
                "positions".into(),
                format!("{}|{}|{}", row.model, row.split, row.position),
            ),
            [row.exact, row.added, row.omitted, 0].map(|x| x as i64),
        );
    }
    sums.retain(|_, v| *v != [0; 4]);
    sums
}

/// The same, summed from the change log.
fn log_sums(out: &Path) -> Sums {
    let mut sums = Sums::new();
    let text = std::fs::read_to_string(out.join("changes.jsonl")).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let table = v["table"].as_str().unwrap().to_string();
        let (model, split) = (v["model"].as_str().unwrap(), v["split"].as_str().unwrap());
        let combination = || {
            let c: Vec<u8> = serde_json::from_value(v["combination"].clone()).unwrap();
            format!("{c:?}")
        };
        let (key, counters): (String, &[&str]) = match table.as_str() {
            "combinations" => (
                format!("{model}|{split}|{}", combination()),
                &["frames", "exact", "added", "omitted"],
            ),
            "additions" | "omissions" => (
                format!("{model}|{split}|{}|{}", combination(), v["pitch"]),
                &["frames"],
            ),
            "frame_metrics" => (
                format!("{model}|{split}|{}", v["shard"].as_str().unwrap()),
                &["frames", "tp", "fp", "fn"],
            ),
            "positions" => (
                format!("{model}|{split}|{}", v["position"].as_str().unwrap()),
                &["exact", "added", "omitted"],
            ),
            other => panic!("table {other}"),
        };
        let e = sums.entry((table, key)).or_default();
        for (i, name) in counters.iter().enumerate() {
            e[i] += v["diff"][name].as_i64().unwrap_or(0);
        }
    }
    sums.retain(|_, v| *v != [0; 4]);
    sums
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap()
}

/// Runs `watch` on the setup's directory for `rounds` scans, calling `script` before each
/// scan. After every round that left tables behind, checks that the log sums to them;
/// returns the mismatches seen (none expected) and `watch`'s result.
fn watch_with(
    s: &Setup,
    out: &str,
    rounds: u64,
    settle: Duration,
    poll: Duration,
    script: impl Fn(u64, &Path) + Send + Sync + 'static,
) -> (Vec<String>, anyhow::Result<()>) {
    let out_dir = s.root.join(out);
    let mismatches = Arc::new(Mutex::new(Vec::new()));
    let seen = mismatches.clone();
    let check_dir = out_dir.clone();
    let hook = Arc::new(move |round: u64| {
        // The state after the previous round: the log sums to the tables on disk.
        if round > 0 && check_dir.join("combinations.parquet").is_file() {
            let (tables, log) = (table_sums(&check_dir), log_sums(&check_dir));
            if tables != log {
                seen.lock().unwrap().push(format!(
                    "after round {}: the log does not sum to the tables",
                    round - 1
                ));
            }
        }
        script(round, &check_dir);
    });
    let watch = WatchOptions {
        poll,
        rounds: Some(rounds),
        before_scan: Some(hook),
        settle,
        ..Default::default()
    };
    let result = entangle::dataflow::watch(&s.options(out), s.watched(), watch).map(|_| ());
    if out_dir.join("combinations.parquet").is_file() && table_sums(&out_dir) != log_sums(&out_dir)
    {
        mismatches
            .lock()
            .unwrap()
            .push("at the end: the log does not sum to the tables".into());
    }
    let mismatches = mismatches.lock().unwrap().clone();
    (mismatches, result)
}

/// Defect 1: a round held back by a conflict (two files predicting the same shard) changes
/// the state; once resolved, every change of the held rounds reaches the log.
#[test]
fn the_log_sums_to_the_tables_after_a_round_that_hit_a_conflict() {
    let s = Setup::new();
    let (f0, f1) = (s.predictions(0, "m", 1), s.predictions(1, "m", 2));
    let clash = s.predictions(0, "m", 3);
    write_old(&s.watched().join("f0.parquet"), &f0);
    let (a, b, c) = (f1.clone(), clash.clone(), s.watched());
    let (mismatches, result) = watch_with(
        &s,
        "out",
        4,
        Duration::ZERO,
        Duration::ZERO,
        move |round, _| match round {
            // A new file and a clashing one in the same round: held back.
            1 => {
                write_old(&c.join("f1.parquet"), &a);
                write_old(&c.join("clash.parquet"), &b);
            }
            2 => std::fs::remove_file(c.join("clash.parquet")).unwrap(),
            _ => {}
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(
        table_bytes(&s.root.join("out")),
        s.batch(&[("f0.parquet", &f0), ("f1.parquet", &f1)])
    );
}

/// Defect 2 (and 1): a junk file and a foreign Parquet file are quarantined, the others go
/// on; a good file that turns bad keeps its last good contribution; all are taken in once
/// readable.
#[test]
fn unreadable_files_are_quarantined_and_the_others_go_on() {
    let s = Setup::new();
    let (f0, f1, f2) = (
        s.predictions(0, "m", 1),
        s.predictions(1, "m", 2),
        s.predictions(2, "n", 3),
    );
    let f0_new = s.predictions(0, "m", 4);
    write_old(&s.watched().join("f0.parquet"), &f0);
    let expected = Arc::new(Mutex::new(Vec::new()));
    let (w, b) = (s.watched(), s.root.clone());
    let (f0c, f1c, f2c, f0n) = (f0.clone(), f1.clone(), f2.clone(), f0_new.clone());
    let labels = std::fs::read(b.join("labels.parquet")).unwrap();
    let seen = expected.clone();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        4,
        Duration::ZERO,
        Duration::ZERO,
        move |round, out| {
            if round > 0 {
                seen.lock().unwrap().push((
                    round - 1,
                    std::fs::read(out.join("combinations.parquet")).ok(),
                    summary(out),
                ));
            }
            match round {
                1 => {
                    write_old(&w.join("junk.parquet"), b"PAR1 not really PAR1");
                    write_old(&w.join("foreign.parquet"), &labels);
                    write_old(&w.join("f1.parquet"), &f1c);
                }
                // A good file turns bad (cut short in place).
                2 => write_old(&w.join("f0.parquet"), &f0c[..f0c.len() / 2]),
                3 => {
                    write_old(&w.join("f0.parquet"), &f0n);
                    write_old(&w.join("junk.parquet"), &f2c);
                    std::fs::remove_file(w.join("foreign.parquet")).unwrap();
                }
                _ => {}
            }
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let out = s.root.join("out");
    let rounds = expected.lock().unwrap().clone();
    // Round 1: f1 is in although junk and foreign files sit beside it.
    let after = |r: u64| rounds.iter().find(|(n, _, _)| *n == r).unwrap().clone();
    let (_, tables, json) = after(1);
    let batch = s.batch(&[("f0.parquet", &f0), ("f1.parquet", &f1)]);
    assert_eq!(tables.unwrap(), batch["combinations"]);
    let pending = json["pending"].to_string();
    assert!(pending.contains("junk.parquet"), "{pending}");
    assert!(pending.contains("foreign.parquet"), "{pending}");
    // Round 2: f0 is unreadable and keeps its last good contribution.
    let (_, tables, json) = after(2);
    assert_eq!(tables.unwrap(), batch["combinations"]);
    assert!(json["pending"].to_string().contains("f0.parquet"), "{json}");
    // Round 3: everything readable is in, nothing is pending.
    assert_eq!(
        table_bytes(&out),
        s.batch(&[
            ("f0.parquet", &f0_new),
            ("f1.parquet", &f1),
            ("junk.parquet", &f2)
        ])
    );
    assert_eq!(summary(&out)["pending"], serde_json::json!([]));
}

/// Defect 3: files written in place, slowly (a new file and an overwrite), are read only
/// once they have been left alone for the settle time: never half-way, never an error.
#[test]
fn files_being_written_are_read_once_they_settle() {
    let s = Setup::new();
    let (f0, f1, f0_new) = (
        s.predictions(0, "m", 1),
        s.predictions(1, "m", 2),
        s.predictions(0, "m", 3),
    );
    write_old(&s.watched().join("f0.parquet"), &f0);
    let w = s.watched();
    let (a, b) = (f1.clone(), f0_new.clone());
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        60,
        Duration::from_millis(500),
        Duration::from_millis(20),
        move |round, out| {
            if round > 1 {
                seen.lock()
                    .unwrap()
                    .push(summary(out)["pending"].to_string());
            }
            // Half of each file now (f0 overwritten in place), the rest a round later: a
            // stall of a whole settle time in between would be needed to read half a file.
            use std::io::Write;
            let open = |name: &str, truncate: bool| {
                std::fs::File::options()
                    .create(true)
                    .append(!truncate)
                    .write(true)
                    .truncate(truncate)
                    .open(w.join(name))
                    .unwrap()
            };
            match round {
                1 => {
                    open("f1.parquet", true)
                        .write_all(&a[..a.len() / 2])
                        .unwrap();
                    open("f0.parquet", true)
                        .write_all(&b[..b.len() / 2])
                        .unwrap();
                }
                2 => {
                    open("f1.parquet", false)
                        .write_all(&a[a.len() / 2..])
                        .unwrap();
                    open("f0.parquet", false)
                        .write_all(&b[b.len() / 2..])
                        .unwrap();
                }
                _ => {}
            }
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let reports = reports.lock().unwrap().clone();
    assert!(
        reports.iter().any(|r| r.contains("being written")),
        "{reports:?}"
    );
    // Never read half-way: no report of an unreadable file.
    assert!(
        reports.iter().all(|r| !r.contains("Parquet")),
        "{reports:?}"
    );
    assert_eq!(
        table_bytes(&s.root.join("out")),
        s.batch(&[("f0.parquet", &f0_new), ("f1.parquet", &f1)])
    );
}

/// Defect 6: while `--out` cannot be written, `watch` keeps its state and retries; the
/// tables already there stay whole; once writable, everything is written and logged.
#[test]
fn an_unwritable_out_is_retried_and_nothing_is_lost() {
    let s = Setup::new();
    let (f0, f1, f2) = (
        s.predictions(0, "m", 1),
        s.predictions(1, "m", 2),
        s.predictions(2, "m", 3),
    );
    write_old(&s.watched().join("f0.parquet"), &f0);
    let (w, root) = (s.watched(), s.root.clone());
    let (a, b) = (f1.clone(), f2.clone());
    let first = Arc::new(Mutex::new(None));
    let kept = first.clone();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        30,
        Duration::ZERO,
        Duration::from_millis(20),
        move |round, out| {
            let away = root.join("out.away");
            match round {
                2 => {
                    *kept.lock().unwrap() = Some(table_bytes(out));
                    // A file where the directory should be: every write fails.
                    std::fs::rename(out, &away).unwrap();
                    std::fs::write(out, b"in the way").unwrap();
                    write_old(&w.join("f1.parquet"), &a);
                }
                5 => write_old(&w.join("f2.parquet"), &b),
                10 => {
                    // The tables stayed whole while the writes failed.
                    assert_eq!(Some(table_bytes(&away)), *kept.lock().unwrap());
                    std::fs::remove_file(out).unwrap();
                    std::fs::rename(&away, out).unwrap();
                }
                _ => {}
            }
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(
        table_bytes(&s.root.join("out")),
        s.batch(&[
            ("f0.parquet", &f0),
            ("f1.parquet", &f1),
            ("f2.parquet", &f2)
        ])
    );
}

/// Flips one byte near the end of the `frame` column's last data page: the footer and the
/// page headers stay valid.
fn damage_frame_column(path: &Path) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let column = builder
        .metadata()
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "frame")
        .unwrap()
        .clone();
    let (start, len) = column.byte_range();
    let mut bytes = std::fs::read(path).unwrap();
    let at = (start + len - 2) as usize;
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

/// Defect 7: a damaged data page under a valid footer is an error naming the file, for
/// files entangle writes (checksum in the footer) and for files with page CRCs (pyarrow).
#[test]
fn damaged_pages_are_an_error_naming_the_file() {
    let s = Setup::new();
    let input = s.root.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let path = input.join("damaged.parquet");
    std::fs::write(&path, s.predictions(0, "m", 1)).unwrap();
    damage_frame_column(&path);
    let err = entangle::dataflow::analyze(&s.options("out"), vec![input.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged.parquet: damaged"), "{err}");
    assert!(
        !s.root.join("out").exists(),
        "a failed run left an output folder"
    );

    // Page CRCs written by another writer are verified too.
    std::fs::remove_file(&path).unwrap();
    let crc = input.join("crc.parquet");
    std::fs::write(&path, s.predictions(1, "m", 2)).unwrap();
    // Only the frame rate (required since issue 10) is kept of our metadata: no footer
    // checksum, so the page CRCs alone must catch the damage.
    let script = "import sys, pyarrow.parquet as pq\n\
        t = pq.read_table(sys.argv[1]).replace_schema_metadata({'entangle.fps': '100'})\n\
        pq.write_table(t, sys.argv[2], write_page_checksum=True, compression='NONE')";
    let ok = std::process::Command::new(common::python())
        .args(["-c", script])
        .arg(&path)
        .arg(&crc)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::remove_file(&path).unwrap();
    entangle::dataflow::analyze(&s.options("out-crc-good"), vec![input.clone()]).unwrap();
    damage_frame_column(&crc);
    let err = entangle::dataflow::analyze(&s.options("out-crc"), vec![input])
        .unwrap_err()
        .to_string();
    assert!(err.contains("crc.parquet"), "{err}");
    assert!(err.to_lowercase().contains("checksum"), "{err}");
}

/// Writes a labels table with the rows of `rolls` except `(shard index, frame)` pairs in
/// `leave_out`.
fn write_labels_with_gaps(
    path: &Path,
    rolls: &[(String, PianoRoll)],
    leave_out: &[(usize, usize)],
) {
    use parquet::arrow::ArrowWriter;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            entangle::sink::labels_table::FPS_METADATA_KEY.to_string(),
            "100".to_string(),
        )]))
        .build();
    let schema = Arc::new(entangle::sink::labels_table::labels_schema());
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    for (i, (shard, roll)) in rolls.iter().enumerate() {
        let batch = entangle::sink::labels_table::labels_batch(shard, roll);
        let keep: Vec<bool> = (0..roll.frames.len())
            .map(|f| !leave_out.contains(&(i, f)))
            .collect();
        let keep = arrow::array::BooleanArray::from(keep);
        writer
            .write(&arrow::compute::filter_record_batch(&batch, &keep).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
}

/// Defect 5: a labels table with a gap is an error naming the shard and the first missing
/// frame, unless missing frames are declared silence; `labelled_frames` counts real rows.
#[test]
fn label_gaps_are_an_error_unless_declared_silence() {
    let s = Setup::new();
    let labels = s.root.join("gappy.parquet");
    write_labels_with_gaps(&labels, &s.rolls, &[(2, 17), (2, 30)]);
    let input = s.root.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("p.parquet"), s.predictions(2, "m", 1)).unwrap();
    let mut options = options(&labels, None, &s.root.join("out"), 1);
    let err = entangle::dataflow::analyze(&options, vec![input.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("gappy.parquet"), "{err}");
    assert!(
        err.contains("shard \"s002\" has no row for frame 17"),
        "{err}"
    );
    options.evaluation.missing_frames = entangle::sink::labels_table::MissingFrames::Silence;
    let summary = entangle::dataflow::analyze(&options, vec![input])
        .unwrap()
        .unwrap();
    assert_eq!(summary.labelled_frames, 4 * 60 - 2);
}

/// Defect 8: `analyze` never reads its own output, even when `--out` lies inside a
/// predictions directory: a second identical run gives the same tables.
#[test]
fn analyze_skips_its_own_output_inside_the_predictions_directory() {
    let s = Setup::new();
    write_old(&s.watched().join("f0.parquet"), &s.predictions(0, "m", 1));
    let options = options(
        &s.root.join("labels.parquet"),
        None,
        &s.watched().join("tables"),
        1,
    );
    entangle::dataflow::analyze(&options, vec![s.watched()]).unwrap();
    let first = table_bytes(&s.watched().join("tables"));
    let summary = entangle::dataflow::analyze(&options, vec![s.watched()])
        .unwrap()
        .unwrap();
    assert_eq!(summary.sources, 1);
    assert_eq!(table_bytes(&s.watched().join("tables")), first);
}

/// Defect 8: `analysis.json`'s rounds are scans, numbered as the log numbers them: a round
/// that changes nothing logs nothing, and a restart numbers on.
#[test]
fn rounds_mean_scans_in_the_summary_and_the_log() {
    let s = Setup::new();
    let (f0, f1) = (s.predictions(0, "m", 1), s.predictions(1, "m", 2));
    write_old(&s.watched().join("f0.parquet"), &f0);
    let w = s.watched();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        5,
        Duration::ZERO,
        Duration::ZERO,
        move |round, _| {
            if round == 3 {
                write_old(&w.join("f1.parquet"), &f1);
            }
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let out = s.root.join("out");
    let logged_rounds = |out: &Path| -> std::collections::BTreeSet<u64> {
        std::fs::read_to_string(out.join("changes.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["round"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(logged_rounds(&out), [0, 3].into());
    let json = summary(&out);
    assert_eq!(
        (json["rounds"].as_u64(), json["last_round"].as_u64()),
        (Some(5), Some(4))
    );
    // A restart numbers on after the last round.
    write_old(&s.watched().join("f2.parquet"), &s.predictions(2, "m", 3));
    let (mismatches, result) = watch_with(&s, "out", 1, Duration::ZERO, Duration::ZERO, |_, _| {});
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(logged_rounds(&out), [0, 3, 5].into());
    assert_eq!(summary(&out)["last_round"].as_u64(), Some(5));
}

/// Kill -9 between the phases of a round leaves one of these states; a restart mends each:
/// tables written but the log not appended, a log line cut short, a temporary left behind,
/// no summary. The tables equal a batch run and the log sums to them again.
#[test]
fn a_restart_mends_every_state_a_kill_between_phases_leaves() {
    let s = Setup::new();
    let (f0, f1, f2) = (
        s.predictions(0, "m", 1),
        s.predictions(1, "m", 2),
        s.predictions(2, "n", 3),
    );
    write_old(&s.watched().join("f0.parquet"), &f0);
    let w = s.watched();
    let f1c = f1.clone();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        2,
        Duration::ZERO,
        Duration::ZERO,
        move |round, _| {
            if round == 1 {
                write_old(&w.join("f1.parquet"), &f1c);
            }
        },
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let out = s.root.join("out");
    let log = std::fs::read_to_string(out.join("changes.jsonl")).unwrap();
    let first_round = log.lines().filter(|l| l.contains("\"round\":0,")).count();
    let kept: String = log
        .lines()
        .take(first_round)
        .map(|l| format!("{l}\n"))
        .collect();
    type Make<'a> = Box<dyn Fn() + 'a>;
    let states: [(&str, Make); 4] = [
        // Killed after writing the tables of round 1, before logging them.
        (
            "tables ahead of the log",
            Box::new(|| std::fs::write(out.join("changes.jsonl"), &kept).unwrap()),
        ),
        // Killed in the middle of appending a line.
        (
            "a line cut short",
            Box::new(|| {
                let mut text = std::fs::read_to_string(out.join("changes.jsonl")).unwrap();
                text.truncate(text.len() - 7);
                std::fs::write(out.join("changes.jsonl"), text).unwrap();
            }),
        ),
        // Killed while writing a table: its temporary stays (hidden, never read).
        (
            "a temporary left behind",
            Box::new(|| {
                std::fs::write(
                    out.join(".combinations.parquet.x1Y2z3.partial"),
                    b"PAR1 half",
                )
                .unwrap()
            }),
        ),
        // Killed before the summary.
        (
            "no summary",
            Box::new(|| std::fs::remove_file(out.join("analysis.json")).unwrap()),
        ),
    ];
    for (i, (state, make)) in states.iter().enumerate() {
        make();
        // Change an input while "down", on every other restart.
        if i % 2 == 0 {
            write_old(&s.watched().join("f2.parquet"), &f2);
        } else {
            let _ = std::fs::remove_file(s.watched().join("f2.parquet"));
        }
        let (mismatches, result) =
            watch_with(&s, "out", 2, Duration::ZERO, Duration::ZERO, |_, _| {});
        result.unwrap();
        assert!(mismatches.is_empty(), "{state}: {mismatches:?}");
        let mut inputs: Vec<(&str, &[u8])> = vec![("f0.parquet", &f0), ("f1.parquet", &f1)];
        if i % 2 == 0 {
            inputs.push(("f2.parquet", &f2));
        }
        assert_eq!(table_bytes(&out), s.batch(&inputs), "{state}");
    }
}

/// Defect 3: a file stamped in the future (another machine's clock) is not held back for
/// ever: seen unchanged over the settle time, it is read.
#[test]
fn a_file_stamped_in_the_future_is_read_once_seen_unchanged() {
    let s = Setup::new();
    let f0 = s.predictions(0, "m", 1);
    let path = s.watched().join("f0.parquet");
    std::fs::write(&path, &f0).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let (mismatches, result) = watch_with(
        &s,
        "out",
        40,
        Duration::from_millis(200),
        Duration::from_millis(20),
        |_, _| {},
    );
    result.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(
        table_bytes(&s.root.join("out")),
        s.batch(&[("f0.parquet", &f0)])
    );
}
