//! Pipeline specs: TOML files under `pipelines/` that say which corpus to build, which
//! networks to train and how, and how to analyse them. Parsing rejects unknown keys and wrong
//! types (serde names the key, line and column), and validation checks every path and value
//! before any work starts; every message names the spec file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::infer::Device;
use crate::protocol::{Optimizer, OutputBias, Selection};

/// A whole pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Short name, used in the report.
    pub name: String,
    /// Output directory, relative to the directory `entangle run` is started in.
    pub out: PathBuf,
    pub corpus: CorpusSpec,
    #[serde(default)]
    pub features: FeatureSpec,
    /// The networks to train (at least one, or a system).
    #[serde(default)]
    pub networks: Vec<NetworkSpec>,
    #[serde(default)]
    pub analysis: AnalysisSpec,
    #[serde(default)]
    pub figures: FigureSpec,
    /// Run the pipeline once per coverage of `corpus.subsets` (the coverage sweep,
    /// [`super::sweep`]), each into `out/coverage-K`, and draw the sweep figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<super::sweep::SweepSpec>,
    /// Third-party systems (`systems/NAME.toml`) run on the test split next to the networks
    /// ([`super::systems_stage`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<super::systems_stage::SystemEntry>,
}

/// Where the corpus comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CorpusSpec {
    /// The paper's FLUID sets (section 4.1), rendered with `soundfont`.
    Fluid {
        /// `combi` (train on intervals, test on isolated notes) or `isol` (the reverse).
        dataset: FluidSet,
        #[serde(default = "default_soundfont")]
        soundfont: String,
        #[serde(default = "default_train_velocities")]
        train_velocities: Vec<u8>,
        #[serde(default = "default_eval_velocities")]
        validation_velocities: Vec<u8>,
        #[serde(default = "default_eval_velocities")]
        test_velocities: Vec<u8>,
        #[serde(default = "default_note_seconds")]
        note_seconds: f64,
        #[serde(default)]
        reverb: bool,
        /// FLUID-ISOL only: also train on a seeded subset of the intervals and test on the
        /// held-out and trained ones (the coverage sweep).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subsets: Option<crate::corpus::interval_subsets::IntervalSubsets>,
    },
    /// The MAPS-like multi-synthesizer corpus (section 4.2) from a directory of MIDI files.
    MapsLike {
        midi_dir: PathBuf,
        /// Cut pieces after this many seconds.
        max_seconds_per_piece: Option<f64>,
    },
    /// Real MAPS, Configuration II.
    Maps {
        root: PathBuf,
        #[serde(default = "default_validation_instrument")]
        validation_instrument: String,
    },
    /// One's own corpus: an existing manifest (schemas/manifest.md) with `train`,
    /// `validation` and `test` rows; its audio and labels are used where they are.
    Manifest {
        /// The manifest (Parquet), relative to the directory `entangle run` is started in.
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FluidSet {
    Combi,
    Isol,
}

fn default_soundfont() -> String {
    "FluidR3_GM".into()
}
fn default_train_velocities() -> Vec<u8> {
    crate::corpus::fluid::FluidParams::default().train_velocities
}
fn default_eval_velocities() -> Vec<u8> {
    crate::corpus::fluid::FluidParams::default().test_velocities
}
fn default_note_seconds() -> f64 {
    crate::corpus::fluid::FluidParams::default().note_seconds
}
fn default_validation_instrument() -> String {
    crate::corpus::maps::DEFAULT_VALIDATION_PIANO.into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    #[serde(default = "default_fps")]
    pub fps: f64,
}

fn default_fps() -> f64 {
    crate::features::SpectrogramParams::default().fps
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self { fps: default_fps() }
    }
}

/// One network and its training protocol (defaults: Kelz et al. 2016).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Name in tables and figures.
    pub name: String,
    /// `convnet`, `smallconvnet` or `aunet`.
    pub arch: crate::model::Arch,
    pub epochs: usize,
    #[serde(default = "default_steps")]
    pub steps_per_epoch: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default = "default_patience")]
    pub patience: usize,
    #[serde(default)]
    pub seed: u64,
    /// Several instances of this network, one per seed, trained one after another and named
    /// `NAME-sSEED` (instead of `seed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// `sgd` (Nesterov, the paper's) or `adam`.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Updates over which the learning rate rises linearly from 0.
    #[serde(default)]
    pub warmup_steps: usize,
    /// `random` or `prior` (the logit of the training labels' frequency per output).
    #[serde(default)]
    pub output_bias: OutputBias,
    /// Which epoch becomes the network's model: `validation-f1` or `validation-loss`.
    #[serde(default)]
    pub select_by: Selection,
    /// `cpu`, `cuda`, or `auto` (CUDA when libtorch sees a GPU).
    #[serde(default)]
    pub device: TrainingDevice,
    /// Weight lambda of the mixture (disentanglement) penalty on unlabelled mixtures of two
    /// training examples (`entangle_train::mixture`); 0: none (the paper's protocol).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mixture_penalty: f64,
    /// Take the mixture penalty in training mode (dropout, batch statistics) instead of
    /// inference mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mixture_in_training_mode: bool,
    /// Random chords mixed into the training examples on the fly (`corpus::chords`):
    /// `chords = { probability = 0.5, max_polyphony = 6 }`; none: the paper's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chords: Option<crate::corpus::chords::ChordMixing>,
    /// The spec's name for this network before seeds were expanded (tables and figures
    /// group the instances of one network by it).
    #[serde(skip)]
    pub family: String,
}

