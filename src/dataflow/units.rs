//! Source units and their evaluation. A *unit* is the smallest input that can change on its
//! own: a predictions table, one MIDI transcription, or one ONNX network or third-party system
//! on one audio shard. Evaluating a unit turns it into frame counts per (truth, prediction)
//! ([`SlotFrames`]), its `positions` counts, and the facts the sink needs (which
//! (model, shard) it covers, frames it skipped, or why it failed). The [`Evaluator`]
//! remembers each unit's last contribution, so replacing or removing a unit costs the size
//! of that unit, never of the corpus (of a predictions table laid out by (model, shard), the
//! size of the row groups that changed).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::{Counts, Name, TableKey, position_keys};
use super::truth::{ShardTruth, TruthIndex};
use crate::analysis::positions::{NoteRuns, PositionTally, PositionWindows, Windows};
use crate::features::{Spectrogram, SpectrogramComputer, SpectrogramParams};
use crate::infer::{InferenceOptions, OnnxModel};
use crate::labels::{PianoRoll, ReadOptions, read_notes};
use crate::pitchset::{PIANO_MIN, PitchSet, PitchSetHash};
use crate::predict::THRESHOLD;
use crate::sink::predictions_table::{FrameRate, PredictionsFile};
use crate::sink::row_groups::{RowGroupPrint, independent_row_groups};
use crate::systems::{PredictOptions, System, SystemSpec, load_system};

/// What a unit is, and so how it is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UnitKind {
    /// A Parquet table in the `predictions` schema (any number of models and shards).
    PredictionTable,
    /// A MIDI (or madmom `.notes`) transcription of the shard named by the file stem.
    Transcription { model: String },
    /// An ONNX network run on one shard's audio.
    Network { model: String, shard: String },
    /// A third-party system (its description `systems/NAME.toml`, [`crate::systems`]) run on
    /// one shard's audio with its own front end, at its own frames.
    System { model: String, shard: String },
}

/// A unit: a file, and for networks the shard it runs on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Unit {
    pub path: PathBuf,
    pub kind: UnitKind,
}

impl Unit {
    /// The unit's name in tables, logs and error messages.
    pub fn name(&self) -> String {
        match &self.kind {
            UnitKind::Network { shard, .. } | UnitKind::System { shard, .. } => {
                format!("{} @ {shard}", self.path.display())
            }
            _ => self.path.display().to_string(),
        }
    }
}

/// A change to a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnitEvent {
    pub unit: Unit,
    pub change: UnitChange,
}

/// What happens to a unit: its rows are retracted, or (re)loaded from its current contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UnitChange {
    Remove,
    Load,
}

/// The names of one (model, split, shard) a unit predicts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotNames {
    pub model: Name,
    pub split: Name,
    pub shard: Name,
}

/// One (model, shard)'s frames in a unit: the number of frames per (truth, prediction),
/// sorted. The names are held once, not per outcome: a unit has thousands of outcomes and
/// one or a few slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotFrames {
    pub names: Arc<SlotNames>,
    pub outcomes: Vec<((PitchSet, PitchSet), isize)>,
}

/// What a unit contributes to the analysis: its frame outcomes, and rows counted as they are
/// (its `positions` rows, and facts: coverage, skipped frames, problems, in slot 0).
#[derive(Debug, Default)]
pub struct Contribution {
    pub frames: Vec<SlotFrames>,
    pub rows: Vec<(TableKey, Counts)>,
}

impl Contribution {
    /// A fact counted once.
    fn fact(key: TableKey) -> Self {
        Self {
            frames: Vec::new(),
            rows: vec![(key, Counts::one(1))],
        }
    }
}

