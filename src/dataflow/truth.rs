//! The ground truth the analysis compares predictions with: every labelled shard's frames, its
//! split, and (for shards the graph runs a network on) its audio. Loaded once per process and
//! shared by its workers; every process loads the same, so any worker can evaluate any unit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::corpus::manifest::read_manifest;
use crate::features::SpectrogramParams;
use crate::labels::coded::CodedFrames;
use crate::labels::{PianoRoll, ReadOptions, read_notes};
use crate::pitchset::PitchSet;
use crate::sink::labels_table::{MissingFrames, read_labels_table_coded};
use crate::sink::time_base::even_grid;
use crate::systems::SystemSpec;

/// One labelled shard.
#[derive(Debug, Clone)]
pub struct ShardTruth {
    pub split: String,
    /// Its frames' pitch sets, coded (2 bytes a frame).
    pub frames: CodedFrames,
    /// Frames the labels really list (fewer than `frames` where missing ones were taken
    /// as silence).
    pub labelled: usize,
    /// The audio, when the truth came from a corpus manifest.
    pub audio: Option<PathBuf>,
}

/// All labelled shards, by name.
#[derive(Debug, Clone, Default)]
pub struct TruthIndex {
    pub fps: f64,
    pub shards: BTreeMap<String, Arc<ShardTruth>>,
    /// When the frames are (`crate::sink::time_base`): predictions on another time base are
    /// refused.
    pub time_base: Option<crate::sink::time_base::LabelsTimeBase>,
}

impl TruthIndex {
    /// Loads labels tables, each tagged with the split its shards belong to.
    pub fn from_labels_tables(
        tables: &[(String, PathBuf)],
        missing: MissingFrames,
    ) -> anyhow::Result<Self> {
        let mut index = Self::default();
        for (split, path) in tables {
            let (fps, shards) = read_labels_table_coded(path, missing)?;
            index.add_time_base(path)?;
            for (shard, frames, rows) in shards {
                index.add(path, split, shard, (fps, frames), None, rows)?;
            }
        }
        Ok(index)
    }

    /// Labels of the `splits` of a corpus manifest at `fps`, each shard exactly as long as its
    /// audio's spectrogram (the shard-length rule of schemas/labels.md). A split the manifest
    /// lacks is an error that lists the splits it has.
    pub fn from_manifest(manifest: &Path, splits: &[&str], fps: f64) -> anyhow::Result<Self> {
        let params = SpectrogramParams {
            fps,
            ..Default::default()
        };
        params.validate()?;
        Self::from_manifest_framed(manifest, splits, fps, &even_grid(fps), |audio, notes| {
            let frames = params.num_frames_of_wav(audio)?;
            Ok(PianoRoll::from_notes(notes, fps, Some(frames)))
        })
    }

    /// Labels of the `splits` of a corpus manifest at a third-party system's own frames
    /// ([`crate::systems::frames`]), each shard as long as the system's output for its audio:
    /// the truth its units (`UnitKind::System`) are compared with.
    pub fn from_manifest_at_system(
        manifest: &Path,
        splits: &[&str],
        system: &SystemSpec,
    ) -> anyhow::Result<Self> {
        let times = &system.frame_times;
        let (fps, base) = (times.nominal_fps(), times.describe());
        Self::from_manifest_framed(manifest, splits, fps, &base, |audio, notes| {
            let frames = system.frames_of_wav(audio)?;
            Ok(crate::systems::frames::roll_at(notes, times, frames))
        })
    }

    /// Labels of the `splits` of a corpus manifest, each shard's notes framed by `frame`
    /// (given its audio), on the time base `time_base` at nominal rate `fps`.
    fn from_manifest_framed(
        manifest: &Path,
        splits: &[&str],
        fps: f64,
        time_base: &str,
        frame: impl Fn(&Path, &[crate::labels::Note]) -> anyhow::Result<PianoRoll>,
    ) -> anyhow::Result<Self> {
        let mut index = Self::default();
        let rows = read_manifest(manifest)?;
        // A misspelt split would otherwise give empty tables and exit 0.
        let present: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.split.as_str()).collect();
        if let Some(missing) = splits.iter().find(|s| !present.contains(**s)) {
            anyhow::bail!(
                "{}: no split {missing:?}; the manifest has {}",
                manifest.display(),
                present.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        for row in rows {
            if !splits.contains(&row.split.as_str()) {
                continue;
            }
            let audio = PathBuf::from(&row.path);
            let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())
                .with_context(|| format!("{}: shard {}", manifest.display(), row.shard))?;
            let roll = frame(&audio, &notes)?;
            let labelled = roll.frames.len();
            let frames = (fps, CodedFrames::from_sets(&roll.frames));
            index.add(
                manifest,
                &row.split,
                row.shard,
                frames,
                Some(audio),
                labelled,
            )?;
        }
        index.time_base = Some(crate::sink::time_base::LabelsTimeBase {
            source: manifest.to_path_buf(),
            time_base: time_base.to_string(),
        });
        Ok(index)
    }