/// Where a network trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainingDevice {
    Cpu,
    Cuda,
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
}

impl TrainingDevice {
    /// The request `train::torch_device` takes (`None`: pick).
    pub fn request(self) -> Option<Device> {
        match self {
            Self::Cpu => Some(Device::Cpu),
            Self::Cuda => Some(Device::Cuda),
            Self::Auto => None,
        }
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn default_steps() -> usize {
    crate::protocol::TrainConfig::default().steps_per_epoch
}
fn default_batch() -> usize {
    crate::protocol::TrainConfig::default().batch_size
}
fn default_lr() -> f64 {
    crate::protocol::TrainConfig::default().learning_rate
}
fn default_patience() -> usize {
    crate::protocol::TrainConfig::default().patience
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    #[serde(default = "default_workers")]
    pub workers: usize,
    #[serde(default = "default_one")]
    pub intra_threads: usize,
    /// `cpu` or `cuda` (the ONNX Runtime execution provider).
    #[serde(default)]
    pub device: Device,
}

fn default_workers() -> usize {
    2
}
fn default_one() -> usize {
    1
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            intra_threads: 1,
            device: Device::Cpu,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureSpec {
    /// `svg` and/or `png`.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Combinations per ranking figure.
    #[serde(default = "default_top")]
    pub top: usize,
}

fn default_formats() -> Vec<String> {
    vec!["svg".into(), "png".into()]
}
fn default_top() -> usize {
    20
}

impl Default for FigureSpec {
    fn default() -> Self {
        Self {
            formats: default_formats(),
            top: default_top(),
        }
    }
}

/// An existing corpus manifest is usable by a pipeline: it reads, it has the three splits
/// training, selection and the test analysis need, and every audio and label file is there.
fn validate_manifest(path: &Path) -> Result<(), String> {
    let key = format!("corpus.path = {:?}", path.display());
    if !path.is_file() {
        return Err(format!("{key}: no such file"));
    }
    let rows = crate::corpus::manifest::read_manifest(path).map_err(|e| format!("{key}: {e}"))?;
    let present: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.split.as_str()).collect();
    let missing: Vec<&str> = ["train", "validation", "test"]
        .into_iter()
        .filter(|s| !present.contains(s))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{key}: no {} rows (it has {}); a pipeline trains on train, selects on \
             validation and analyses test",
            missing.join(", "),
            present.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    for row in &rows {
        if !Path::new(&row.path).is_file() {
            return Err(format!(
                "{key}: shard {:?}: {} does not exist",
                row.shard, row.path
            ));
        }
        // Labels are cheap to read: a bad note list fails now, not after training.
        crate::labels::read_notes(Path::new(&row.labels_path), Default::default())
            .map_err(|e| format!("{key}: shard {:?}: {e}", row.shard))?;
    }
    Ok(())
}

/// A spec that cannot be run, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    pub path: PathBuf,
    pub message: String,
}

/// `Ok` for a finite number above zero, else an error naming `key`.
fn positive(key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{key} = {v}: must be a positive number"))
    }
}

impl CorpusSpec {
    /// Values in range and the soundfont, MIDI directory, MAPS root or manifest present.
    fn validate(&self) -> Result<(), String> {
        match self {
            CorpusSpec::Fluid {
                soundfont,
                train_velocities,
                validation_velocities,
                test_velocities,
                note_seconds,
                dataset,
                subsets,
                ..
            } => {
                if let Some(subsets) = subsets {
                    subsets.validate("corpus.subsets")?;
                    if *dataset != FluidSet::Isol {
                        return Err(
                            "corpus.subsets: interval subsets need dataset = \"isol\"".into()
                        );
                    }
                }
                let font = crate::corpus::resolve_soundfont(soundfont);
                if !font.exists() {
                    return Err(format!(
                        "corpus.soundfont = {soundfont:?}: {} does not exist",
                        font.display()
                    ));
                }
                for (key, v) in [
                    ("corpus.train_velocities", train_velocities),
                    ("corpus.validation_velocities", validation_velocities),
                    ("corpus.test_velocities", test_velocities),
                ] {
                    if v.is_empty() || v.iter().any(|&x| x == 0 || x > 127) {
                        return Err(format!("{key} = {v:?}: need velocities in 1..=127"));
                    }
                }
                positive("corpus.note_seconds", *note_seconds)
            }
            CorpusSpec::MapsLike {
                midi_dir,
                max_seconds_per_piece,
            } => {
                if !midi_dir.is_dir() {
                    return Err(format!(
                        "corpus.midi_dir = {:?}: no such directory (`make music21-midi` writes data/music21-midi)",
                        midi_dir.display()
                    ));
                }
                match max_seconds_per_piece {
                    Some(s) => positive("corpus.max_seconds_per_piece", *s),
                    None => Ok(()),
                }
            }
            CorpusSpec::Maps { root, .. } => {
                if root.is_dir() {
                    Ok(())
                } else {
                    Err(format!(
                        "corpus.root = {:?}: no such directory (point it at your MAPS copy)",
                        root.display()
                    ))
                }
            }
            CorpusSpec::Manifest { path } => validate_manifest(path),
        }
    }
}