/// How units are evaluated.
#[derive(Debug, Clone, Default)]
pub struct EvaluationOptions {
    pub inference: InferenceOptions,
    /// MIDI pitch of a network's first output, for networks whose file does not record it
    /// (`--lowest-pitch`); one that records another pitch is an error.
    pub lowest_pitch: Option<u8>,
    /// Turn skips (shards or frames absent from the labels) into errors.
    pub strict: bool,
    /// Frame rate of predictions tables without `entangle.fps` metadata (`--fps`); without
    /// it such tables are refused.
    pub assumed_fps: Option<f64>,
    /// Derive pitch sets from probabilities at each of these thresholds (one model per
    /// threshold, named by [`threshold_model`]); empty: tables' `pitches` as written, networks
    /// at the paper's 0.5.
    pub thresholds: Vec<f32>,
    /// The model name of transcriptions and networks (`--name`); default: the
    /// transcriptions' directory name, the network file's stem.
    pub name: Option<String>,
    /// What frames a labels table has no row for mean.
    pub missing_frames: crate::sink::labels_table::MissingFrames,
    /// The windows of the `positions` table.
    pub positions: PositionWindows,
    /// The ONNX file of the system units (default: the systems cache
    /// `scripts/fetch-systems.sh` fills).
    pub system_onnx: Option<PathBuf>,
}

/// The model name of `model`'s predictions thresholded at `threshold`: the tables say which
/// threshold made them.
pub fn threshold_model(model: &str, threshold: f32) -> String {
    format!("{model}[t={threshold}]")
}

/// The pitches whose probability (output `k` is MIDI `lowest + k`) reaches `threshold`.
fn threshold_set(probs: &[f32], lowest: u8, threshold: f32) -> PitchSet {
    let mut set = PitchSet::EMPTY;
    for (k, &p) in probs.iter().enumerate() {
        if p >= threshold {
            set.insert(lowest + k as u8);
        }
    }
    set
}

/// A change to the analysis: contributions added (+1) or retracted (-1). Shared, not
/// copied: a watching evaluator keeps the contribution it adds, to retract it later.
pub type Change = Vec<(Arc<Contribution>, isize)>;

/// A part of a unit's contribution: the whole unit, or one row group of a predictions table
/// whose row groups are independent ([`crate::sink::row_groups`]), under the fingerprint of
/// its bytes.
#[derive(Debug)]
struct Part {
    print: Option<u128>,
    contribution: Arc<Contribution>,
}

/// Per-worker evaluation state.
pub struct Evaluator {
    truth: Arc<TruthIndex>,
    options: EvaluationOptions,
    /// Each unit's last good contribution, in parts (kept only when `retain`: a batch run
    /// never replaces a unit, and keeping them would grow with the predictions).
    current: HashMap<Unit, Vec<Part>>,
    retain: bool,
    /// Why units whose last evaluation failed are quarantined.
    failed: HashMap<Unit, String>,
    networks: HashMap<PathBuf, (std::time::SystemTime, OnnxModel)>,
    systems: HashMap<PathBuf, (std::time::SystemTime, System)>,
    spectrograms: HashMap<String, Arc<Spectrogram>>,
    computer: Option<SpectrogramComputer>,
}

impl Evaluator {
    pub fn new(truth: Arc<TruthIndex>, options: EvaluationOptions, retain: bool) -> Self {
        Self {
            truth,
            options,
            current: HashMap::new(),
            retain,
            failed: HashMap::new(),
            networks: HashMap::new(),
            systems: HashMap::new(),
            spectrograms: HashMap::new(),
            computer: None,
        }
    }

