//! The FLUID corpora, rendered for real through FluidR3_GM (Debian fluid-soundfont-gm).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, StringArray, UInt8Array};
use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::fluid::{FluidDataset, FluidParams, build_fluid, manifest_name};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

fn read_manifest(path: &Path) -> Vec<(String, String, String, u8, String)> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let shard = col("shard");
        let shard = shard.as_any().downcast_ref::<StringArray>().unwrap();
        let path = col("path");
        let path = path.as_any().downcast_ref::<StringArray>().unwrap();
        let split = col("split");
        let split = split.as_any().downcast_ref::<StringArray>().unwrap();
        let velocity = col("velocity");
        let velocity = velocity.as_any().downcast_ref::<UInt8Array>().unwrap();
        let sha = col("sha256");
        let sha = sha.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..batch.num_rows() {
            rows.push((
                shard.value(i).to_string(),
                path.value(i).to_string(),
                split.value(i).to_string(),
                velocity.value(i),
                sha.value(i).to_string(),
            ));
        }
        assert_eq!(shard.null_count(), 0);
    }
    rows
}

#[test]
fn fluid_sets_have_the_papers_splits_and_honest_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let params = FluidParams {
        train_velocities: vec![64],
        note_seconds: 0.3,
        tail_seconds: 0.2,
        ..Default::default()
    };
    let rendered =
        build_fluid(dir.path(), &resolve_soundfont("FluidR3_GM"), &params, false).unwrap();
    // 23 notes and 253 intervals, each at velocity 64 (train) and 80 (validation and test).
    assert_eq!(rendered, (23 + 253) * 2);
    for (dataset, expected) in [
        (
            FluidDataset::Combi,
            [("train", 253), ("validation", 253), ("test", 23)],
        ),
        (
            FluidDataset::Isol,
            [("train", 23), ("validation", 23), ("test", 253)],
        ),
    ] {
        let rows = read_manifest(&dir.path().join(manifest_name(dataset)));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &rows {
            *counts.entry(r.2.as_str()).or_default() += 1;
        }
        for (split, n) in expected {
            assert_eq!(counts[split], n, "{dataset:?} {split}");
        }
        // Every recorded hash is the hash of the file on disk.
        for r in rows.iter().step_by(37) {
            let bytes = std::fs::read(dir.path().join(&r.1)).unwrap();
            assert_eq!(hex::encode(Sha256::digest(&bytes)), r.4, "{}", r.0);
        }
    }
}

/// Renders a two-note interval and checks the audio is silent before the labelled onset and
/// sounds within 10 ms after it.
#[test]
fn audio_sounds_where_the_labels_say() {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let onsets = [0.25, 0.3337, 1.0];
    let jobs: Vec<RenderJob> = onsets
        .iter()
        .enumerate()
        .map(|(i, &onset)| RenderJob {
            shard: format!("onset{i}"),
            notes: [52u8, 64]
                .iter()
                .map(|&pitch| Note {
                    onset,
                    offset: onset + 0.5,
                    pitch,
                    velocity: 80,
                })
                .collect(),
            renderer: renderer.clone(),
            velocity: 80,
        })
        .collect();
    let rendered = render_jobs(dir.path(), &jobs, false).unwrap();
    for (r, onset) in rendered.iter().zip(onsets) {
        let samples = entangle::audio::read_mono(&dir.path().join(&r.path)).unwrap();
        let first = samples.iter().position(|x| x.abs() > 1e-3).unwrap();
        let t = first as f64 / 44_100.0;
        assert!(
            t >= onset - 1e-4 && t <= onset + 0.010,
            "{}: sound starts at {t} s, label {onset} s",
            r.shard
        );
        // Labels were written beside the audio, in MAPS format, and read back identically.
        let notes =
            entangle::labels::read_notes(&dir.path().join(&r.labels_path), Default::default())
                .unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0].onset, onset);
    }
}

#[test]
fn rendering_is_deterministic() {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings {
            reverb_and_chorus: true,
            ..Default::default()
        },
    };
    let job = |shard: &str| RenderJob {
        shard: shard.into(),
        notes: vec![Note {
            onset: 0.1,
            offset: 0.6,
            pitch: 60,
            velocity: 90,
        }],
        renderer: renderer.clone(),
        velocity: 90,
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = render_jobs(a.path(), &[job("x"), job("y")], false).unwrap();
    let rb = render_jobs(b.path(), &[job("x")], false).unwrap();
    assert_eq!(ra[0].sha256, ra[1].sha256);
    assert_eq!(ra[0].sha256, rb[0].sha256);
    assert_eq!(
        std::fs::read(a.path().join(&ra[0].path)).unwrap(),
        std::fs::read(b.path().join(&rb[0].path)).unwrap()
    );
}

#[test]
fn bad_soundfonts_and_presets_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("FluidR3_GM.sf2");
    let err = load_soundfont(&missing).err().unwrap().to_string();
    assert!(err.contains("apt-get install fluid-soundfont-gm"), "{err}");

    let sf3 = dir.path().join("piano.sf3");
    std::fs::write(&sf3, b"RIFF....sfbk").unwrap();
    let err = load_soundfont(&sf3).err().unwrap().to_string();
    assert!(
        err.contains("SF3 (Ogg-compressed) SoundFonts are not supported"),
        "{err}"
    );

    let junk = dir.path().join("junk.sf2");
    std::fs::write(&junk, b"not a soundfont at all").unwrap();
    let err = load_soundfont(&junk).err().unwrap().to_string();
    assert!(
        err.contains("junk.sf2: cannot load SoundFont: not a valid SoundFont 2 file"),
        "{err}"
    );

    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let settings = RenderSettings {
        bank: 3,
        program: 100,
        ..Default::default()
    };
    let err = entangle::corpus::render_notes(&font, "FluidR3_GM", &[], &settings)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "FluidR3_GM: no preset bank 3 program 100");
}

#[test]
fn an_unwritable_output_leaves_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file-not-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let err = build_fluid(
        &blocker,
        &resolve_soundfont("FluidR3_GM"),
        &FluidParams::default(),
        false,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("file-not-dir/audio: cannot write here"),
        "{err}"
    );
    assert!(!blocker.join(manifest_name(FluidDataset::Combi)).exists());
}
