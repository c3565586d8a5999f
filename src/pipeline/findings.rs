//! What the tables of one analysis say about each model, read once: the rows each figure
//! shows and the counts the report states. Pure (no drawing, no prose), so the figures and
//! the report cannot disagree about a threshold.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::tables_read::{Combination, PitchError};

/// A combination is "mostly exact" when it is transcribed exactly in at least this share of
/// its frames (the figures' reading of the paper's "transcribed correctly").
pub const MOSTLY_EXACT: f64 = 0.5;

/// An isolated note "gets companions" when notes are added to it in at least this share of
/// its frames (the paper's Figure 2 observation).
pub const COMPANIONS_ADDED: f64 = 0.1;

/// The omission proportions the paper's FLUID-ISOL claim is read at ("close to or exactly
/// 1.0" gives no number, so the report counts at three).
pub const OMISSION_THRESHOLDS: [f64; 3] = [0.5, 0.9, 0.99];

/// How many of the most frequent additions the report lists.
pub const TOP_ADDITIONS: usize = 5;

/// What the report says about each model, and which figures were drawn or not.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub figures: Vec<PathBuf>,
    /// Figures the tables had nothing for: (file stem, why).
    pub not_drawn: Vec<(String, String)>,
    pub per_network: BTreeMap<String, NetworkFindings>,
}

/// The counts the report states for one model.
#[derive(Debug, Clone, Default)]
pub struct NetworkFindings {
    pub notes: usize,
    /// Isolated notes exact in at least [`MOSTLY_EXACT`] of their frames.
    pub notes_mostly_exact: usize,
    /// Isolated notes with additions in at least [`COMPANIONS_ADDED`] of their frames.
    pub notes_with_companions: usize,
    pub intervals: usize,
    /// Intervals with a note omitted in at least each of [`OMISSION_THRESHOLDS`] of their frames.
    pub intervals_omitted_at: [usize; 3],
    /// Intervals exact in at least [`MOSTLY_EXACT`] of their frames.
    pub intervals_mostly_exact: usize,
    /// Frame-weighted exact proportion of shared and unshared combinations (frames).
    pub shared: (f64, u64),
    pub unshared: (f64, u64),
    /// Most frequent additions: (combination, added note, proportion).
    pub top_additions: Vec<(String, String, f64)>,
}

/// One model's rows of one split, ordered the way its figures show them.
pub struct ModelRows<'a> {
    /// Every sounding combination.
    pub all: Vec<&'a Combination>,
    /// Isolated notes, by pitch.
    pub notes: Vec<&'a Combination>,
    /// Intervals, best transcribed first.
    pub intervals: Vec<&'a Combination>,
    /// Shared and unshared combinations, most frames first.
    pub shared: Vec<&'a Combination>,
    pub unshared: Vec<&'a Combination>,
    /// Every sounding combination, most frames first.
    pub by_frames: Vec<&'a Combination>,
    /// Additions to sounding combinations and to silence.
    pub additions: Vec<&'a PitchError>,
    /// Whether the analysis had no training labels (`shared` is NULL).
    pub shared_unknown: bool,
}

fn by_frames_desc(a: &&Combination, b: &&Combination) -> std::cmp::Ordering {
    b.frames
        .cmp(&a.frames)
        .then(a.combination.cmp(&b.combination))
}

