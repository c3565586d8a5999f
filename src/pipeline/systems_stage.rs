//! Third-party systems inside a pipeline: a spec's `[[systems]]` name system descriptions
//! (`systems/NAME.toml`, [`crate::systems`]) to run next to its own networks. Each is a stage
//! with a key like the others (`systems/NAME/`): the analysis dataflow runs the system on the
//! test split's shards on its workers, with its own front end at its own frames, and writes the
//! usual tables, `positions` among them (no training set is known: `shared` is NULL). The
//! run's figures then put every network and system side by side
//! ([`super::systems_figures`]) and the report gets a section on them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::spec::PipelineSpec;
use super::stages::{StageRecord, hash_file, stage_key};
use crate::analysis::positions::PositionWindows;
use crate::dataflow::units::EvaluationOptions;
use crate::dataflow::{AnalysisOptions, ClusterOptions, TruthSource};
use crate::systems::SystemSpec;

/// One `[[systems]]` table of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemEntry {
    /// The system description, relative to the directory `entangle run` starts in (e.g.
    /// `systems/basic-pitch.toml`).
    pub spec: PathBuf,
    /// Its ONNX file; default: the systems cache `scripts/fetch-systems.sh` fills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
}

/// A system of the spec, loaded.
pub struct PipelineSystem {
    pub spec: SystemSpec,
    pub entry: SystemEntry,
    pub onnx: PathBuf,
}

impl PipelineSystem {
    /// Where its stage writes: `analysis/` (the usual tables, `positions` among them).
    pub fn dir(&self, layout: &Layout) -> PathBuf {
        dir(layout, &self.spec.name)
    }
}

/// The stage directory of the system `name`.
pub fn dir(layout: &Layout, name: &str) -> PathBuf {
    layout.out.join("systems").join(name)
}

/// The analysis directory of the system `name`.
pub fn analysis_dir(layout: &Layout, name: &str) -> PathBuf {
    dir(layout, name).join("analysis")
}

/// Loads every `[[systems]]` entry: its description parses and checks, its name is unique
/// among the systems and the networks, and its ONNX file is there.
pub fn load(spec: &PipelineSpec) -> Result<Vec<PipelineSystem>, String> {
    let mut names: std::collections::BTreeSet<String> =
        spec.networks.iter().map(|n| n.name.clone()).collect();
    let mut out = Vec::new();
    for (i, entry) in spec.systems.iter().enumerate() {
        let key = format!("systems[{i}].spec = {:?}", entry.spec.display());
        let system = SystemSpec::load(&entry.spec).map_err(|e| format!("{key}: {e}"))?;
        if !names.insert(system.name.clone()) {
            return Err(format!(
                "{key}: the name {:?} is taken by a network or another system",
                system.name
            ));
        }
        let onnx = entry
            .onnx
            .clone()
            .unwrap_or_else(|| system.onnx_path(Path::new(".")));
        if !onnx.is_file() {
            return Err(format!(
                "{key}: its ONNX file {} is missing; `make setup` (scripts/fetch-systems.sh) \
                 fetches it",
                onnx.display()
            ));
        }
        out.push(PipelineSystem {
            spec: system,
            entry: entry.clone(),
            onnx,
        });
    }
    Ok(out)
}

/// The stage key of a system: its description and ONNX file, the corpus, and what decides
/// its tables (not the number of workers: the tables do not depend on it).
fn key(
    system: &PipelineSystem,
    corpus_key: &str,
) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let inputs = BTreeMap::from([
        ("corpus".to_string(), corpus_key.to_string()),
        (
            system.entry.spec.display().to_string(),
            hash_file(&system.entry.spec)?,
        ),
        (system.onnx.display().to_string(), hash_file(&system.onnx)?),
    ]);
    let windows = PositionWindows::default();
    let params = ("test", windows.k, windows.release_seconds);
    Ok((stage_key("system", &params, &inputs), inputs))
}

/// The plan's lines for the systems.
pub fn plan(spec: &PipelineSpec, layout: &Layout, corpus_key: &str) -> anyhow::Result<()> {
    for system in load(spec).map_err(anyhow::Error::msg)? {
        let (key, _) = key(&system, corpus_key)?;
        super::run::plan_line(
            &format!("system {}", system.spec.name),
            &system.dir(layout),
            &key,
        )?;
    }
    Ok(())
}

/// Runs (or skips, when up to date) every system's stage on the test split of `manifest`.
pub fn run_systems(
    spec: &PipelineSpec,
    layout: &Layout,
    manifest: &Path,
    corpus_key: &str,
) -> anyhow::Result<Vec<StageRecord>> {
    let mut records = Vec::new();
    for system in load(spec).map_err(anyhow::Error::msg)? {
        let (key, inputs) = key(&system, corpus_key)?;
        let dir = system.dir(layout);
        records.push(super::run::run_stage(
            &dir,
            &format!("system {}", system.spec.name),
            &key,
            inputs,
            || analyse_system(spec, &system, manifest, &dir),
        )?);
    }
    Ok(records)
}

/// One system's stage: the dataflow runs the system on every test shard on its workers, at
/// its own frames, and writes the usual tables (with `positions`).
fn analyse_system(
    spec: &PipelineSpec,
    system: &PipelineSystem,
    manifest: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    let options = AnalysisOptions {
        truth: TruthSource::AtSystem {
            path: manifest.to_path_buf(),
            splits: vec!["test".into()],
            system: system.entry.spec.clone(),
        },
        // No training set is known for a third-party system: `shared` is NULL.
        train: None,
        fps: system.spec.frame_times.nominal_fps(),
        evaluation: EvaluationOptions {
            strict: true,
            system_onnx: Some(system.onnx.clone()),
            inference: crate::infer::InferenceOptions {
                device: spec.analysis.device,
                ..Default::default()
            },
            ..Default::default()
        },
        out: dir.join("analysis"),
        cluster: ClusterOptions {
            workers: spec.analysis.workers,
            ..Default::default()
        },
    };
    crate::dataflow::analyze(&options, vec![system.entry.spec.clone()])?;
    Ok(())
}

/// `## Systems` of a run's report: per system, what it is, its time base, its test P/R/F.
pub fn report_section(md: &mut String, spec: &PipelineSpec, layout: &Layout) -> anyhow::Result<()> {
    if spec.systems.is_empty() {
        return Ok(());
    }
    writeln!(md, "\n## Systems\n")?;
    writeln!(
        md,
        "Third-party systems run as they are on the test split, each at its own frames (labels \
         framed at its frame centres; no training set is known, so `shared` is NULL). Tables: \
         `systems/NAME/analysis/` (with `positions.parquet`).\n"
    )?;
    writeln!(
        md,
        "| system | time base | shards | frames | P | R | F | micro F | accuracy | E_tot |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
    for system in load(spec).map_err(anyhow::Error::msg)? {
        let name = &system.spec.name;
        let metrics = super::tables_read::read_split_metrics(
            &analysis_dir(layout, name).join(crate::dataflow::tables::SPLIT_METRICS),
        )?;
        for m in metrics.iter().filter(|m| &m.model == name) {
            writeln!(
                md,
                "| {name} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                system.spec.frame_times.describe(),
                m.shards,
                m.frames,
                m.precision,
                m.recall,
                m.f1,
                m.micro_f1,
                m.accuracy,
                m.e_tot
            )?;
        }
    }
    for system in load(spec).map_err(anyhow::Error::msg)? {
        if !system.spec.description.is_empty() {
            writeln!(md, "\n- {}: {}", system.spec.name, system.spec.description)?;
        }
    }
    writeln!(md)?;
    Ok(())
}
