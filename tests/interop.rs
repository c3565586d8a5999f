//! Tables written by other tools: predictions tables as pyarrow, polars and DuckDB write them
//! by default (their integer and list types, every Parquet compression) give the same analysis
//! as entangle's own; and every DuckDB query the schema documents runs on real output.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture::*;
use entangle::corpus::manifest::{ManifestRow, write_manifest};
use entangle::sink::predictions_table::PredictionRow;

/// Runs a Python script in the project venv with `args`; panics with its stderr on failure.
fn python(script: &str, args: &[&Path]) {
    common::succeeded(
        Command::new(common::python())
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .unwrap(),
    );
}

/// Writes `rows` (as JSON in `rows.json`) with pyarrow, polars and DuckDB, with their default
/// types, in every compression each offers. Returns the files, by writer.
const WRITERS: &str = r#"
import json, sys, pathlib
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc, polars as pl, duckdb
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = json.loads(src.read_text())
cols = {k: [r[k] for r in rows] for k in ("model", "shard", "frame", "pitches", "probs")}
meta = {b"entangle.fps": b"100"}

# pyarrow: inferred types (int64 frames, list<int64> pitches, list<double> probs).
inferred = pa.table(cols).replace_schema_metadata(meta)
for c in ("snappy", "gzip", "brotli", "lz4", "zstd", "none"):
    pq.write_table(inferred, out / f"pyarrow-{c}.parquet", compression=c)
# pyarrow with explicit narrow and wide types: uint32 / int32 frames, uint8 / int16 pitches,
# large strings and large lists, fixed-size float32 probs.
for name, schema in {
    "narrow": pa.schema([("model", pa.string()), ("shard", pa.string()), ("frame", pa.uint32()),
                         ("pitches", pa.list_(pa.uint8())), ("probs", pa.list_(pa.float32(), 88))]),
    "wide": pa.schema([("model", pa.large_string()), ("shard", pa.large_string()), ("frame", pa.int32()),
                       ("pitches", pa.large_list(pa.int16())), ("probs", pa.large_list(pa.float64()))]),
}.items():
    t = pa.table(cols, schema=schema).replace_schema_metadata(meta)
    pq.write_table(t, out / f"pyarrow-{name}.parquet")
# pandas-style dictionary (categorical) strings.
t = inferred.set_column(0, "model", pc.dictionary_encode(inferred["model"]))
pq.write_table(t, out / "pyarrow-dictionary.parquet")

# polars: its defaults (zstd, i64, list[i64], list[f64], string views); no metadata: --fps.
df = pl.DataFrame(cols)
df.write_parquet(out / "polars-default.parquet")
for c in ("lz4", "gzip", "brotli", "snappy", "uncompressed"):
    df.write_parquet(out / f"polars-{c}.parquet", compression=c)

# DuckDB: INTEGER frames, INTEGER[] pitches, DOUBLE[] probs.
con = duckdb.connect()
con.execute(f"CREATE TABLE p AS SELECT model, shard, frame::INTEGER AS frame, "
            f"pitches::INTEGER[] AS pitches, probs::DOUBLE[] AS probs "
            f"FROM read_json('{src}', format = 'array')")
for c in ("snappy", "zstd", "gzip", "lz4", "brotli", "uncompressed"):
    con.execute(f"COPY p TO '{out / f'duckdb-{c}.parquet'}' "
                f"(FORMAT parquet, COMPRESSION {c}, KV_METADATA {{'entangle.fps': '100'}})")
"#;

fn analyze(labels: &Path, table: &Path, out: &Path) -> anyhow::Result<()> {
    let mut options = options(labels, None, out, 2);
    options.evaluation.assumed_fps = Some(100.0);
    entangle::dataflow::analyze(&options, vec![table.to_path_buf()]).map(|_| ())
}

