//! FLUID-COMBI and FLUID-ISOL (paper section 3.1): the 23 notes MIDI 49..71 (C4 +- 11
//! semitones) and their C(23, 2) = 253 two-note intervals with exactly synchronous onset and
//! offset, rendered with FluidR3_GM's grand piano.
//!
//! * FLUID-COMBI: train and validation = intervals, test = isolated notes.
//! * FLUID-ISOL: train and validation = isolated notes, test = intervals.
//!
//! The paper does not say how train and validation differ when they hold the same items, nor
//! the note length or velocity. Our choice (all parameters): train renders every item at
//! velocities 64 and 96, validation at 80, test at 80 — the same pitch combinations, but
//! acoustically different examples, so validation measures generalisation over loudness, not
//! memorisation. Notes last 1 s, start 0.25 s into the file, and 0.5 s of release follows.

use crate::pitchset::PitchSet;

/// Lowest and highest FLUID note.
pub const FLUID_LOW: u8 = 49;
pub const FLUID_HIGH: u8 = 71;
/// Number of FLUID notes, the output size of the FLUID networks.
pub const FLUID_NOTES: usize = (FLUID_HIGH - FLUID_LOW + 1) as usize;

/// Which of the paper's two datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FluidDataset {
    Combi,
    Isol,
}

impl FluidDataset {
    pub fn name(self) -> &'static str {
        match self {
            FluidDataset::Combi => "fluid-combi",
            FluidDataset::Isol => "fluid-isol",
        }
    }
}

/// What the FLUID items are rendered with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FluidParams {
    pub train_velocities: Vec<u8>,
    pub validation_velocities: Vec<u8>,
    pub test_velocities: Vec<u8>,
    /// Seconds of silence before the onset.
    pub lead_seconds: f64,
    /// Seconds from onset to offset.
    pub note_seconds: f64,
    /// Seconds rendered after the offset.
    pub tail_seconds: f64,
    pub reverb: bool,
    /// FLUID-ISOL only: train also on these intervals and test on the held-out and trained
    /// intervals (the coverage sweep, [`super::interval_subsets`]); none: the paper's sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsets: Option<super::interval_subsets::IntervalSubsets>,
}

impl Default for FluidParams {
    fn default() -> Self {
        Self {
            train_velocities: vec![64, 96],
            validation_velocities: vec![80],
            test_velocities: vec![80],
            lead_seconds: 0.25,
            note_seconds: 1.0,
            tail_seconds: 0.5,
            reverb: false,
            subsets: None,
        }
    }
}

/// The 23 isolated notes.
pub fn isolated_notes() -> Vec<PitchSet> {
    (FLUID_LOW..=FLUID_HIGH)
        .map(|p| PitchSet::from_iter([p]))
        .collect()
}

/// The 253 two-note intervals.
pub fn intervals() -> Vec<PitchSet> {
    (FLUID_LOW..=FLUID_HIGH)
        .flat_map(|a| (a + 1..=FLUID_HIGH).map(move |b| PitchSet::from_iter([a, b])))
        .collect()
}

/// One FLUID example: a pitch set at one velocity, in one split of one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FluidExample {
    pub pitches: PitchSet,
    pub velocity: u8,
}

impl FluidExample {
    /// File stem, e.g. `n49-n52_v64`.
    pub fn shard(&self) -> String {
        let notes: Vec<String> = self.pitches.iter().map(|p| format!("n{p}")).collect();
        format!("{}_v{}", notes.join("-"), self.velocity)
    }
}

/// `(split, examples)` of a dataset, in a fixed order.
pub fn splits(
    dataset: FluidDataset,
    params: &FluidParams,
) -> Vec<(&'static str, Vec<FluidExample>)> {
    let (train_items, test_items) = match (dataset, &params.subsets) {
        (FluidDataset::Combi, _) => (intervals(), isolated_notes()),
        (FluidDataset::Isol, None) => (isolated_notes(), intervals()),
        (FluidDataset::Isol, Some(subsets)) => {
            let trained = subsets.trained();
            let mut test = subsets.held_out();
            test.extend(&trained);
            test.sort();
            (isolated_notes().into_iter().chain(trained).collect(), test)
        }
    };
    let examples = |items: &[PitchSet], velocities: &[u8]| -> Vec<FluidExample> {
        items
            .iter()
            .flat_map(|&pitches| {
                velocities
                    .iter()
                    .map(move |&velocity| FluidExample { pitches, velocity })
            })
            .collect()
    };
    vec![
        ("train", examples(&train_items, &params.train_velocities)),
        (
            "validation",
            examples(&train_items, &params.validation_velocities),
        ),
        ("test", examples(&test_items, &params.test_velocities)),
    ]
}