impl<'a> ModelRows<'a> {
    /// `model`'s rows of `split` among `combinations` and `additions`.
    pub fn select(
        combinations: &'a [Combination],
        additions: &'a [PitchError],
        model: &str,
        split: &str,
    ) -> Self {
        let all: Vec<&Combination> = combinations
            .iter()
            .filter(|c| c.model == model && c.split == split && !c.combination.is_empty())
            .collect();
        let of_size = |n: usize| -> Vec<&'a Combination> {
            all.iter()
                .copied()
                .filter(|c| c.combination.len() == n)
                .collect()
        };
        let mut notes = of_size(1);
        notes.sort_by_key(|c| c.combination.clone());
        let mut intervals = of_size(2);
        intervals.sort_by(|a, b| {
            b.exact_ratio
                .total_cmp(&a.exact_ratio)
                .then(a.combination.cmp(&b.combination))
        });
        let with_shared = |shared: bool| -> Vec<&'a Combination> {
            let mut rows: Vec<_> = all
                .iter()
                .copied()
                .filter(|c| c.shared == Some(shared))
                .collect();
            rows.sort_by(by_frames_desc);
            rows
        };
        let mut by_frames = all.clone();
        by_frames.sort_by(by_frames_desc);
        Self {
            notes,
            intervals,
            shared: with_shared(true),
            unshared: with_shared(false),
            by_frames,
            additions: additions.iter().filter(|a| a.model == model).collect(),
            shared_unknown: all.iter().any(|c| c.shared.is_none()),
            all,
        }
    }

    /// The counts the report states.
    pub fn findings(&self) -> NetworkFindings {
        let share = |rows: &[&Combination], at: f64, ratio: fn(&Combination) -> f64| {
            rows.iter().filter(|c| ratio(c) >= at).count()
        };
        NetworkFindings {
            notes: self.notes.len(),
            notes_mostly_exact: share(&self.notes, MOSTLY_EXACT, |c| c.exact_ratio),
            notes_with_companions: share(&self.notes, COMPANIONS_ADDED, |c| c.added_ratio),
            intervals: self.intervals.len(),
            intervals_omitted_at: OMISSION_THRESHOLDS
                .map(|t| share(&self.intervals, t, |c| c.omitted_ratio)),
            intervals_mostly_exact: share(&self.intervals, MOSTLY_EXACT, |c| c.exact_ratio),
            shared: exact_proportion(&self.shared),
            unshared: exact_proportion(&self.unshared),
            top_additions: self.top_additions(),
        }
    }

    /// The most frequent additions to sounding combinations, by frames (a ratio of 1 over
    /// two frames says little). Additions to silence are false alarms, not entanglement:
    /// left to the tables.
    fn top_additions(&self) -> Vec<(String, String, f64)> {
        let mut ranked: Vec<_> = self
            .additions
            .iter()
            .filter(|a| !a.combination.is_empty())
            .collect();
        ranked.sort_by(|a, b| {
            b.frames
                .cmp(&a.frames)
                .then(a.combination.cmp(&b.combination))
                .then(a.pitch.cmp(&b.pitch))
        });
        ranked
            .iter()
            .take(TOP_ADDITIONS)
            .map(|a| (a.name.clone(), crate::pitchset::note_name(a.pitch), a.ratio))
            .collect()
    }
}

/// Frame-weighted exact proportion of `rows` (0 without frames), and their frames.
pub fn exact_proportion(rows: &[&Combination]) -> (f64, u64) {
    let frames: u64 = rows.iter().map(|c| c.frames).sum();
    let exact: u64 = rows.iter().map(|c| c.exact).sum();
    let proportion = if frames > 0 {
        exact as f64 / frames as f64
    } else {
        0.0
    };
    (proportion, frames)
}

/// Frame-weighted (exact, added, omitted) proportions of `rows`, for the networks figure.
pub fn error_proportions(rows: &[&Combination]) -> [f64; 3] {
    let frames = rows.iter().map(|c| c.frames).sum::<u64>().max(1) as f64;
    let sum = |g: fn(&Combination) -> u64| rows.iter().map(|c| g(c)).sum::<u64>() as f64 / frames;
    [sum(|c| c.exact), sum(|c| c.added), sum(|c| c.omitted)]
}

/// "50 / 90 / 99": the thresholds as whole percentages, for prose.
pub fn percentages(thresholds: &[f64]) -> String {
    thresholds
        .iter()
        .map(|t| format!("{}", (t * 100.0).round()))
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(combination: Vec<u8>, frames: u64, exact: u64, added: u64, omitted: u64) -> Combination {
        let r = |n: u64| n as f64 / frames as f64;
        Combination {
            model: "m".into(),
            split: "test".into(),
            name: format!("{combination:?}"),
            combination,
            frames,
            exact,
            added,
            omitted,
            exact_ratio: r(exact),
            added_ratio: r(added),
            omitted_ratio: r(omitted),
            shared: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn thresholds_are_inclusive_and_intervals_ranked_by_exact_proportion() {
        let rows = vec![
            row(vec![60], 10, 5, 1, 0),
            row(vec![61], 10, 4, 0, 0),
            row(vec![60, 64], 100, 1, 0, 99),
            row(vec![60, 67], 100, 50, 0, 50),
            row(vec![60, 72], 100, 0, 0, 90),
        ];
        let selected = ModelRows::select(&rows, &[], "m", "test");
        let f = selected.findings();
        assert_eq!(
            (f.notes, f.notes_mostly_exact, f.notes_with_companions),
            (2, 1, 1)
        );
        assert_eq!(f.intervals_omitted_at, [3, 2, 1]);
        assert_eq!(f.intervals_mostly_exact, 1);
        assert_eq!(selected.intervals[0].combination, vec![60, 67]);
        assert_eq!(f.shared, (60.0 / 320.0, 320));
        assert_eq!(f.unshared, (0.0, 0));
        assert_eq!(percentages(&OMISSION_THRESHOLDS), "50 / 90 / 99");
    }
}
