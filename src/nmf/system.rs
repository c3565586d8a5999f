//! The NMF transcriber run on a corpus manifest, as a system the analysis reads like any
//! other: it learns the dictionary on the `train` split, picks the activation threshold with
//! the best validation F (the mean over shards of each shard's micro F, as the pipeline
//! selects networks), and writes `predictions` tables of the validation and test splits,
//! the dictionary (`dictionary.npy`, bands x atoms) and `nmf.json` (options, threshold, the
//! validation F of every threshold tried, times).
//!
//! The spectrogram is madmom's filtered magnitude spectrogram without the final
//! `log10(1 + x)` and without peak normalisation of the audio: normalising every file by its
//! own peak would scale a mixture differently from its parts and so break the superposition
//! the model rests on. It is computed by the same code as the networks' input (the log is
//! undone in double precision: `10^y - 1`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ndarray::Array2;
use rayon::prelude::*;

use super::{Dictionary, LearnOptions, learn_dictionary};
use crate::analysis::FrameCounts;
use crate::corpus::manifest::read_manifest;
use crate::features::{SpectrogramComputer, SpectrogramParams};
use crate::labels::{PianoRoll, ReadOptions, read_notes};
use crate::pitchset::{PIANO_KEYS, PIANO_MIN, PitchSet};
use crate::sink::predictions_table::{PredictionRow, write_predictions};
use crate::sink::write_atomically;

/// What `run_nmf` does.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NmfOptions {
    pub learn: LearnOptions,
    /// Multiplicative updates per frame when solving for the activations.
    pub solve_iterations: usize,
    /// Frame rate of spectrograms and labels.
    pub fps: f64,
    /// Model name in the predictions tables.
    pub name: String,
    /// Thresholds tried on the validation split (geometric between the largest activation
    /// times 1e-6 and the largest).
    pub thresholds: usize,
}

impl Default for NmfOptions {
    fn default() -> Self {
        Self {
            learn: LearnOptions::default(),
            solve_iterations: 200,
            fps: 100.0,
            name: "nmf".into(),
            thresholds: 200,
        }
    }
}

/// One threshold tried on the validation split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdScore {
    pub threshold: f32,
    /// Mean over shards of the per-shard micro F.
    pub f1: f64,
}

/// What `run_nmf` did (written as `nmf.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NmfRecord {
    pub manifest: PathBuf,
    pub options: NmfOptions,
    pub divergence: String,
    /// The pitch of every atom.
    pub atom_pitches: Vec<u8>,
    pub train_frames: usize,
    pub threshold: f32,
    pub validation_f1: f64,
    pub validation: Vec<ThresholdScore>,
    pub seconds_learn: f64,
    pub seconds_validation: f64,
    pub seconds_test: f64,
}

/// One shard: its name, linear filtered spectrogram (bands x frames) and frame labels.
struct Shard {
    name: String,
    x: Array2<f32>,
    labels: Vec<PitchSet>,
}

/// The `split` rows of `manifest` as linear spectrograms and labels, in manifest order.
fn load_split(manifest: &Path, split: &str, fps: f64) -> anyhow::Result<Vec<Shard>> {
    let rows: Vec<_> = read_manifest(manifest)?
        .into_iter()
        .filter(|r| r.split == split)
        .collect();
    anyhow::ensure!(
        !rows.is_empty(),
        "{}: the {split} split is empty",
        manifest.display()
    );
    let computer = SpectrogramComputer::new(SpectrogramParams {
        fps,
        normalize_audio: false,
        ..Default::default()
    })?;
    rows.par_iter()
        .map(|row| {
            let spec = computer
                .compute_wav(Path::new(&row.path))
                .with_context(|| format!("{}: cannot compute its spectrogram", row.path))?;
            let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())
                .with_context(|| format!("{}: cannot read its notes", row.labels_path))?;
            let roll = PianoRoll::from_notes(&notes, fps, Some(spec.frames));
            let mut x = Array2::<f32>::zeros((spec.bands, spec.frames));
            for (t, mut column) in x.columns_mut().into_iter().enumerate() {
                for (v, &y) in column.iter_mut().zip(spec.row(t)) {
                    *v = (10f64.powf(f64::from(y)) - 1.0).max(0.0) as f32;
                }
            }
            Ok(Shard {
                name: row.shard.clone(),
                x,
                labels: roll.frames,
            })
        })
        .collect()
}

