//! A non-negative matrix factorisation (NMF) transcriber: the linear superposition model the
//! paper contrasts networks with (Kelz & Widmer 2017, section 5), as a "system" the analysis
//! treats like any other.
//!
//! A spectrogram frame `x` (filtered *linear* magnitudes: superposition holds there, not after
//! the log) is explained as `W h`, with a fixed dictionary `W` (bands x atoms, each atom
//! belonging to one pitch, every column summing to one) and non-negative activations `h`.
//! Both are fitted with the multiplicative updates of Lee & Seung (2001) for the generalised
//! Kullback-Leibler divergence `D(x | W h) = sum x log(x / Wh) - x + Wh` (the usual choice for
//! magnitude spectra). A pitch's activation is the sum over its atoms; it sounds where that
//! exceeds a threshold chosen on the validation split ([`system`]).
//!
//! The dictionary is learned *supervised* from the training split: `W` and `H` are fitted
//! jointly with `H` held at zero wherever the labels say a pitch is silent (multiplicative
//! updates keep zeros at zero). On isolated notes this is one atom (or a few) per note fitted
//! to that note's frames; on intervals it separates the notes the labels name.

pub mod system;

use ndarray::{Array2, ArrayView2, Axis};

use crate::pitchset::PitchSet;

/// Added to `W h` before dividing by it: a silent band must not divide by zero.
const EPSILON: f32 = 1e-12;

/// A fixed dictionary: `atoms` is bands x K with columns summing to one; atom `k` is a
/// spectrum of MIDI pitch `pitches[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    pub atoms: Array2<f32>,
    pub pitches: Vec<u8>,
}

impl Dictionary {
    /// A dictionary from given atoms (one column each), normalised to sum one.
    pub fn new(mut atoms: Array2<f32>, pitches: Vec<u8>) -> Self {
        assert_eq!(atoms.ncols(), pitches.len(), "one pitch per atom");
        normalise_columns(&mut atoms, None);
        Self { atoms, pitches }
    }

    /// The distinct pitches, ascending.
    pub fn distinct_pitches(&self) -> Vec<u8> {
        let mut p = self.pitches.clone();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// Activations `H` (K x frames) of the frames `x` (bands x frames), `iterations`
    /// multiplicative KL updates from a flat start (each frame's energy spread evenly).
    pub fn activations(&self, x: ArrayView2<f32>, iterations: usize) -> Array2<f32> {
        let k = self.atoms.ncols();
        let mut h = Array2::<f32>::zeros((k, x.ncols()));
        for (mut column, frame) in h.columns_mut().into_iter().zip(x.columns()) {
            column.fill(frame.sum() / k as f32);
        }
        let w = self.atoms.view();
        // Columns of W sum to one, so the update's denominator W^T 1 is one.
        for _ in 0..iterations {
            let ratio = kl_ratio(x, &w.dot(&h));
            h *= &w.t().dot(&ratio);
        }
        h
    }

    /// Per distinct pitch (the order of [`Self::distinct_pitches`]): the sum of its atoms'
    /// activations, pitches x frames.
    pub fn pitch_activations(&self, h: &Array2<f32>) -> Array2<f32> {
        let pitches = self.distinct_pitches();
        let mut out = Array2::<f32>::zeros((pitches.len(), h.ncols()));
        for (k, p) in self.pitches.iter().enumerate() {
            let row = pitches.binary_search(p).expect("pitch of an atom");
            let mut target = out.row_mut(row);
            target += &h.row(k);
        }
        out
    }
}

/// `x / (W h + eps)`, elementwise.
fn kl_ratio(x: ArrayView2<f32>, approximation: &Array2<f32>) -> Array2<f32> {
    let mut ratio = approximation.mapv(|v| v + EPSILON);
    ndarray::Zip::from(&mut ratio)
        .and(x)
        .for_each(|r, &x| *r = x / *r);
    ratio
}

/// Scales every column of `w` to sum one; the scale moves into the matching row of `h`, so
/// that `W h` is unchanged. An all-zero column stays zero.
fn normalise_columns(w: &mut Array2<f32>, mut h: Option<&mut Array2<f32>>) {
    let sums = w.sum_axis(Axis(0));
    for (k, &s) in sums.iter().enumerate() {
        if s > 0.0 {
            w.column_mut(k).mapv_inplace(|v| v / s);
            if let Some(h) = h.as_deref_mut() {
                h.row_mut(k).mapv_inplace(|v| v * s);
            }
        }
    }
}

/// How the dictionary is learned.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LearnOptions {
    /// Atoms per pitch (a decaying piano note changes colour: more atoms follow it).
    pub atoms_per_pitch: usize,
    /// Joint multiplicative updates of W and H.
    pub iterations: usize,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            atoms_per_pitch: 1,
            iterations: 100,
        }
    }
}