/// The files `build_fluid` writes, relative to its output directory.
pub fn manifest_name(dataset: FluidDataset) -> String {
    format!("{}.manifest.parquet", dataset.name())
}

/// Renders every FLUID example once (into `out_dir/audio` and `out_dir/labels`) and writes
/// the FLUID-COMBI and FLUID-ISOL manifests, last. Returns the number of examples rendered.
pub fn build_fluid(
    out_dir: &std::path::Path,
    soundfont: &std::path::Path,
    params: &FluidParams,
    progress: bool,
) -> Result<usize, super::RenderError> {
    use super::build::{RenderJob, Renderer, render_jobs};
    use std::collections::BTreeMap;

    let datasets = [FluidDataset::Combi, FluidDataset::Isol];
    // A stale manifest must not vouch for files about to be replaced.
    for dataset in datasets {
        let _ = std::fs::remove_file(out_dir.join(manifest_name(dataset)));
    }
    let font = super::load_soundfont(soundfont)?;
    let renderer = Renderer {
        soundfont_name: soundfont
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        font,
        settings: super::RenderSettings {
            bank: 0,
            program: 0,
            reverb_and_chorus: params.reverb,
            tail_seconds: params.tail_seconds,
        },
    };
    let mut unique: Vec<FluidExample> = datasets
        .iter()
        .flat_map(|&d| splits(d, params))
        .flat_map(|(_, examples)| examples)
        .collect();
    unique.sort();
    unique.dedup();
    let jobs: Vec<RenderJob> = unique
        .iter()
        .map(|example| RenderJob {
            shard: example.shard(),
            notes: example
                .pitches
                .iter()
                .map(|pitch| crate::labels::Note {
                    onset: params.lead_seconds,
                    offset: params.lead_seconds + params.note_seconds,
                    pitch,
                    velocity: example.velocity,
                })
                .collect(),
            renderer: renderer.clone(),
            velocity: example.velocity,
        })
        .collect();
    let rendered: BTreeMap<String, super::build::Rendered> = render_jobs(out_dir, &jobs, progress)?
        .into_iter()
        .map(|r| (r.shard.clone(), r))
        .collect();
    for dataset in datasets {
        let rows: Vec<_> = splits(dataset, params)
            .into_iter()
            .flat_map(|(split, examples)| {
                examples
                    .into_iter()
                    .map(|e| rendered[&e.shard()].clone().into_row(split))
                    .collect::<Vec<_>>()
            })
            .collect();
        super::manifest::write_manifest(&out_dir.join(manifest_name(dataset)), &rows)?;
    }
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn counts_and_pitches_are_the_papers() {
        assert_eq!(isolated_notes().len(), 23);
        assert_eq!(intervals().len(), 253);
        let all: BTreeSet<u8> = intervals().iter().flat_map(|s| s.iter()).collect();
        assert_eq!(all, (49..=71).collect());
        assert!(intervals().iter().all(|s| s.len() == 2));
        let unique: BTreeSet<PitchSet> = intervals().into_iter().collect();
        assert_eq!(unique.len(), 253);
    }

    #[test]
    fn train_and_test_share_no_combination() {
        for dataset in [FluidDataset::Combi, FluidDataset::Isol] {
            let s = splits(dataset, &FluidParams::default());
            let items =
                |i: usize| -> BTreeSet<PitchSet> { s[i].1.iter().map(|e| e.pitches).collect() };
            assert_eq!(
                items(0),
                items(1),
                "{dataset:?}: train and validation hold the same items"
            );
            assert!(
                items(0).is_disjoint(&items(2)),
                "{dataset:?}: train and test are disjoint"
            );
            let polyphony = |i: usize| s[i].1.iter().map(|e| e.pitches.len()).max().unwrap();
            match dataset {
                FluidDataset::Combi => {
                    assert_eq!((polyphony(0), polyphony(2), s[2].1.len()), (2, 1, 23))
                }
                FluidDataset::Isol => {
                    assert_eq!((polyphony(0), polyphony(2), s[2].1.len()), (1, 2, 253))
                }
            }
        }
    }
}