/// Per shard: pitch activations (distinct pitches x frames).
fn solve(dictionary: &Dictionary, shards: &[Shard], iterations: usize) -> Vec<Array2<f32>> {
    shards
        .par_iter()
        .map(|s| dictionary.pitch_activations(&dictionary.activations(s.x.view(), iterations)))
        .collect()
}

/// The pitch set of frame `t` at `threshold`.
fn frame_pitches(activations: &Array2<f32>, pitches: &[u8], t: usize, threshold: f32) -> PitchSet {
    pitches
        .iter()
        .zip(activations.column(t))
        .filter(|(_, a)| **a >= threshold)
        .map(|(p, _)| *p)
        .collect()
}

/// Mean over shards of the per-shard micro F at `threshold`.
fn mean_f1(shards: &[Shard], activations: &[Array2<f32>], pitches: &[u8], threshold: f32) -> f64 {
    let total: f64 = shards
        .iter()
        .zip(activations)
        .map(|(s, a)| {
            let mut counts = FrameCounts::default();
            for (t, &truth) in s.labels.iter().enumerate() {
                counts.add(&FrameCounts::of_frame(
                    truth,
                    frame_pitches(a, pitches, t, threshold),
                ));
            }
            counts.metrics().f1
        })
        .sum();
    total / shards.len().max(1) as f64
}

/// Scores `count` geometric thresholds on the validation activations; the best first
/// (ties: the lower threshold, so the choice does not depend on the order of the grid).
pub fn choose_threshold(scores: &[ThresholdScore]) -> Option<&ThresholdScore> {
    scores.iter().max_by(|a, b| {
        a.f1.total_cmp(&b.f1)
            .then_with(|| b.threshold.total_cmp(&a.threshold))
    })
}

fn threshold_grid(activations: &[Array2<f32>], count: usize) -> Vec<f32> {
    let top = activations
        .iter()
        .flat_map(|a| a.iter().copied())
        .fold(0.0f32, f32::max);
    if top <= 0.0 {
        return vec![f32::MIN_POSITIVE];
    }
    let (lo, hi) = ((f64::from(top) * 1e-6).ln(), f64::from(top).ln());
    (0..count.max(2))
        .map(|i| (lo + (hi - lo) * i as f64 / (count.max(2) - 1) as f64).exp() as f32)
        .collect()
}

/// `predictions` rows of every frame of `shards`.
fn rows(
    name: &str,
    shards: &[Shard],
    activations: &[Array2<f32>],
    pitches: &[u8],
    threshold: f32,
) -> Vec<PredictionRow> {
    let mut out = Vec::new();
    for (s, a) in shards.iter().zip(activations) {
        for t in 0..s.labels.len() {
            // The activation scaled by the threshold, clipped to [0, 1], as `probs`: 0.5 is
            // the threshold, so `--threshold` in the analysis moves it by factors of two.
            let mut probs = vec![0.0f32; PIANO_KEYS];
            for (p, v) in pitches.iter().zip(a.column(t)) {
                probs[usize::from(p - PIANO_MIN)] = (0.5 * v / threshold).min(1.0);
            }
            out.push(PredictionRow {
                model: name.to_string(),
                shard: s.name.clone(),
                frame: t as u32,
                pitches: frame_pitches(a, pitches, t, threshold),
                probs: Some(probs),
            });
        }
    }
    out
}

/// Learns on `train`, picks the threshold on `validation`, predicts `validation` and `test`
/// into `out/{name}-validation.parquet` and `out/{name}-test.parquet`.
pub fn run_nmf(manifest: &Path, out: &Path, options: &NmfOptions) -> anyhow::Result<NmfRecord> {
    anyhow::ensure!(
        options.learn.atoms_per_pitch >= 1 && options.thresholds >= 2,
        "need at least one atom per pitch and two thresholds"
    );
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let started = Instant::now();
    let (dictionary, train_frames) = learn_from_train_split(manifest, options)?;
    let pitches = dictionary.distinct_pitches();
    let seconds_learn = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (best, scores) = choose_on_validation(manifest, out, options, &dictionary)?;
    let seconds_validation = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let test = load_split(manifest, "test", options.fps)?;
    let activations = solve(&dictionary, &test, options.solve_iterations);
    // A test pitch the dictionary lacks can never be predicted; said, not hidden.
    let unknown: std::collections::BTreeSet<u8> = test
        .iter()
        .flat_map(|s| s.labels.iter().flat_map(|l| l.iter()))
        .filter(|p| pitches.binary_search(p).is_err())
        .collect();
    if !unknown.is_empty() {
        tracing::warn!(?unknown, "test pitches without an atom (never predicted)");
    }
    write_predictions(
        &out.join(format!("{}-test.parquet", options.name)),
        &rows(&options.name, &test, &activations, &pitches, best.threshold),
        options.fps,
    )?;
    let seconds_test = started.elapsed().as_secs_f64();

    let npy = out.join("dictionary.npy");
    write_atomically(&npy, |w| {
        ndarray_npy::WriteNpyExt::write_npy(&dictionary.atoms, w)
    })?;
    let record = NmfRecord {
        manifest: manifest.to_path_buf(),
        options: options.clone(),
        divergence: "generalised Kullback-Leibler".into(),
        atom_pitches: dictionary.pitches.clone(),
        train_frames,
        threshold: best.threshold,
        validation_f1: best.f1,
        validation: scores,
        seconds_learn,
        seconds_validation,
        seconds_test,
    };
    let json = serde_json::to_vec_pretty(&record)?;
    write_atomically(&out.join("nmf.json"), |w| {
        std::io::Write::write_all(w, &json)
    })?;
    Ok(record)
}

