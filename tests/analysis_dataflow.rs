//! The analysis dataflow against a direct computation, and its determinism across workers
//! and processes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::fixture::*;
use common::midi;
use entangle::analysis::aggregate::aggregate;
use entangle::analysis::metrics::FrameCounts;
use entangle::pitchset::PitchSet;

/// Labels, train labels, and two models' predictions in two files.
fn corpus(
    dir: &Path,
) -> (
    Vec<(String, entangle::labels::PianoRoll)>,
    Vec<entangle::sink::predictions_table::PredictionRow>,
) {
    let mut rng = Rng(7);
    let rolls = random_rolls(&mut rng, "piece", 12, 300);
    write_labels(&dir.join("labels.parquet"), &rolls);
    // Training labels share most, not all, combinations.
    let train: Vec<_> = random_rolls(&mut rng, "train", 3, 200)
        .into_iter()
        .map(|(name, mut roll)| {
            roll.frames.retain(|s| s.len() != 4);
            (name, roll)
        })
        .collect();
    write_labels(&dir.join("train.parquet"), &train);
    std::fs::create_dir_all(dir.join("predictions")).unwrap();
    let a = prediction_rows(&mut rng, "net-a", &rolls);
    let b = prediction_rows(&mut rng, "net-b", &rolls[..8]);
    write_rows(&dir.join("predictions/a.parquet"), &a);
    write_rows(&dir.join("predictions/b.parquet"), &b);
    let mut all = a;
    all.extend(b);
    (rolls, all)
}

#[test]
fn tables_equal_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let (rolls, rows) = corpus(dir.path());
    let out = dir.path().join("out");
    let options = options(
        &dir.path().join("labels.parquet"),
        Some(&dir.path().join("train.parquet")),
        &out,
        2,
    );
    let summary = entangle::dataflow::analyze(&options, vec![dir.path().join("predictions")])
        .unwrap()
        .unwrap();
    assert_eq!(summary.sources, 2);
    assert!(summary.skipped.is_empty());

    // The direct computation: every labelled frame of every shard for every model, a
    // missing row (or a shard net-b has no rows for at all) meaning the empty set.
    let predicted: BTreeMap<(&str, &str, u32), PitchSet> = rows
        .iter()
        .map(|r| ((r.model.as_str(), r.shard.as_str(), r.frame), r.pitches))
        .collect();
    let train =
        entangle::sink::labels_table::read_labels_table(&dir.path().join("train.parquet")).unwrap();
    let train_frames = |c: PitchSet| {
        train
            .iter()
            .flat_map(|(_, r)| &r.frames)
            .filter(|&&s| s == c)
            .count() as u64
    };
    assert_eq!(summary.missing_shards.len(), 4, "net-b leaves out 4 shards");
    for (model, shards) in [("net-a", 12), ("net-b", 12)] {
        let mut frames: Vec<(PitchSet, PitchSet)> = Vec::new();
        for (shard, roll) in &rolls[..shards] {
            for (f, &truth) in roll.frames.iter().enumerate() {
                let key = (model, shard.as_str(), f as u32);
                frames.push((truth, predicted.get(&key).copied().unwrap_or_default()));
            }
        }
        let expected = aggregate(frames.iter().copied());
        let got = read_combinations(&out);
        let got: BTreeMap<_, _> = got
            .into_iter()
            .filter(|((m, _, _), _)| m == model)
            .map(|((_, _, c), v)| (c, v))
            .collect();
        assert_eq!(got.len(), expected.combinations.len());
        for (combination, counts) in &expected.combinations {
            let row = got[&combination.to_vec()];
            assert_eq!(
                (row.0, row.1, row.2, row.3),
                (counts.frames, counts.exact, counts.added, counts.omitted),
                "{model} {}",
                combination.name()
            );
            assert_eq!(row.4, train_frames(*combination));
            assert_eq!(row.5, row.4 > 0);
        }
        for (table, expected) in [
            ("additions", &expected.additions),
            ("omissions", &expected.omissions),
        ] {
            let got: BTreeMap<_, _> = read_pitch_errors(&out, table)
                .into_iter()
                .filter(|((m, _, _), _)| m == model)
                .map(|((_, c, p), n)| ((c, p), n))
                .collect();
            let expected: BTreeMap<_, _> = expected
                .iter()
                .map(|((c, p), n)| ((c.to_vec(), *p), *n))
                .collect();
            assert_eq!(got, expected, "{model} {table}");
        }
        // Micro counts over the model's frames equal the sum of the shard rows (checked
        // against mir_eval in tests/metrics_mir_eval.rs).
        let mut total = FrameCounts::default();
        for (t, p) in &frames {
            total.add(&FrameCounts::of_frame(*t, *p));
        }
        let micro = python_micro_f1(&out, model);
        assert!(
            (micro - total.metrics().f1).abs() < 1e-12,
            "{model}: {micro} vs {}",
            total.metrics().f1
        );
    }
}