    /// Applies one event and returns the change to the unit's contribution. A unit that
    /// fails to evaluate is quarantined: it keeps its last good contribution (none if it never
    /// had one) and adds a `Problem` fact saying why, until its next event settles it.
    pub fn apply(&mut self, event: &UnitEvent) -> Change {
        let unit = &event.unit;
        let problem = |message: String| {
            Arc::new(Contribution::fact(TableKey::Problem {
                unit: unit.name().into(),
                message,
            }))
        };
        let mut change: Change = Vec::new();
        if let Some(message) = self.failed.remove(unit) {
            change.push((problem(message), -1));
        }
        let old = self.current.remove(unit).unwrap_or_default();
        if event.change == UnitChange::Remove {
            change.extend(old.into_iter().map(|part| (part.contribution, -1)));
            return change;
        }
        match self.evaluate_parts(unit, &old) {
            Ok(new) => {
                // A part kept as it was (the same shared contribution) changes nothing.
                let ids = |parts: &[Part]| -> HashSet<*const Contribution> {
                    parts.iter().map(|p| Arc::as_ptr(&p.contribution)).collect()
                };
                let (old_ids, new_ids) = (ids(&old), ids(&new));
                let gone = old
                    .iter()
                    .filter(|p| !new_ids.contains(&Arc::as_ptr(&p.contribution)));
                change.extend(gone.map(|part| (part.contribution.clone(), -1)));
                let added = new
                    .iter()
                    .filter(|p| !old_ids.contains(&Arc::as_ptr(&p.contribution)));
                change.extend(added.map(|part| (part.contribution.clone(), 1)));
                if self.retain {
                    self.current.insert(unit.clone(), new);
                }
            }
            Err(message) => {
                // Reported once by the sink (quarantined, or the batch run's error).
                tracing::debug!(unit = %unit.name(), "{message}");
                change.push((problem(message.clone()), 1));
                self.failed.insert(unit.clone(), message);
                // The last good contribution stays until the unit reads cleanly.
                if !old.is_empty() {
                    self.current.insert(unit.clone(), old);
                }
            }
        }
        change
    }

    /// The unit's contribution in parts: a watched predictions table with independent row
    /// groups by row group, re-evaluating only the groups whose bytes are not among `old`'s;
    /// anything else whole.
    fn evaluate_parts(&mut self, unit: &Unit, old: &[Part]) -> Result<Vec<Part>, String> {
        let whole = |contribution| {
            vec![Part {
                print: None,
                contribution: Arc::new(contribution),
            }]
        };
        if unit.kind != UnitKind::PredictionTable || !self.retain {
            return Ok(whole(self.evaluate(unit)?));
        }
        // One handle for the checks, the fingerprints and every group decoded.
        let table = self.open_table(&unit.path)?;
        let Some(groups) = independent_row_groups(table.file(), table.metadata()) else {
            return Ok(whole(self.tally_table(unit, &table, None)?));
        };
        let old: HashMap<u128, &Arc<Contribution>> = old
            .iter()
            .filter_map(|part| Some((part.print?, &part.contribution)))
            .collect();
        let (mut parts, mut evaluated) = (Vec::with_capacity(groups.len()), 0);
        for group in &groups {
            let contribution = match old.get(&group.print) {
                Some(&unchanged) => unchanged.clone(),
                None => {
                    evaluated += 1;
                    Arc::new(self.tally_table(unit, &table, Some(group))?)
                }
            };
            parts.push(Part {
                print: Some(group.print),
                contribution,
            });
        }
        tracing::debug!(
            unit = %unit.name(),
            "{evaluated} of {} row groups evaluated, the others unchanged",
            parts.len()
        );
        Ok(parts)
    }

    /// Opens a predictions table and checks it joins the labels (frame rate, time base).
    fn open_table(&self, path: &Path) -> Result<PredictionsFile, String> {
        let rate = FrameRate {
            expected: Some(self.truth.fps),
            assumed: self.options.assumed_fps,
        };
        let table = PredictionsFile::open(path, rate).map_err(|e| e.to_string())?;
        if let Some(labels) = &self.truth.time_base {
            crate::sink::time_base::check_join(labels, path, table.metadata())?;
        }
        Ok(table)
    }

    /// The contribution of a predictions table, or of one of its independent row groups.
    fn tally_table(
        &self,
        unit: &Unit,
        table: &PredictionsFile,
        group: Option<&RowGroupPrint>,
    ) -> Result<Contribution, String> {
        let mut tally = self.tally(unit);
        self.evaluate_table(table, group, &mut tally)?;
        Ok(tally.finish())
    }

    fn tally(&self, unit: &Unit) -> Tally {
        let windows = self.options.positions.at(self.truth.fps);
        Tally::new(unit.name(), self.options.strict, windows)
    }

