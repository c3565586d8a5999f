//! Our output files read back by the tools users load them with: numpy for `.npy`, DuckDB
//! for Parquet (both from the project venv; `make test` sets `ENTANGLE_PYTHON`).

mod common;
use common::python;

use std::path::PathBuf;
use std::process::Command;

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn entangle(args: &[&str]) {
    common::succeeded(common::entangle(args));
}

#[test]
fn labels_parquet_reads_back_in_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("piece_a.txt");
    let b = dir.path().join("piece_b.txt");
    // piece_a at 100 fps: 60 in frames 0..50, 64 in frames 25..50 -> 50 frames, 75 pitch-frames.
    std::fs::write(
        &a,
        "OnsetTime\tOffsetTime\tMidiPitch\n0.0\t0.5\t60\n0.25\t0.5\t64\n",
    )
    .unwrap();
    // piece_b: one note 21 in frames 10..20 -> 20 frames (0..9 empty).
    std::fs::write(&b, "0.1\t0.2\t21\n").unwrap();
    let out = dir.path().join("labels.parquet");
    entangle(&[
        "labels",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let result = run_python(
        r#"
import sys, duckdb
rows = duckdb.sql(f"""
    SELECT shard, count(*) AS frames, sum(len(pitches)) AS notes,
           count(*) FILTER (WHERE list_contains(pitches, 64)) AS with_e4,
           min(frame), max(frame)
    FROM read_parquet('{sys.argv[1]}') GROUP BY shard ORDER BY shard""").fetchall()
for r in rows: print(*r)
meta = duckdb.sql(f"SELECT value FROM parquet_kv_metadata('{sys.argv[1]}') WHERE key = 'entangle.fps'").fetchall()
print(meta[0][0].decode())
"#,
        &[out.to_str().unwrap()],
    );
    assert_eq!(result, "piece_a 50 75 25 0 49\npiece_b 20 10 0 0 19\n100\n");
}

#[test]
fn spectrogram_npy_reads_back_in_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let wav = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/inputs/piano_chord.wav");
    let out = dir.path().join("chord.npy");
    entangle(&[
        "spectrogram",
        wav.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--fps",
        "25",
    ]);
    let result = run_python(
        r#"
import sys, numpy as np
x = np.load(sys.argv[1])
golden = np.load(sys.argv[2])
print(x.dtype, x.shape, bool(np.abs(x - golden).max() <= 1e-4))
"#,
        &[
            out.to_str().unwrap(),
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden/spectrogram/piano_chord_25fps.npy")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(result, "float32 (44, 229) True\n");
}