/// The `positions` table equals a direct count per shard (shards a model has no rows for
/// predicted empty), and, read by DuckDB, its exact / added / omitted pitch-frames add up to
/// `frame_metrics`' tp / fp / fn: every labelled or predicted pitch-frame sits at exactly one
/// position.
#[test]
fn positions_equal_a_direct_count_and_add_up_to_the_frame_metrics() {
    use entangle::analysis::positions::{Position, PositionWindows, count_shard};
    let dir = tempfile::tempdir().unwrap();
    let (rolls, rows) = corpus(dir.path());
    let out = dir.path().join("out");
    let mut options = options(&dir.path().join("labels.parquet"), None, &out, 2);
    let windows = PositionWindows {
        k: 2,
        release_seconds: 0.05,
    };
    options.evaluation.positions = windows;
    entangle::dataflow::analyze(&options, vec![dir.path().join("predictions")]).unwrap();
    let table = common::duckdb_with(
        &format!(
            "SELECT model, position, exact, added, omitted, k_frames, release_frames FROM '{}' \
             ORDER BY ALL",
            out.join("positions.parquet").display()
        ),
        ",",
    )
    .unwrap();
    let mut expected = Vec::new();
    for model in ["net-a", "net-b"] {
        let mut total = [[0u64; 3]; 7];
        for (shard, roll) in &rolls {
            let mut predicted = vec![PitchSet::EMPTY; roll.frames.len()];
            for r in rows
                .iter()
                .filter(|r| r.model == model && &r.shard == shard)
            {
                predicted[r.frame as usize] = r.pitches;
            }
            let counts = count_shard(&roll.frames, &predicted, windows.at(100.0));
            for (t, c) in total.iter_mut().zip(counts.0) {
                for i in 0..3 {
                    t[i] += c[i];
                }
            }
        }
        for (position, [exact, added, omitted]) in Position::ALL.into_iter().zip(total) {
            expected.push(format!(
                "{model},{},{exact},{added},{omitted},2,5",
                position.name()
            ));
        }
    }
    expected.sort();
    let table: Vec<&str> = table.lines().collect();
    assert_eq!(table, expected);
    assert!(table.iter().any(|l| !l.ends_with(",0,0,0,2,5")));
    let sums = common::duckdb_with(
        &format!(
            "SELECT p.model, p.exact = f.tp AND p.added = f.fp AND p.omitted = f.fn FROM \
             (SELECT model, sum(exact) AS exact, sum(added) AS added, sum(omitted) AS omitted \
              FROM '{}' GROUP BY model) p JOIN \
             (SELECT model, sum(tp) AS tp, sum(fp) AS fp, sum(fn) AS fn FROM '{}' GROUP BY model) \
             f USING (model) ORDER BY model",
            out.join("positions.parquet").display(),
            out.join("frame_metrics.parquet").display()
        ),
        ",",
    )
    .unwrap();
    assert_eq!(sums.trim(), "net-a,True\nnet-b,True");
}

/// `split_metrics.micro_f1` of `model`, read by DuckDB.
fn python_micro_f1(out: &Path, model: &str) -> f64 {
    let query = format!(
        "SELECT micro_f1 FROM read_parquet('{}') WHERE model = '{model}'",
        out.join("split_metrics.parquet").display()
    );
    let value = common::duckdb(&query).unwrap_or_else(|e| panic!("{e}"));
    value.trim().parse().unwrap()
}