#[test]
fn tables_from_pyarrow_polars_and_duckdb_analyse_like_our_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(12);
    let rolls = random_rolls(&mut rng, "p", 3, 80);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    let mut rows = prediction_rows(&mut rng, "m", &rolls);
    for (i, row) in rows.iter_mut().enumerate() {
        if i % 3 != 0 {
            let mut probs: Vec<f32> = (0..88).map(|k| ((k * 7 + i) % 50) as f32 / 100.0).collect();
            for p in row.pitches.iter() {
                probs[usize::from(p - 21)] = 0.75;
            }
            row.probs = Some(probs);
        }
    }
    let ours = dir.path().join("ours.parquet");
    write_rows(&ours, &rows);
    analyze(&labels, &ours, &dir.path().join("ours")).unwrap();
    let expected = table_bytes(&dir.path().join("ours"));

    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r: &PredictionRow| {
            serde_json::json!({
                "model": r.model, "shard": r.shard, "frame": r.frame,
                "pitches": r.pitches.to_vec(), "probs": r.probs,
            })
        })
        .collect();
    let src = dir.path().join("rows.json");
    std::fs::write(&src, serde_json::to_vec(&json).unwrap()).unwrap();
    let written = dir.path().join("written");
    std::fs::create_dir_all(&written).unwrap();
    python(WRITERS, &[&src, &written]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&written)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6 + 3 + 6 + 6, "{files:?}");
    for file in files {
        let name = file.file_stem().unwrap().to_str().unwrap().to_string();
        let out = dir.path().join(format!("out-{name}"));
        analyze(&labels, &file, &out).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(table_bytes(&out), expected, "{name}");
    }
}

#[test]
fn mistyped_columns_say_what_was_expected_and_what_came() {
    let dir = tempfile::tempdir().unwrap();
    let rolls = random_rolls(&mut Rng(2), "p", 1, 10);
    let labels = dir.path().join("labels.parquet");
    write_labels(&labels, &rolls);
    let cases = [
        (
            "float-frames",
            "pa.table({'model': ['m'], 'shard': ['p000'], 'frame': [0.0], 'pitches': [[60]]})",
            "column \"frame\": expected an integer frame index (int32, int64, uint32, ...), got Float64",
        ),
        (
            "negative-frame",
            "pa.table({'model': ['m'], 'shard': ['p000'], 'frame': [-1], 'pitches': [[60]]})",
            "row 1: frame -1 is not a frame index",
        ),
        (
            "string-pitches",
            "pa.table({'model': ['m'], 'shard': ['p000'], 'frame': [0], 'pitches': [['C4']]})",
            "column \"pitches\": expected a list of integer MIDI pitches (list<uint8>, list<int64>, ...), got List(",
        ),
        (
            "short-probs",
            "pa.table({'model': ['m'], 'shard': ['p000'], 'frame': [0], 'pitches': [[60]], 'probs': [[0.5] * 87]})",
            "row 1: probs: expected 88 values (one per piano key), got 87",
        ),
        (
            "int-model",
            "pa.table({'model': [1], 'shard': ['p000'], 'frame': [0], 'pitches': [[60]]})",
            "column \"model\": expected a string (utf8), got Int64",
        ),
    ];
    for (name, table, expected) in cases {
        let path = dir.path().join(format!("{name}.parquet"));
        python(
            &format!(
                "import sys, pyarrow as pa, pyarrow.parquet as pq\npq.write_table({table}, sys.argv[1])"
            ),
            &[&path],
        );
        let err = format!(
            "{:#}",
            analyze(&labels, &path, &dir.path().join("out")).unwrap_err()
        );
        assert!(
            err.contains(&format!("{}: {expected}", path.display())),
            "{name}: {err}"
        );
    }
}

/// Every ```sql block of `doc`, split into statements.
fn documented_statements(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut statements = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```sql") {
        let body = rest[start..].split_once('\n').unwrap().1;
        let end = body.find("```").unwrap();
        let mut current = String::new();
        // A `CREATE` (a macro, a view) returns no rows: it runs as a prelude of the queries
        // after it in the same block, which use what it defines.
        let mut prelude = String::new();
        let mut finish = |current: String, statements: &mut Vec<String>| {
            let first = current
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("--"));
            match first {
                None => {}
                Some(l) if l.to_ascii_uppercase().starts_with("CREATE") => {
                    prelude.push_str(&current)
                }
                Some(_) => statements.push(format!("{prelude}{current}")),
            }
        };
        for line in body[..end].lines() {
            current.push_str(line);
            current.push('\n');
            if line.trim_end().ends_with(';') {
                finish(std::mem::take(&mut current), &mut statements);
            }
        }
        finish(current, &mut statements);
        rest = &body[end + 3..];
    }
    statements
}