/// Learns a dictionary from labelled frames: `x` is bands x frames, `labels[t]` the pitches
/// sounding in frame `t`. Only frames with at least one pitch take part. Atoms start from the
/// mean spectrum of their pitch's frames (a few atoms of one pitch: from the means of
/// successive parts of those frames, so that they start apart); `H` starts at one where the
/// labels allow and zero elsewhere, which the updates keep.
pub fn learn_dictionary(
    x: ArrayView2<f32>,
    labels: &[PitchSet],
    options: LearnOptions,
) -> Dictionary {
    assert_eq!(x.ncols(), labels.len(), "one label set per frame");
    assert!(options.atoms_per_pitch >= 1, "at least one atom per pitch");
    let frames: Vec<usize> = (0..labels.len())
        .filter(|&t| !labels[t].is_empty())
        .collect();
    let mut pitches: Vec<u8> = labels.iter().flat_map(|s| s.iter()).collect();
    pitches.sort_unstable();
    pitches.dedup();
    let r = options.atoms_per_pitch;
    let atom_pitches: Vec<u8> = pitches
        .iter()
        .flat_map(|&p| std::iter::repeat_n(p, r))
        .collect();
    let bands = x.nrows();
    let k = atom_pitches.len();
    let data = x.select(Axis(1), &frames);
    let mut w = Array2::<f32>::zeros((bands, k));
    let mut h = Array2::<f32>::zeros((k, frames.len()));
    for (i, &p) in pitches.iter().enumerate() {
        let own: Vec<usize> = (0..frames.len())
            .filter(|&j| labels[frames[j]].contains(p))
            .collect();
        // Part `a` of the pitch's frames (in corpus order) starts atom `a`; with fewer
        // frames than atoms, the spare atoms start as copies of the first.
        for a in 0..r {
            let part = &own[a * own.len() / r..(a + 1) * own.len() / r];
            let source = if part.is_empty() {
                &own[..own.len().min(1)]
            } else {
                part
            };
            let mut atom = w.column_mut(i * r + a);
            for &j in source {
                atom += &data.column(j);
            }
        }
        for &j in &own {
            for a in 0..r {
                h[[i * r + a, j]] = 1.0;
            }
        }
    }
    // A positive floor: an atom with an exactly zero band can never gain energy there.
    w.mapv_inplace(|v| v + 1e-9);
    normalise_columns(&mut w, Some(&mut h));
    for _ in 0..options.iterations {
        let ratio = kl_ratio(data.view(), &w.dot(&h));
        h *= &w.t().dot(&ratio);
        let ratio = kl_ratio(data.view(), &w.dot(&h));
        let numerator = ratio.dot(&h.t());
        let denominator = h.sum_axis(Axis(1));
        for (col, (mut wk, &d)) in w.columns_mut().into_iter().zip(&denominator).enumerate() {
            if d > 0.0 {
                let num = numerator.column(col);
                ndarray::Zip::from(&mut wk)
                    .and(&num)
                    .for_each(|w, &n| *w *= n / d);
            }
        }
        normalise_columns(&mut w, Some(&mut h));
    }
    Dictionary {
        atoms: w,
        pitches: atom_pitches,
    }
}

