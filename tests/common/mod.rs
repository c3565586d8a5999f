//! Shared by the integration tests that ask Python oracles (numpy, DuckDB, onnxruntime,
//! PyTorch) from the project venv.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The venv interpreter: `ENTANGLE_PYTHON` (set by `make test`), else `.venv/bin/python`.
/// Missing is a failure, not a skip: these tests must not pass vacuously.
#[allow(dead_code)]
pub fn python() -> PathBuf {
    let path = std::env::var_os("ENTANGLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run the tests with `make test`, which creates the venv",
        path.display()
    );
    path
}

/// Runs `sql` in DuckDB (the venv's): one line per row, values joined by `sep`.
#[allow(dead_code)]
pub fn duckdb_with(sql: &str, sep: &str) -> Result<String, String> {
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys, duckdb\nfor r in duckdb.sql(sys.argv[1]).fetchall(): print(*r, sep=sys.argv[2])",
            sql,
            sep,
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// [`duckdb_with`] with values separated by spaces.
#[allow(dead_code)]
pub fn duckdb(sql: &str) -> Result<String, String> {
    duckdb_with(sql, " ")
}

#[allow(dead_code)]
pub mod fixture;

/// The `entangle` binary this test run built, ready for arguments.
#[allow(dead_code)]
pub fn entangle_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entangle"))
}

/// Runs `entangle ARGS` to the end; a panic inside the binary fails the test whatever the
/// exit status (errors must be messages, never panics).
#[allow(dead_code)]
pub fn entangle(args: &[&str]) -> Output {
    let out = entangle_command()
        .args(args)
        .output()
        .expect("run entangle");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "entangle panicked: {stderr}");
    out
}

/// The output of a run that must have succeeded (else the test fails with its stderr).
#[allow(dead_code)]
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A type-0 MIDI file with the notes (onset s, offset s, pitch) at 120 bpm, 480 ticks a beat.
#[allow(dead_code)]
pub fn midi(notes: &[(f64, f64, u8)]) -> Vec<u8> {
    use midly::num::{u4, u7, u15, u28};
    use midly::{Format, Header, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
    let mut events: Vec<(u32, bool, u8)> = notes
        .iter()
        .flat_map(|&(on, off, p)| {
            [
                ((on * 960.0) as u32, true, p),
                ((off * 960.0) as u32, false, p),
            ]
        })
        .collect();
    events.sort();
    let mut track = Vec::new();
    let mut now = 0;
    for (tick, on, key) in events {
        let message = if on {
            MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(80),
            }
        } else {
            MidiMessage::NoteOff {
                key: u7::new(key),
                vel: u7::new(0),
            }
        };
        track.push(TrackEvent {
            delta: u28::new(tick - now),
            kind: TrackEventKind::Midi {
                channel: u4::new(0),
                message,
            },
        });
        now = tick;
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(midly::MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(480))),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

/// Renders each (split, pitches) example through FluidR3_GM into `dir` as shard
/// `{prefix}{i}`: its notes sound from 0.1 to 0.6 s at velocity 90. Writes the manifest
/// `dir/{prefix}.manifest.parquet` and returns its path.
#[allow(dead_code)]
pub fn render_examples(dir: &std::path::Path, prefix: &str, examples: &[(&str, &[u8])]) -> PathBuf {
    use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
    use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
    use entangle::labels::Note;
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font: load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap(),
        settings: RenderSettings::default(),
    };
    let jobs: Vec<RenderJob> = examples
        .iter()
        .enumerate()
        .map(|(i, (_, pitches))| RenderJob {
            shard: format!("{prefix}{i}"),
            notes: pitches
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
        .zip(examples)
        .map(|(r, (split, _))| r.into_row(split))
        .collect();
    let manifest = dir.join(format!("{prefix}.manifest.parquet"));
    entangle::corpus::manifest::write_manifest(&manifest, &rows).unwrap();
    manifest
}

/// `entangle corpus dir` over the recordings and note lists under `corpus`, with the splits
/// of `splits` (`STEM SPLIT` lines); writes `dir/manifest.parquet` and returns its path.
#[allow(dead_code)]
pub fn manifest_of_dir(dir: &std::path::Path, corpus: &std::path::Path, splits: &str) -> PathBuf {
    let split_file = dir.join("splits.txt");
    std::fs::write(&split_file, splits).unwrap();
    let manifest = dir.join("manifest.parquet");
    succeeded(entangle(&[
        "corpus",
        "dir",
        "--root",
        corpus.to_str().unwrap(),
        "--out",
        manifest.to_str().unwrap(),
        "--splits",
        split_file.to_str().unwrap(),
    ]));
    manifest
}