    /// The labels' time base: the one their tables record, or the even grid at their rate.
    pub fn time_base_name(&self) -> String {
        match &self.time_base {
            Some(t) => t.time_base.clone(),
            None => crate::sink::time_base::even_grid(self.fps),
        }
    }

    /// Records the time base of the labels table at `path`; tables on different time bases
    /// cannot be analysed together.
    fn add_time_base(&mut self, path: &Path) -> anyhow::Result<()> {
        use crate::sink::time_base::{LabelsTimeBase, of_file};
        let Some(time_base) = of_file(path).map_err(anyhow::Error::msg)? else {
            return Ok(());
        };
        if let Some(earlier) = &self.time_base {
            anyhow::ensure!(
                earlier.time_base == time_base,
                "{}: labels on the time base \"{time_base}\", but {} on \"{}\"",
                path.display(),
                earlier.source.display(),
                earlier.time_base
            );
            return Ok(());
        }
        self.time_base = Some(LabelsTimeBase {
            source: path.to_path_buf(),
            time_base,
        });
        Ok(())
    }

    fn add(
        &mut self,
        source: &Path,
        split: &str,
        shard: String,
        (fps, frames): (f64, CodedFrames),
        audio: Option<PathBuf>,
        labelled: usize,
    ) -> anyhow::Result<()> {
        if self.shards.is_empty() {
            self.fps = fps;
        }
        anyhow::ensure!(
            fps == self.fps,
            "{}: labels at {} fps, earlier ones at {} fps",
            source.display(),
            fps,
            self.fps
        );
        let truth = ShardTruth {
            split: split.to_string(),
            labelled,
            frames,
            audio,
        };
        if let Some(previous) = self.shards.insert(shard.clone(), Arc::new(truth)) {
            anyhow::bail!(
                "{}: shard {shard:?} is labelled twice (also in split {:?})",
                source.display(),
                previous.split
            );
        }
        Ok(())
    }

    pub fn get(&self, shard: &str) -> Option<&Arc<ShardTruth>> {
        self.shards.get(shard)
    }

    pub fn total_frames(&self) -> usize {
        self.shards.values().map(|s| s.frames.len()).sum()
    }

    /// Frames the labels really list.
    pub fn labelled_frames(&self) -> usize {
        self.shards.values().map(|s| s.labelled).sum()
    }

    /// Shards, frames and a digest of their content, splits and audio: what processes of a
    /// cluster compare.
    pub fn describe(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for (name, shard) in &self.shards {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(shard.split.as_bytes());
            hash.update([0]);
            if let Some(audio) = &shard.audio {
                hash.update(audio.to_string_lossy().as_bytes());
            }
            hash.update((shard.frames.len() as u64).to_le_bytes());
            for frame in shard.frames.iter() {
                hash.update(frame.0.to_le_bytes());
            }
        }
        format!(
            "{} shards, {} frames at {} fps (sha256 {})",
            self.shards.len(),
            self.total_frames(),
            self.fps,
            &hex::encode(hash.finalize())[..16]
        )
    }
}

/// How many training frames each combination has: what decides whether a test combination
/// is *shared* with the training set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainCombinations(pub HashMap<PitchSet, u64>);

impl TrainCombinations {
    pub fn from_index(index: &TruthIndex) -> Self {
        let mut counts = HashMap::new();
        for shard in index.shards.values() {
            for set in shard.frames.iter() {
                *counts.entry(set).or_insert(0) += 1;
            }
        }
        Self(counts)
    }

    pub fn frames(&self, combination: PitchSet) -> u64 {
        self.0.get(&combination).copied().unwrap_or(0)
    }
}