#[test]
fn one_worker_four_workers_and_two_processes_write_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let labels = dir.path().join("labels.parquet");
    let train = dir.path().join("train.parquet");
    let run = |workers: usize| {
        let out = dir.path().join(format!("out-{workers}"));
        let options = options(&labels, Some(&train), &out, workers);
        entangle::dataflow::analyze(&options, vec![dir.path().join("predictions")]).unwrap();
        table_bytes(&out)
    };
    let one = run(1);
    assert_eq!(one, run(4), "4 workers");

    // Two processes with two workers each, on loopback ports picked free.
    let ports: Vec<u16> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let hostfile = dir.path().join("hosts.txt");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    let out = dir.path().join("out-2x2");
    let children: Vec<_> = (0..2)
        .map(|process| {
            common::entangle_command()
                .args(["analyze", "--predictions"])
                .arg(dir.path().join("predictions"))
                .arg("--labels")
                .arg(format!("test={}", labels.display()))
                .arg("--train-labels")
                .arg(&train)
                .arg("--out")
                .arg(&out)
                .args([
                    "--workers",
                    "2",
                    "--processes",
                    "2",
                    "--process",
                    &process.to_string(),
                ])
                .arg("--hostfile")
                .arg(&hostfile)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(one, table_bytes(&out), "2 processes x 2 workers");
}

/// The SQL block tagged `tag` in a schema document, pointed at `dir`.
fn documented_query(doc: &str, tag: &str, dir: &Path) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let start = text
        .find(&format!("```sql {tag}\n"))
        .unwrap_or_else(|| panic!("no {tag} query in {doc}"));
    let body = &text[start..].split_once('\n').unwrap().1;
    let sql = &body[..body.find("```").unwrap()];
    sql.replace(
        "'combinations.parquet'",
        &format!("'{}'", dir.join("combinations.parquet").display()),
    )
    .replace(
        "'changes.jsonl'",
        &format!("'{}'", dir.join("changes.jsonl").display()),
    )
}

fn duckdb_rows(sql: &str) -> Vec<String> {
    let rows = common::duckdb_with(sql, "|").unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.lines().map(String::from).collect()
}

#[test]
fn the_documented_queries_return_the_expected_rows() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let out = dir.path().join("out");
    let options = options(
        &dir.path().join("labels.parquet"),
        Some(&dir.path().join("train.parquet")),
        &out,
        2,
    );
    entangle::dataflow::analyze(&options, vec![dir.path().join("predictions")]).unwrap();

    // Figure 4: the most common unshared combinations, from our own reading of the table.
    let mut expected: Vec<_> = read_combinations(&out)
        .into_iter()
        .filter(|((_, split, c), v)| split == "test" && !v.5 && !c.is_empty())
        .map(|((model, _, c), v)| {
            let name = c
                .iter()
                .map(|&p| entangle::pitchset::note_name(p))
                .collect::<Vec<_>>()
                .join(" ");
            (model, std::cmp::Reverse(v.0), name, v)
        })
        .collect();
    expected.sort();
    let expected: Vec<String> = expected
        .into_iter()
        .take(10)
        .map(|(model, frames, name, v)| {
            let r = |x: u64| x as f64 / v.0 as f64;
            format!(
                "{model}|{name}|{}|{}|{}|{}",
                frames.0,
                r(v.1),
                r(v.2),
                r(v.3)
            )
        })
        .collect();
    assert!(!expected.is_empty(), "the corpus has unshared combinations");
    assert_eq!(
        duckdb_rows(&documented_query(
            "schemas/combinations.md",
            "figure-4",
            &out
        )),
        expected
    );

    // The change log query: one batch round, so one line per row with its full count.
    let exact: Vec<(String, u64)> = read_combinations(&out)
        .into_iter()
        .filter(|((_, _, c), v)| c == &vec![60, 64] && v.1 > 0)
        .map(|((m, _, _), v)| (m, v.1))
        .collect();
    let expected: Vec<String> = exact.iter().map(|(m, n)| format!("0|{m}|{n}")).collect();
    assert_eq!(
        duckdb_rows(&documented_query("schemas/changes.md", "changes", &out)),
        expected
    );
}