    /// Evaluates the whole unit.
    fn evaluate(&mut self, unit: &Unit) -> Result<Contribution, String> {
        let mut tally = self.tally(unit);
        let name = |model: &String| self.options.name.clone().unwrap_or_else(|| model.clone());
        match &unit.kind {
            UnitKind::PredictionTable => {
                self.evaluate_table(&self.open_table(&unit.path)?, None, &mut tally)?
            }
            UnitKind::Transcription { model } => {
                let model = name(model);
                self.evaluate_transcription(&unit.path, &model, &mut tally)?
            }
            UnitKind::Network { model, shard } => {
                let model = name(model);
                self.evaluate_network(&unit.path, &model, shard, &mut tally)?
            }
            UnitKind::System { model, shard } => {
                let model = name(model);
                self.evaluate_system(&unit.path, &model, shard, &mut tally)?
            }
        }
        Ok(tally.finish())
    }

    /// Tallies the rows of `table`, or of one of its independent row groups (`group`: every
    /// row must be of the (model, shard) its statistics said, checked where the
    /// (model, shard) of the rows changes).
    fn evaluate_table(
        &self,
        table: &PredictionsFile,
        group: Option<&RowGroupPrint>,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let row_group = group.map(|g| g.index);
        let in_group = |model: &str, shard: &str| match group {
            Some(g) if (model, shard) != (g.model.as_str(), g.shard.as_str()) => Err(format!(
                "model {model:?} on shard {shard:?} in row group {}, whose column statistics say it holds only model {:?} on shard {:?}",
                g.index, g.model, g.shard
            )),
            _ => Ok(()),
        };
        let thresholds = &self.options.thresholds;
        if !thresholds.is_empty() {
            // One slot per (model, shard, threshold); rows of a (model, shard) come together.
            let mut last: Option<(String, String, Vec<usize>)> = None;
            return table
                .scan(row_group, |row| {
                    let probs = row.probs.ok_or_else(|| {
                        "no probs: --threshold needs the probabilities of every row".to_string()
                    })?;
                    if !matches!(&last, Some((m, s, _)) if m == row.model && s == row.shard) {
                        in_group(row.model, row.shard)?;
                        let slots = thresholds
                            .iter()
                            .map(|&t| {
                                tally.slot(&self.truth, &threshold_model(row.model, t), row.shard)
                            })
                            .collect();
                        last = Some((row.model.to_string(), row.shard.to_string(), slots));
                    }
                    let slots = &last.as_ref().expect("set above").2;
                    for (&slot, &t) in slots.iter().zip(thresholds) {
                        tally.frame(
                            slot,
                            row.frame as usize,
                            threshold_set(probs, PIANO_MIN, t),
                        )?;
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string());
        }
        // Rows of one (model, shard) usually come together: remember the last slot to avoid
        // allocating its key per row.
        let mut last: Option<(String, String, usize)> = None;
        let mut rows = 0usize;
        table
            .scan(row_group, |row| {
                rows += 1;
                let slot = match &last {
                    Some((m, s, slot)) if m == row.model && s == row.shard => *slot,
                    _ => {
                        in_group(row.model, row.shard)?;
                        let slot = tally.slot(&self.truth, row.model, row.shard);
                        last = Some((row.model.to_string(), row.shard.to_string(), slot));
                        slot
                    }
                };
                tally.frame(slot, row.frame as usize, row.pitches)
            })
            .map_err(|e| e.to_string())?;
        if rows == 0 && row_group.is_none() {
            // Legal (a system that predicted nothing anywhere still names no shard), but far
            // more often a writer that failed: say so rather than add nothing in silence.
            tracing::warn!(
                "{}: an empty predictions table (0 rows): it adds nothing to the tables",
                table.path().display()
            );
        }
        Ok(())
    }

    fn evaluate_transcription(
        &self,
        path: &Path,
        model: &str,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let shard = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !self.options.thresholds.is_empty() {
            return Err(format!(
                "{}: a transcription has no probabilities to apply --threshold to",
                path.display()
            ));
        }
        let notes = read_notes(path, ReadOptions::default()).map_err(|e| e.to_string())?;
        let slot = tally.slot(&self.truth, model, &shard);
        let Some(truth) = self.truth.get(&shard) else {
            return Ok(());
        };
        let roll = PianoRoll::from_notes(&notes, self.truth.fps, Some(truth.frames.len()));
        for (frame, set) in roll.frames.into_iter().enumerate() {
            tally.frame(slot, frame, set)?;
        }
        Ok(())
    }

    fn evaluate_network(
        &mut self,
        path: &Path,
        model: &str,
        shard: &str,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let audio = self.audio_of(shard)?;
        let spectrogram = self.spectrogram(shard, &audio)?;
        let (lowest_pitch, fps) = (self.options.lowest_pitch, self.truth.fps);
        let network = self.network(path)?;
        let outputs = network.predict(&spectrogram).map_err(|e| e.to_string())?;
        let units = outputs.first().map_or(0, Vec::len);
        // What output k means comes from the file (or --lowest-pitch for one that does not
        // say); the driver checked this before any work, so this fails only for a file
        // replaced since.
        let lowest = network
            .metadata()
            .output_pitch(path, lowest_pitch, Some(units), fps)
            .map_err(|e| e.to_string())?;
        self.tally_probabilities(tally, (model, shard), THRESHOLD, lowest, &outputs)
    }

    /// The audio of a labelled shard, which networks and systems run on.
    fn audio_of(&self, shard: &str) -> Result<PathBuf, String> {
        self.truth
            .get(shard)
            .and_then(|t| t.audio.clone())
            .ok_or_else(|| format!("shard {shard:?} has no audio in the corpus manifest"))
    }

    /// Counts `(model, shard)`'s frame probabilities (`probs[frame][k]`: pitch `lowest + k`)
    /// thresholded at `default`, or at each of `--threshold` as a model of its own.
    fn tally_probabilities(
        &self,
        tally: &mut Tally,
        (model, shard): (&str, &str),
        default: f32,
        lowest: u8,
        probs: &[Vec<f32>],
    ) -> Result<(), String> {
        let runs: Vec<(String, f32)> = if self.options.thresholds.is_empty() {
            vec![(model.to_string(), default)]
        } else {
            self.options
                .thresholds
                .iter()
                .map(|&t| (threshold_model(model, t), t))
                .collect()
        };
        for (name, threshold) in runs {
            let slot = tally.slot(&self.truth, &name, shard);
            for (frame, row) in probs.iter().enumerate() {
                tally.frame(slot, frame, threshold_set(row, lowest, threshold))?;
            }
        }
        Ok(())
    }

    /// A system's posteriorgram of the shard, thresholded at the system's own threshold (or at
    /// each of `--threshold`); its frames are the truth's (framed at the system's frames).
    fn evaluate_system(
        &mut self,
        path: &Path,
        model: &str,
        shard: &str,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let audio = self.audio_of(shard)?;
        let system = self.system(path)?;
        let threshold = system.spec().output.threshold;
        let gram = system
            .run_wav(&audio)
            .map_err(|e| format!("system {model:?} on shard {shard}: {e:#}"))?;
        let lowest = gram.lowest_pitch;
        self.tally_probabilities(tally, (model, shard), threshold, lowest, &gram.probs)
    }

    /// The system described at `path`, loaded again when the description changed since.
    fn system(&mut self, path: &Path) -> Result<&mut System, String> {
        let options = PredictOptions {
            onnx: self.options.system_onnx.clone(),
            device: self.options.inference.device,
            workers: 1,
        };
        loaded(&mut self.systems, path, || {
            let spec = SystemSpec::load(path).map_err(|e| e.to_string())?;
            load_system(&spec, &options).map_err(|e| format!("{e:#}"))
        })
    }

    fn spectrogram(&mut self, shard: &str, audio: &Path) -> Result<Arc<Spectrogram>, String> {
        if let Some(s) = self.spectrograms.get(shard) {
            return Ok(s.clone());
        }
        let fps = self.truth.fps;
        let computer = match &mut self.computer {
            Some(c) => c,
            slot => slot.insert(
                SpectrogramComputer::new(SpectrogramParams {
                    fps,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?,
            ),
        };
        let spectrogram = Arc::new(computer.compute_wav(audio).map_err(|e| e.to_string())?);
        self.spectrograms
            .insert(shard.to_string(), spectrogram.clone());
        Ok(spectrogram)
    }

    /// The network at `path`, loaded again when the file changed since.
    fn network(&mut self, path: &Path) -> Result<&mut OnnxModel, String> {
        let inference = self.options.inference;
        loaded(&mut self.networks, path, || {
            OnnxModel::load(path, inference).map_err(|e| e.to_string())
        })
    }
}

/// What `cache` holds for `path`, loaded again with `load` when the file changed since.
fn loaded<'a, T>(
    cache: &'a mut HashMap<PathBuf, (std::time::SystemTime, T)>,
    path: &Path,
    load: impl FnOnce() -> Result<T, String>,
) -> Result<&'a mut T, String> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if cache.get(path).is_none_or(|(when, _)| *when != modified) {
        cache.insert(path.to_path_buf(), (modified, load()?));
    }
    Ok(&mut cache.get_mut(path).expect("just inserted").1)
}

/// Accumulates one unit's frames per (model, shard), then fills in the frames it did not
/// predict (the empty set) and consolidates.
struct Tally {
    unit: Name,
    strict: bool,
    slots: Vec<Slot>,
    index: HashMap<(String, String), usize>,
    skipped: HashMap<String, isize>,
    windows: Windows,
    /// The labelled notes of the shards this unit predicts, for their positions (built once
    /// per unit and shard, dropped with the unit).
    runs: HashMap<String, Arc<NoteRuns>>,
}

struct Slot {
    model: Name,
    shard: Name,
    /// `None` when the shard is not labelled.
    truth: Option<Arc<ShardTruth>>,
    seen: Vec<bool>,
    runs: Option<Arc<NoteRuns>>,
    positions: PositionTally,
    /// Frames per (truth, prediction), hashed once per frame (hence [`PitchSetHash`]).
    counts: HashMap<(PitchSet, PitchSet), isize, PitchSetHash>,
}

impl Tally {
    fn new(unit: String, strict: bool, windows: Windows) -> Self {
        Self {
            unit: unit.into(),
            strict,
            slots: Vec::new(),
            index: HashMap::new(),
            skipped: HashMap::new(),
            windows,
            runs: HashMap::new(),
        }
    }