/// The generalised KL divergence `D(x | W H)` (for tests and logs).
pub fn kl_divergence(x: ArrayView2<f32>, approximation: &Array2<f32>) -> f64 {
    let mut d = 0.0f64;
    ndarray::Zip::from(x).and(approximation).for_each(|&x, &v| {
        let (x, v) = (f64::from(x), f64::from(v) + f64::from(EPSILON));
        d += if x > 0.0 { x * (x / v).ln() - x + v } else { v };
    });
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Harmonic combs: atom `k` has partials at multiples of its fundamental band, decaying.
    fn combs(bands: usize, fundamentals: &[usize]) -> Array2<f32> {
        let mut w = Array2::<f32>::zeros((bands, fundamentals.len()));
        for (k, &f0) in fundamentals.iter().enumerate() {
            for (n, band) in (f0..bands).step_by(f0).enumerate() {
                w[[band, k]] = 1.0 / (n + 1) as f32;
                // A little spread into the neighbours, as a filterbank gives.
                if band + 1 < bands {
                    w[[band + 1, k]] += 0.2 / (n + 1) as f32;
                }
            }
        }
        w
    }

    #[test]
    fn recovers_a_mixture_of_two_atoms_exactly() {
        let dictionary = Dictionary::new(combs(120, &[7, 9, 11, 13, 17]), vec![60, 62, 64, 65, 67]);
        // 0.7 of the second atom plus 1.9 of the fourth, and a frame of silence.
        let mut x = Array2::<f32>::zeros((120, 2));
        let mixture = &dictionary.atoms.column(1) * 0.7 + &dictionary.atoms.column(3) * 1.9;
        x.column_mut(0).assign(&mixture);
        let h = dictionary.activations(x.view(), 2000);
        let expected = [0.0, 0.7, 0.0, 1.9, 0.0];
        for (k, e) in expected.iter().enumerate() {
            assert!(
                (h[[k, 0]] - e).abs() < 1e-3,
                "atom {k}: activation {} instead of {e} (all: {:?})",
                h[[k, 0]],
                h.column(0)
            );
            assert!(h[[k, 1]].abs() < 1e-9, "silence activates atom {k}");
        }
        assert!(kl_divergence(x.view(), &dictionary.atoms.dot(&h)) < 1e-4);
        let pitches = dictionary.pitch_activations(&h);
        let on: Vec<u8> = dictionary
            .distinct_pitches()
            .into_iter()
            .zip(pitches.column(0))
            .filter(|(_, a)| **a > 0.01)
            .map(|(p, _)| p)
            .collect();
        assert_eq!(on, vec![62, 65]);
    }

    #[test]
    fn learning_on_isolated_frames_finds_each_pitch_spectrum() {
        let truth = combs(80, &[5, 7, 11]);
        let truth = Dictionary::new(truth, vec![50, 52, 55]);
        // Frames of each atom alone, at several loudnesses, and silent frames.
        let mut columns = Vec::new();
        let mut labels = Vec::new();
        for (k, &p) in truth.pitches.iter().enumerate() {
            for gain in [0.5f32, 1.0, 3.0] {
                columns.push(truth.atoms.column(k).mapv(|v| v * gain));
                labels.push(PitchSet::from_iter([p]));
            }
        }
        columns.push(ndarray::Array1::zeros(80));
        labels.push(PitchSet::EMPTY);
        let views: Vec<_> = columns
            .iter()
            .map(|c| c.view().insert_axis(Axis(1)))
            .collect();
        let x = ndarray::concatenate(Axis(1), &views).unwrap();
        let learned = learn_dictionary(x.view(), &labels, LearnOptions::default());
        assert_eq!(learned.pitches, vec![50, 52, 55]);
        let difference = (&learned.atoms - &truth.atoms).mapv(f32::abs).sum();
        assert!(difference < 1e-4, "atoms differ by {difference}");
    }

    #[test]
    fn pitch_activations_sum_the_atoms_of_a_pitch() {
        let dictionary = Dictionary::new(Array2::ones((3, 3)), vec![60, 60, 61]);
        let h = array![[1.0f32, 0.0], [2.0, 1.0], [0.5, 4.0]];
        assert_eq!(
            dictionary.pitch_activations(&h),
            array![[3.0f32, 1.0], [0.5, 4.0]]
        );
    }
}
