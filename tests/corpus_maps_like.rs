//! The MAPS-like corpus, rendered for real through all ten renderers on small MIDI pieces.

use std::collections::{BTreeMap, BTreeSet};

use entangle::corpus::maps_like::{MapsLikeParams, RENDERERS, build_maps_like};

mod common;

/// A two-chord piece (0.5 s each at 120 bpm) whose root is `root`.
fn piece(root: u8) -> Vec<u8> {
    let chords = [
        (0.0, [root, root + 4, root + 7]),
        (0.5, [root + 2, root + 5, root + 9]),
    ];
    let notes: Vec<(f64, f64, u8)> = chords
        .iter()
        .flat_map(|&(onset, keys)| keys.map(|k| (onset, onset + 0.5, k)))
        .collect();
    common::midi(&notes)
}

#[test]
fn renderers_and_pieces_fall_into_disjoint_splits() {
    let midi = tempfile::tempdir().unwrap();
    for i in 0..12u8 {
        std::fs::write(midi.path().join(format!("piece{i:02}.mid")), piece(48 + i)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let params = MapsLikeParams {
        tail_seconds: 0.25,
        ..Default::default()
    };
    let rows = build_maps_like(midi.path(), out.path(), &params, false).unwrap();
    // Pieces 0, 5, 10 -> test (3 renderers), 3 -> validation (1), 8 others -> train (6).
    assert_eq!(rows.len(), 3 * 3 + 1 + 8 * 6);
    let mut pieces: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut renderers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &rows {
        let (piece, renderer) = r.shard.split_once('_').unwrap();
        pieces
            .entry(r.split.as_str())
            .or_default()
            .insert(piece.to_string());
        renderers
            .entry(r.split.as_str())
            .or_default()
            .insert(renderer.to_string());
        // Every renderer really makes sound (bank 127 and reverb presets included).
        let samples = entangle::audio::read_mono(&out.path().join(&r.path)).unwrap();
        let peak = samples.iter().fold(0.0f32, |p, x| p.max(x.abs()));
        assert!(peak > 1e-3, "{} is silent (peak {peak})", r.shard);
    }
    assert!(pieces["train"].is_disjoint(&pieces["test"]));
    assert!(pieces["train"].is_disjoint(&pieces["validation"]));
    assert!(pieces["validation"].is_disjoint(&pieces["test"]));
    for (split, names) in &renderers {
        let expected: BTreeSet<String> = RENDERERS
            .iter()
            .filter(|r| r.split == *split)
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, &expected, "{split}");
    }
    assert!(out.path().join("synth-mus.manifest.parquet").exists());
}

#[test]
fn a_directory_without_midi_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = build_maps_like(empty.path(), out.path(), &MapsLikeParams::default(), false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.ends_with(": no .mid files found"), "{err}");
}