    fn slot(&mut self, truth: &TruthIndex, model: &str, shard: &str) -> usize {
        let key = (model.to_string(), shard.to_string());
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        let shard_truth = truth.get(shard).cloned();
        let runs = shard_truth.as_ref().map(|t| {
            self.runs
                .entry(shard.to_string())
                .or_insert_with(|| Arc::new(NoteRuns::of_frames(t.frames.iter())))
                .clone()
        });
        self.slots.push(Slot {
            model: Name::new(&key.0),
            shard: Name::new(&key.1),
            seen: shard_truth
                .as_ref()
                .map_or(Vec::new(), |t| vec![false; t.frames.len()]),
            truth: shard_truth,
            runs,
            positions: PositionTally::default(),
            counts: HashMap::default(),
        });
        self.index.insert(key, self.slots.len() - 1);
        self.slots.len() - 1
    }

    fn frame(&mut self, slot: usize, frame: usize, predicted: PitchSet) -> Result<(), String> {
        let s = &mut self.slots[slot];
        let Some(truth) = &s.truth else {
            return skip(
                &mut self.skipped,
                self.strict,
                format!("shard {:?} is not in the labels", s.shard),
            );
        };
        let Some(flag) = s.seen.get_mut(frame) else {
            let reason = format!(
                "frames past the end of shard {:?} ({} labelled frames)",
                s.shard,
                truth.frames.len()
            );
            return skip(&mut self.skipped, self.strict, reason);
        };
        if std::mem::replace(flag, true) {
            return Err(format!(
                "duplicate prediction for model {:?}, shard {:?}, frame {frame}",
                s.model, s.shard
            ));
        }
        let labelled = truth.frames.get(frame);
        *s.counts.entry((labelled, predicted)).or_insert(0) += 1;
        if let Some(runs) = &s.runs {
            s.positions
                .frame(runs, self.windows, frame, labelled, predicted);
        }
        Ok(())
    }

