//! Framewise counts and metrics. Counts are sums over frames, so they aggregate by addition
//! (and retract by subtraction) — what the incremental dataflow needs; the metrics are
//! computed from the counts at the end.
//!
//! * micro precision / recall / F over all frames of a shard: `tp / (tp + fp)`,
//!   `tp / (tp + fn)`, their harmonic mean; 0 where a denominator is 0.
//! * mir_eval.multipitch (0.8): accuracy `tp / (n_est + n_ref - tp)`, and the error scores
//!   `E_sub = sum(min(n_ref, n_est) - tp) / sum(n_ref)`, `E_miss = sum(max(0, n_ref - n_est))
//!   / sum(n_ref)`, `E_fa = sum(max(0, n_est - n_ref)) / sum(n_ref)`,
//!   `E_tot = sum(max(n_ref, n_est) - tp) / sum(n_ref)`; all four 0 when `sum(n_ref) = 0`,
//!   as mir_eval returns. Pitches are MIDI numbers, so mir_eval's half-semitone matching is
//!   set intersection.

use crate::pitchset::PitchSet;

/// Additive framewise counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct FrameCounts {
    pub frames: u64,
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    /// `sum(min(n_ref, n_est) - tp)`
    pub substitutions: u64,
    /// `sum(max(0, n_ref - n_est))`
    pub misses: u64,
    /// `sum(max(0, n_est - n_ref))`
    pub false_alarms: u64,
}

impl FrameCounts {
    /// The counts of one frame.
    pub fn of_frame(truth: PitchSet, predicted: PitchSet) -> Self {
        let tp = u64::from(PitchSet(truth.0 & predicted.0).len());
        let (n_ref, n_est) = (u64::from(truth.len()), u64::from(predicted.len()));
        Self {
            frames: 1,
            tp,
            fp: n_est - tp,
            fn_: n_ref - tp,
            substitutions: n_ref.min(n_est) - tp,
            misses: n_ref.saturating_sub(n_est),
            false_alarms: n_est.saturating_sub(n_ref),
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.frames += other.frames;
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.substitutions += other.substitutions;
        self.misses += other.misses;
        self.false_alarms += other.false_alarms;
    }

    /// Metrics from the counts.
    pub fn metrics(&self) -> FrameMetrics {
        let ratio = |num: u64, den: u64| {
            if den > 0 {
                num as f64 / den as f64
            } else {
                0.0
            }
        };
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        let n_ref = self.tp + self.fn_;
        FrameMetrics {
            counts: *self,
            precision,
            recall,
            f1,
            accuracy: ratio(self.tp, self.tp + self.fp + self.fn_),
            e_sub: ratio(self.substitutions, n_ref),
            e_miss: ratio(self.misses, n_ref),
            e_fa: ratio(self.false_alarms, n_ref),
            e_tot: ratio(self.substitutions + self.misses + self.false_alarms, n_ref),
        }
    }
}

impl FromIterator<(PitchSet, PitchSet)> for FrameCounts {
    fn from_iter<I: IntoIterator<Item = (PitchSet, PitchSet)>>(frames: I) -> Self {
        let mut counts = FrameCounts::default();
        for (t, p) in frames {
            counts.add(&FrameCounts::of_frame(t, p));
        }
        counts
    }
}

/// The metrics of one shard (or of any set of frames).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMetrics {
    pub counts: FrameCounts,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub accuracy: f64,
    pub e_sub: f64,
    pub e_miss: f64,
    pub e_fa: f64,
    pub e_tot: f64,
}