/// MIDI transcriptions (one per shard, in a directory named after the system) are framed by
/// the label rule and analysed like a predictions table of the same frames.
#[test]
fn midi_transcriptions_equal_their_framed_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(11), "s", 3, 200);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    let system = dir.path().join("transcriptions/onsets-and-frames");
    std::fs::create_dir_all(&system).unwrap();
    let mut rows = Vec::new();
    for (i, (shard, roll)) in rolls.iter().enumerate() {
        let notes = [(0.104, 0.5, 60 + i as u8), (0.3, 1.251, 67), (1.0, 2.5, 48)];
        let path = system.join(format!("{shard}.mid"));
        std::fs::write(&path, midi(&notes)).unwrap();
        let parsed = entangle::labels::read_notes(&path, Default::default()).unwrap();
        let framed =
            entangle::labels::PianoRoll::from_notes(&parsed, 100.0, Some(roll.frames.len()));
        for (frame, &pitches) in framed.frames.iter().enumerate() {
            rows.push(entangle::sink::predictions_table::PredictionRow {
                model: "onsets-and-frames".into(),
                shard: shard.clone(),
                frame: frame as u32,
                pitches,
                probs: None,
            });
        }
    }
    write_rows(&dir.path().join("table.parquet"), &rows);
    let run = |source: &Path, out: &str| {
        let out = dir.path().join(out);
        entangle::dataflow::analyze(&options(&labels, None, &out, 2), vec![source.to_path_buf()])
            .unwrap();
        table_bytes(&out)
    };
    let from_midi = run(&dir.path().join("transcriptions"), "a");
    assert_eq!(from_midi, run(&dir.path().join("table.parquet"), "b"));
    let frames: u64 = read_combinations(&dir.path().join("a"))
        .values()
        .map(|v| v.0)
        .sum();
    assert_eq!(frames, 600);
}

/// Copies a Parquet file into one with row groups of `rows` rows, written in batches of
/// `batch` rows, with the same key-value metadata (the frame rate).
fn split_into_row_groups(from: &Path, to: &Path, rows: usize, batch: usize) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(from).unwrap())
        .unwrap()
        .with_batch_size(batch);
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .map(|kv| {
            kv.into_iter()
                .filter(|kv| kv.key == "entangle.fps")
                .collect()
        });
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .set_key_value_metadata(metadata)
        .build();
    let schema = builder.schema().clone();
    let reader = builder.build().unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(to).unwrap(), schema, Some(props)).unwrap();
    for b in reader {
        writer.write(&b.unwrap()).unwrap();
    }
    let written = writer.close().unwrap();
    assert!(
        written.num_row_groups() > 10,
        "{}",
        written.num_row_groups()
    );
}

/// The predictions are streamed a batch at a time (and summed per worker before they leave
/// it): files cut into many row groups and batches give the tables of one-row-group files,
/// with 1 and 3 workers.
#[test]
fn many_row_groups_give_the_tables_of_one() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let labels = dir.path().join("labels.parquet");
    let split = dir.path().join("split");
    std::fs::create_dir_all(&split).unwrap();
    for name in ["a.parquet", "b.parquet"] {
        let from = dir.path().join("predictions").join(name);
        split_into_row_groups(&from, &split.join(name), 97, 31);
    }
    let run = |sources: &Path, workers: usize| {
        let out = dir.path().join(format!(
            "out-{}-{workers}",
            sources.file_name().unwrap().to_string_lossy()
        ));
        let options = options(&labels, None, &out, workers);
        entangle::dataflow::analyze(&options, vec![sources.to_path_buf()]).unwrap();
        table_bytes(&out)
    };
    let one = run(&dir.path().join("predictions"), 1);
    assert_eq!(one, run(&split, 1), "row groups, 1 worker");
    assert_eq!(one, run(&split, 3), "row groups, 3 workers");
}