    fn finish(self) -> Contribution {
        let mut out = Contribution::default();
        for mut slot in self.slots {
            let Some(truth) = slot.truth else { continue };
            let unseen = slot.seen.iter().enumerate().filter(|(_, seen)| !**seen);
            for (frame, _) in unseen {
                *slot
                    .counts
                    .entry((truth.frames.get(frame), PitchSet::EMPTY))
                    .or_insert(0) += 1;
            }
            let split = Name::new(&truth.split);
            if let Some(runs) = &slot.runs {
                let positions = slot.positions.finish(runs, self.windows);
                out.rows
                    .extend(position_keys(&slot.model, &split, &positions));
            }
            let mut outcomes: Vec<_> = slot.counts.into_iter().collect();
            outcomes.sort_unstable();
            out.rows.push((
                TableKey::Coverage {
                    model: slot.model.clone(),
                    shard: slot.shard.clone(),
                    unit: self.unit.clone(),
                },
                Counts::one(1),
            ));
            out.frames.push(SlotFrames {
                names: Arc::new(SlotNames {
                    model: slot.model,
                    split,
                    shard: slot.shard,
                }),
                outcomes,
            });
        }
        for (reason, n) in self.skipped {
            let fact = TableKey::Skipped {
                unit: self.unit.clone(),
                reason,
            };
            out.rows.push((fact, Counts::one(n as i64)));
        }
        out
    }
}

fn skip(skipped: &mut HashMap<String, isize>, strict: bool, reason: String) -> Result<(), String> {
    if strict {
        return Err(reason);
    }
    *skipped.entry(reason).or_insert(0) += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sink::predictions_table::{
        PredictionRow, write_predictions, write_predictions_grouped,
    };

    /// `frames` frames of `pitch` on `shard` predicted by model "m".
    fn rows(shard: &str, frames: u32, pitch: u8) -> Vec<PredictionRow> {
        (0..frames)
            .map(|frame| PredictionRow {
                model: "m".into(),
                shard: shard.into(),
                frame,
                pitches: PitchSet::from_iter([pitch]),
                probs: None,
            })
            .collect()
    }

    /// Labels: each of `shards` holds 5 frames of C4.
    fn truth(shards: &[&str]) -> Arc<TruthIndex> {
        let c4 = PitchSet::from_iter([60]);
        let mut truth = TruthIndex {
            fps: 100.0,
            ..Default::default()
        };
        for shard in shards {
            truth.shards.insert(
                shard.to_string(),
                Arc::new(ShardTruth {
                    split: "test".into(),
                    frames: crate::labels::coded::CodedFrames::from_sets(&[c4; 5]),
                    labelled: 5,
                    audio: None,
                }),
            );
        }
        Arc::new(truth)
    }

    fn load(path: &Path) -> UnitEvent {
        UnitEvent {
            unit: Unit {
                path: path.to_path_buf(),
                kind: UnitKind::PredictionTable,
            },
            change: UnitChange::Load,
        }
    }

    /// A batch run keeps nothing per unit (its memory must not grow with the predictions);
    /// `watch` keeps each unit's contribution, to retract it when the file changes.
    #[test]
    fn only_a_watching_evaluator_keeps_contributions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let c4 = PitchSet::from_iter([60]);
        write_predictions(&path, &rows("s", 5, 60), 100.0).unwrap();
        for retain in [false, true] {
            let mut evaluator = Evaluator::new(truth(&["s"]), EvaluationOptions::default(), retain);
            let change = evaluator.apply(&load(&path));
            let [(contribution, 1)] = &change[..] else {
                panic!("one contribution added: {change:?}")
            };
            assert_eq!(contribution.frames[0].outcomes, [((c4, c4), 5)]);
            assert_eq!(
                evaluator.current.len(),
                usize::from(retain),
                "retain = {retain}"
            );
        }
    }