impl NetworkSpec {
    /// Training parameters in range; `at` names the table in errors (`networks[2]`).
    fn validate(&self, at: &str) -> Result<(), String> {
        for (k, v) in [
            ("epochs", self.epochs),
            ("steps_per_epoch", self.steps_per_epoch),
            ("batch_size", self.batch_size),
        ] {
            if v == 0 {
                return Err(format!("{at}.{k} = 0: must be at least 1"));
            }
        }
        positive(&format!("{at}.learning_rate"), self.learning_rate)?;
        if !(self.mixture_penalty.is_finite() && self.mixture_penalty >= 0.0) {
            return Err(format!(
                "{at}.mixture_penalty = {}: must be a weight >= 0",
                self.mixture_penalty
            ));
        }
        if let Some(chords) = &self.chords {
            chords.validate(&format!("{at}.chords"))?;
        }
        Ok(())
    }

    /// One seed or a distinct list of seeds, whose instance names (`NAME-sSEED`) no other
    /// network of `all` already has.
    fn validate_seed_names(&self, at: &str, all: &[NetworkSpec]) -> Result<(), String> {
        if !self.seeds.is_empty() && self.seed != 0 {
            return Err(format!(
                "{at}.seed and {at}.seeds: give one seed or a list of seeds, not both"
            ));
        }
        let mut distinct = std::collections::BTreeSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !distinct.insert(**s)) {
            return Err(format!("{at}.seeds = {:?}: seed {s} twice", self.seeds));
        }
        for seed in &self.seeds {
            let expanded = format!("{}-s{seed}", self.name);
            if all.iter().any(|m| m.name == expanded) {
                return Err(format!(
                    "{at}.seeds = {:?}: the instance name {expanded:?} is taken by another network",
                    self.seeds
                ));
            }
        }
        Ok(())
    }
}

impl PipelineSpec {
    /// Parses and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let fail = |message: String| SpecError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut spec: Self =
            toml::from_str(&text).map_err(|e| fail(e.to_string().trim().into()))?;
        spec.validate().map_err(fail)?;
        spec.expand_seeds();
        Ok(spec)
    }

    /// One network per seed of each `seeds` list, named `NAME-sSEED`; every network records
    /// the name it was given in the spec as its `family`.
    pub fn expand_seeds(&mut self) {
        self.networks = std::mem::take(&mut self.networks)
            .into_iter()
            .flat_map(|n| {
                let family = n.name.clone();
                if n.seeds.is_empty() {
                    return vec![NetworkSpec { family, ..n }];
                }
                n.seeds
                    .iter()
                    .map(|&seed| NetworkSpec {
                        name: format!("{}-s{seed}", n.name),
                        seed,
                        seeds: Vec::new(),
                        family: family.clone(),
                        ..n.clone()
                    })
                    .collect()
            })
            .collect();
    }

    /// Checks what parsing cannot: values in range, names known, paths present.
    pub fn validate(&self) -> Result<(), String> {
        positive("features.fps", self.features.fps)?;
        self.corpus.validate()?;
        if self.networks.is_empty() && self.systems.is_empty() {
            return Err(
                "networks: at least one [[networks]] (or [[systems]]) table is needed".into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, n) in self.networks.iter().enumerate() {
            if n.name.is_empty() || n.name.contains(['/', '\\']) || !names.insert(&n.name) {
                return Err(format!(
                    "networks[{i}].name = {:?}: names must be unique, non-empty and without slashes",
                    n.name
                ));
            }
            n.validate(&format!("networks[{i}]"))?;
            n.validate_seed_names(&format!("networks[{i}]"), &self.networks)?;
        }
        if self.analysis.workers == 0 || self.analysis.intra_threads == 0 {
            return Err("analysis.workers and analysis.intra_threads must be at least 1".into());
        }
        if let Some(sweep) = &self.sweep {
            sweep.validate(&self.corpus)?;
        }
        super::systems_stage::load(self)?;
        for f in &self.figures.formats {
            if !["svg", "png"].contains(&f.as_str()) {
                return Err(format!("figures.formats: {f:?} is not svg or png"));
            }
        }
        Ok(())
    }

    /// Network outputs and the MIDI pitch of the first: the FLUID networks have 23 outputs
    /// from C#3 (49); the piano networks 88 from A0.
    pub fn output_range(&self) -> (usize, u8) {
        match self.corpus {
            CorpusSpec::Fluid { .. } => {
                use crate::corpus::fluid::{FLUID_LOW, FLUID_NOTES};
                (FLUID_NOTES, FLUID_LOW)
            }
            _ => (88, 21),
        }
    }
}