#[test]
fn every_documented_query_runs_on_real_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = Rng(31);
    let rolls = random_rolls(&mut rng, "p", 4, 120);
    write_labels(&d.join("labels.parquet"), &rolls);
    // Training labels without the larger chords, so some test combinations are unshared.
    let train: Vec<_> = random_rolls(&mut rng, "t", 1, 120)
        .into_iter()
        .map(|(name, mut roll)| {
            roll.frames.retain(|s| s.len() <= 2);
            (name, roll)
        })
        .collect();
    write_labels(&d.join("train.parquet"), &train);
    let mut rows = prediction_rows(&mut rng, "net", &rolls);
    for row in &mut rows {
        let mut probs = vec![0.1f32; 88];
        for p in row.pitches.iter() {
            probs[usize::from(p - 21)] = 0.9;
        }
        row.probs = Some(probs);
    }
    std::fs::create_dir_all(d.join("in")).unwrap();
    write_rows(&d.join("predictions.parquet"), &rows);
    std::fs::copy(d.join("predictions.parquet"), d.join("in/net.parquet")).unwrap();
    let out = d.join("out");
    entangle::dataflow::analyze(
        &options(
            &d.join("labels.parquet"),
            Some(&d.join("train.parquet")),
            &out,
            1,
        ),
        vec![d.join("in")],
    )
    .unwrap();
    let manifest: Vec<ManifestRow> = ["train", "validation", "test"]
        .iter()
        .enumerate()
        .map(|(i, split)| ManifestRow {
            shard: format!("x{i}"),
            path: format!("audio/x{i}.wav"),
            labels_path: format!("labels/x{i}.txt"),
            split: split.to_string(),
            soundfont: "FluidR3_GM".into(),
            bank: 0,
            program: 0,
            velocity: 80,
            reverb: false,
            duration: 1.75,
            sha256: "0".repeat(64),
        })
        .collect();
    for name in ["synth-mus", "fluid-combi"] {
        write_manifest(&d.join(format!("{name}.manifest.parquet")), &manifest).unwrap();
    }
    // A coverage sweep's table (schemas/sweep.md), as `entangle run` writes it.
    let sweep_row = |seed: u64, seen: bool| entangle::pipeline::sweep::SweepRow {
        coverage: 25.0,
        network: "convnet".into(),
        model: format!("convnet-s{seed}"),
        seed,
        seen,
        intervals: 76,
        frames: 7600,
        exact: 3900 + seed,
        exact_ratio: (3900 + seed) as f64 / 7600.0,
    };
    entangle::pipeline::sweep::write_sweep(
        &out.join("sweep.parquet"),
        &[sweep_row(0, false), sweep_row(1, false), sweep_row(0, true)],
    )
    .unwrap();
    let file = |name: &str| -> PathBuf {
        match name {
            "labels.parquet" | "predictions.parquet" => d.join(name),
            n if n.ends_with(".manifest.parquet") => d.join(n),
            n => out.join(n),
        }
    };

    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    let mut ran = 0;
    for doc in docs {
        for statement in documented_statements(&doc) {
            // Point every quoted file name at the real file.
            let mut sql = statement.clone();
            for name in [
                "combinations.parquet",
                "additions.parquet",
                "omissions.parquet",
                "frame_metrics.parquet",
                "split_metrics.parquet",
                "positions.parquet",
                "changes.jsonl",
                "labels.parquet",
                "predictions.parquet",
                "synth-mus.manifest.parquet",
                "fluid-combi.manifest.parquet",
                "sweep.parquet",
            ] {
                sql = sql.replace(&format!("'{name}'"), &format!("'{}'", file(name).display()));
            }
            let rows = common::duckdb_with(&sql, "|").unwrap_or_else(|e| {
                panic!("{}: {statement}\n{e}", doc.display());
            });
            assert!(
                !rows.trim().is_empty(),
                "{}: no rows from\n{statement}",
                doc.display()
            );
            ran += 1;
        }
    }
    assert!(ran >= 15, "only {ran} documented statements found");
}