    /// The sum of a change's contributions, per (shard, truth, prediction) and per row key.
    fn net(changes: &[&Change]) -> BTreeMap<String, i64> {
        let mut sums: BTreeMap<String, i64> = BTreeMap::new();
        for (contribution, diff) in changes.iter().copied().flatten() {
            for slot in &contribution.frames {
                for (outcome, n) in &slot.outcomes {
                    let key = format!("{} {outcome:?}", slot.names.shard);
                    *sums.entry(key).or_default() += (*n * diff) as i64;
                }
            }
            for (key, counts) in &contribution.rows {
                for (k, c) in counts.0.iter().enumerate() {
                    *sums.entry(format!("{key:?} {k}")).or_default() += c * *diff as i64;
                }
            }
        }
        sums.retain(|_, n| *n != 0);
        sums
    }

    /// A watched table whose row groups each hold one shard: rewriting it with one group
    /// changed evaluates that group only (one part retracted, one added), and what the parts
    /// add up to is what evaluating the whole table gives, before and after (the frames a
    /// group leaves out, and those past a shard's end, included).
    #[test]
    fn a_rewritten_table_changes_only_its_changed_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let truth = truth(&["a", "b", "c"]);
        // "b" predicts 3 of its 5 frames, "c" 7 (2 past its end), and changes its pitch.
        let before = [rows("a", 5, 60), rows("b", 3, 60), rows("c", 7, 62)];
        let after = [rows("a", 5, 60), rows("b", 3, 60), rows("c", 7, 64)];
        // The whole table, one row group, at the same path (units are named by it).
        let whole = |groups: &[Vec<PredictionRow>]| {
            write_predictions(&path, &groups.concat(), 100.0).unwrap();
            let mut batch = Evaluator::new(truth.clone(), EvaluationOptions::default(), false);
            net(&[&batch.apply(&load(&path))])
        };
        let (whole_before, whole_after) = (whole(&before), whole(&after));
        let mut watching = Evaluator::new(truth.clone(), EvaluationOptions::default(), true);
        write_predictions_grouped(&path, &before, 100.0).unwrap();
        let first = watching.apply(&load(&path));
        assert_eq!(first.len(), 3, "one part per row group");
        assert_eq!(net(&[&first]), whole_before);
        write_predictions_grouped(&path, &after, 100.0).unwrap();
        let second = watching.apply(&load(&path));
        let diffs: Vec<isize> = second.iter().map(|(_, d)| *d).collect();
        assert_eq!(diffs, [-1, 1], "the changed group retracted and added");
        assert_eq!(net(&[&first, &second]), whole_after);
        let unchanged = watching.apply(&load(&path));
        assert!(unchanged.is_empty(), "{unchanged:?}");
        let removed = watching.apply(&UnitEvent {
            change: UnitChange::Remove,
            ..load(&path)
        });
        assert!(net(&[&first, &second, &removed]).is_empty());
    }

    /// A rewrite in which one row group fails (a frame predicted twice) changes nothing but
    /// the problem, whose message numbers the row from the top of the file; the next good
    /// rewrite retracts the problem and replaces that group only.
    #[test]
    fn a_failing_row_group_keeps_the_last_good_contribution() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let truth = truth(&["a", "b"]);
        let mut watching = Evaluator::new(truth, EvaluationOptions::default(), true);
        write_predictions_grouped(&path, &[rows("a", 5, 60), rows("b", 3, 60)], 100.0).unwrap();
        let first = watching.apply(&load(&path));
        let mut twice = rows("b", 3, 62);
        twice.push(twice[0].clone());
        write_predictions_grouped(&path, &[rows("a", 5, 60), twice], 100.0).unwrap();
        let failed = watching.apply(&load(&path));
        let [(problem, 1)] = &failed[..] else {
            panic!("only the problem is added: {failed:?}")
        };
        let message = format!("{:?}", problem.rows);
        assert!(
            message.contains("row 9") && message.contains("duplicate"),
            "{message}"
        );
        write_predictions_grouped(&path, &[rows("a", 5, 60), rows("b", 3, 62)], 100.0).unwrap();
        let mended = watching.apply(&load(&path));
        let diffs: Vec<isize> = mended.iter().map(|(_, d)| *d).collect();
        assert_eq!(
            diffs,
            [-1, -1, 1],
            "the problem and group b's old rows out, the new in"
        );
        let all = net(&[&first, &failed, &mended]);
        let mut fresh = Evaluator::new(watching.truth.clone(), EvaluationOptions::default(), true);
        assert_eq!(all, net(&[&fresh.apply(&load(&path))]));
    }
}