/// The dictionary learned from the isolated notes of the train split, and the number of
/// labelled frames it learned from.
fn learn_from_train_split(
    manifest: &Path,
    options: &NmfOptions,
) -> anyhow::Result<(Dictionary, usize)> {
    let train = load_split(manifest, "train", options.fps)?;
    let x_parts: Vec<_> = train.iter().map(|s| s.x.view()).collect();
    let x = ndarray::concatenate(ndarray::Axis(1), &x_parts)?;
    let labels: Vec<PitchSet> = train.iter().flat_map(|s| s.labels.clone()).collect();
    let train_frames = labels.iter().filter(|s| !s.is_empty()).count();
    anyhow::ensure!(
        train_frames > 0,
        "{}: the train split has no labelled frame to learn from",
        manifest.display()
    );
    drop(x_parts);
    drop(train);
    let dictionary = learn_dictionary(x.view(), &labels, options.learn);
    tracing::info!(
        atoms = dictionary.pitches.len(),
        pitches = dictionary.distinct_pitches().len(),
        train_frames,
        "learned the NMF dictionary"
    );
    Ok((dictionary, train_frames))
}

/// The threshold with the best mean F on the validation split (every score of the grid
/// too), and the validation predictions at it, written beside the test's.
fn choose_on_validation(
    manifest: &Path,
    out: &Path,
    options: &NmfOptions,
    dictionary: &Dictionary,
) -> anyhow::Result<(ThresholdScore, Vec<ThresholdScore>)> {
    let pitches = dictionary.distinct_pitches();
    let validation = load_split(manifest, "validation", options.fps)?;
    let activations = solve(dictionary, &validation, options.solve_iterations);
    let scores: Vec<ThresholdScore> = threshold_grid(&activations, options.thresholds)
        .into_par_iter()
        .map(|threshold| ThresholdScore {
            threshold,
            f1: mean_f1(&validation, &activations, &pitches, threshold),
        })
        .collect();
    let best = choose_threshold(&scores)
        .expect("two thresholds or more")
        .clone();
    tracing::info!(
        threshold = best.threshold,
        f1 = best.f1,
        "validation threshold"
    );
    write_predictions(
        &out.join(format!("{}-validation.parquet", options.name)),
        &rows(
            &options.name,
            &validation,
            &activations,
            &pitches,
            best.threshold,
        ),
        options.fps,
    )?;
    Ok((best, scores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_threshold_wins_and_ties_go_low() {
        let scores = [
            ThresholdScore {
                threshold: 0.1,
                f1: 0.5,
            },
            ThresholdScore {
                threshold: 0.3,
                f1: 0.9,
            },
            ThresholdScore {
                threshold: 0.2,
                f1: 0.9,
            },
        ];
        assert_eq!(choose_threshold(&scores).unwrap().threshold, 0.2);
    }

    #[test]
    fn the_grid_spans_six_decades_below_the_largest_activation() {
        let grid = threshold_grid(&[ndarray::array![[0.0f32, 2.0], [1.0, 0.5]]], 7);
        assert_eq!(grid.len(), 7);
        assert!((grid[6] - 2.0).abs() < 1e-5);
        assert!((grid[0] - 2e-6).abs() < 1e-10);
        assert!(grid.windows(2).all(|w| w[0] < w[1]));
    }
}
