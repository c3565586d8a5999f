//! Running the analysis: `analyze` evaluates a fixed set of sources once; `watch` rescans a
//! directory every round and feeds only what changed. Both start timely with the requested
//! workers and processes; every process loads the truth, worker 0 of process 0 owns the
//! tables, the change log and `analysis.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use timely::CommunicationConfig;

use super::changelog::ChangeLog;
use super::coverage::{MissingShard, MissingShards, describe as describe_missing};
use super::graph::{Round, build_graph};
use super::sources::{Fingerprint, SourceKind, find_sources, units_of};
use super::state::{Skip, TableState};
use super::tables::write_tables;
use super::truth::{TrainCombinations, TruthIndex};
use super::units::{EvaluationOptions, Unit, UnitEvent};
use crate::model::metadata::check_network;
use crate::sink::write_atomically;

/// File name of the run summary in an analysis directory.
pub const SUMMARY: &str = "analysis.json";

/// Where the workers run: threads in this process, and this process's place among several.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Worker threads per process (at least 1).
    pub workers: usize,
    /// Number of processes (1: just this one).
    pub processes: usize,
    /// This process's index, `0..processes`.
    pub process: usize,
    /// One `host:port` per line, a line per process; default `localhost:2101 + i`.
    pub hostfile: Option<PathBuf>,
}

impl ClusterOptions {
    pub fn timely_config(&self) -> anyhow::Result<timely::Config> {
        let threads = self.workers.max(1);
        let processes = self.processes.max(1);
        anyhow::ensure!(
            self.process < processes,
            "--process {} is not below --processes {processes}",
            self.process
        );
        let communication = if processes > 1 {
            let addresses = match &self.hostfile {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("{}: cannot read the hostfile", file.display()))?;
                    let hosts: Vec<String> = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect();
                    anyhow::ensure!(
                        hosts.len() >= processes,
                        "{}: {} addresses for {processes} processes",
                        file.display(),
                        hosts.len()
                    );
                    hosts[..processes].to_vec()
                }
                None => (0..processes)
                    .map(|i| format!("localhost:{}", 2101 + i))
                    .collect(),
            };
            CommunicationConfig::Cluster {
                threads,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
                log_fn: Arc::new(|_| None),
            }
        } else if threads > 1 {
            CommunicationConfig::Process(threads)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        })
    }
}

/// Where the ground truth comes from.
#[derive(Debug, Clone)]
pub enum TruthSource {
    /// Labels tables, each tagged with its split.
    Labels(Vec<(String, PathBuf)>),
    /// The given splits of a corpus manifest (also gives networks their audio).
    Manifest { path: PathBuf, splits: Vec<String> },
}

impl TruthSource {
    /// Loads the labels; fails when they hold no shard at all.
    pub fn load(&self, fps: f64) -> anyhow::Result<TruthIndex> {
        let index = match self {
            Self::Labels(tables) => TruthIndex::from_labels_tables(tables)?,
            Self::Manifest { path, splits } => {
                let splits: Vec<&str> = splits.iter().map(String::as_str).collect();
                TruthIndex::from_manifest(path, &splits, fps)?
            }
        };
        anyhow::ensure!(!index.shards.is_empty(), "{}: no labelled shards", self);
        Ok(index)
    }
}

impl std::fmt::Display for TruthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Labels(tables) => {
                let paths: Vec<_> = tables
                    .iter()
                    .map(|(_, p)| p.display().to_string())
                    .collect();
                write!(f, "{}", paths.join(", "))
            }
            Self::Manifest { path, splits } => {
                write!(f, "{} (split {})", path.display(), splits.join(", "))
            }
        }
    }
}

/// Everything an analysis needs besides its sources.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    pub truth: TruthSource,
    /// The training split's labels, for `train_frames` and `shared`.
    pub train: Option<TruthSource>,
    /// Frame rate when the truth comes from a manifest.
    pub fps: f64,
    pub evaluation: EvaluationOptions,
    pub out: PathBuf,
    pub cluster: ClusterOptions,
}

/// A source file of an analysis and the models it gave.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRecord {
    pub path: PathBuf,
    pub models: BTreeSet<String>,
}

/// What `analysis.json` records.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisSummary {
    /// Where the labels came from (tables, or a manifest and its splits).
    pub labels: String,
    /// Where the training labels came from; `None`: there were none (`shared` is NULL).
    pub train_labels: Option<String>,
    /// The labels' frame rate (every predictions table was checked against it).
    pub fps: f64,
    /// `--threshold` values (empty: tables' own pitches, networks at 0.5).
    pub thresholds: Vec<f32>,
    /// Every source file, with the model names it contributed.
    pub inputs: Vec<SourceRecord>,
    /// Rounds the dataflow ran (1 for a batch analysis).
    pub rounds: u64,
    /// Source files and units in the last round.
    pub sources: usize,
    pub units: usize,
    /// Labelled shards and frames.
    pub shards: usize,
    pub labelled_frames: usize,
    pub workers: usize,
    pub processes: usize,
    pub skipped: Vec<Skip>,
    /// Labelled shards a model has no predictions for (counted as predicted empty).
    pub missing_shards: Vec<MissingShard>,
    /// Wall time of the whole run, and of its last round (scan, evaluation, aggregation and
    /// table writing).
    pub seconds: f64,
    pub last_round_seconds: f64,
}

/// What feeds the rounds.
#[derive(Debug, Clone)]
pub enum Sources {
    /// These files or directories, read once.
    Fixed(Vec<PathBuf>),
    /// A directory rescanned every round.
    Watched(PathBuf),
}

/// Called by worker 0 before each scan with the round about to start (tests and benchmarks
/// change the watched files from it).
pub type ScanHook = Arc<dyn Fn(Round) + Send + Sync>;

/// When `watch` scans and stops.
#[derive(Clone, Default)]
pub struct WatchOptions {
    /// Pause between scans.
    pub poll: Duration,
    /// Stop after this many rounds (`None`: never).
    pub rounds: Option<u64>,
    pub before_scan: Option<ScanHook>,
    /// File names to leave alone (e.g. `best.onnx`, a copy of one of the epochs).
    pub ignore: Vec<String>,
}

impl std::fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions")
            .field("poll", &self.poll)
            .field("rounds", &self.rounds)
            .field("before_scan", &self.before_scan.is_some())
            .field("ignore", &self.ignore)
            .finish()
    }
}

/// Batch analysis of `sources`. Returns the summary in process 0, `None` in the others.
pub fn analyze(
    options: &AnalysisOptions,
    sources: Vec<PathBuf>,
) -> anyhow::Result<Option<AnalysisSummary>> {
    let watch = WatchOptions {
        poll: Duration::ZERO,
        rounds: Some(1),
        ..Default::default()
    };
    run(options, Sources::Fixed(sources), watch)
}

/// Incremental analysis of a directory.
pub fn watch(
    options: &AnalysisOptions,
    dir: PathBuf,
    watch: WatchOptions,
) -> anyhow::Result<Option<AnalysisSummary>> {
    run(options, Sources::Watched(dir), watch)
}

fn run(
    options: &AnalysisOptions,
    sources: Sources,
    watch: WatchOptions,
) -> anyhow::Result<Option<AnalysisSummary>> {
    let started = Instant::now();
    let config = options.cluster.timely_config()?;
    let truth = Arc::new(options.truth.load(options.fps)?);
    if let Some(fps) = options.evaluation.assumed_fps {
        anyhow::ensure!(
            crate::sink::predictions_table::same_fps(fps, truth.fps),
            "--fps {fps}, but the labels {} are at {} fps",
            options.truth,
            truth.fps
        );
    }
    tracing::info!(
        shards = truth.shards.len(),
        frames = truth.total_frames(),
        seconds = started.elapsed().as_secs_f64(),
        "labels loaded"
    );
    let owns_tables = options.cluster.process == 0;
    let train = match (&options.train, owns_tables) {
        (Some(source), true) => {
            // Training labels that were named must load: a wrong split or file would mark
            // every combination unshared without a word. Without any, `shared` is NULL.
            let index = source
                .load(options.fps)
                .with_context(|| format!("training labels {source}"))?;
            Some(TrainCombinations::from_index(&index))
        }
        _ => None,
    };
    if owns_tables {
        std::fs::create_dir_all(&options.out)
            .with_context(|| format!("{}: cannot create", options.out.display()))?;
    }
    let shared = Arc::new((options.clone(), sources, watch, train, started));
    let guards = timely::execute(config, move |worker| {
        let (options, sources, watch, train, started) = &*shared;
        let index = worker.index();
        let mut graph = build_graph(worker, truth.clone(), options.evaluation.clone());
        let mut feeder = (index == 0).then(|| {
            let mut feeder = Feeder::new(sources.clone(), truth.clone(), watch.ignore.clone());
            feeder.lowest_pitch = options.evaluation.lowest_pitch;
            feeder
        });
        let mut sink = match index {
            0 => Some(Sink::open(options, train.clone(), &truth)?),
            _ => None,
        };
        let mut round: Round = 0;
        loop {
            if let (Some(hook), 0) = (&watch.before_scan, index) {
                hook(round);
            }
            let round_started = Instant::now();
            let watching = watch.rounds != Some(1);
            if let Some(feeder) = &mut feeder {
                match feeder.scan() {
                    Ok(events) => events.into_iter().for_each(|e| graph.events.send(e)),
                    // A watched directory can hold a file we cannot use yet; say so and
                    // look again next round.
                    Err(e) if watching => tracing::error!("{e:#}"),
                    Err(e) => return Err(e),
                }
            }
            round += 1;
            graph.events.advance_to(round);
            while graph.probe.less_than(&round) {
                worker.step_or_park(Some(Duration::from_millis(50)));
            }
            if index == 0 {
                tracing::debug!(
                    round,
                    seconds = round_started.elapsed().as_secs_f64(),
                    "round computed"
                );
            }
            let mut wrote = false;
            if let Some(sink) = &mut sink {
                let updates = std::mem::take(&mut *graph.updates.borrow_mut());
                wrote = sink.absorb(updates, watching)?;
            }
            let round_seconds = round_started.elapsed().as_secs_f64();
            let last = watch.rounds.is_some_and(|r| round >= r);
            // The summary goes with every rewrite of the tables, so a long `watch` keeps it
            // current too.
            let summary = match (&sink, &feeder) {
                (Some(sink), Some(feeder)) if wrote || last => Some(AnalysisSummary {
                    labels: options.truth.to_string(),
                    train_labels: options.train.as_ref().map(ToString::to_string),
                    fps: truth.fps,
                    thresholds: options.evaluation.thresholds.clone(),
                    inputs: feeder.records(&sink.state),
                    rounds: round,
                    sources: feeder.known.len(),
                    units: feeder.known.values().map(|(_, u)| u.len()).sum(),
                    shards: truth.shards.len(),
                    labelled_frames: truth.total_frames(),
                    workers: worker.peers(),
                    processes: options.cluster.processes.max(1),
                    skipped: sink.state.skipped(),
                    missing_shards: sink.missing.missing(),
                    seconds: started.elapsed().as_secs_f64(),
                    last_round_seconds: round_seconds,
                }),
                _ => None,
            };
            if let Some(summary) = &summary {
                write_summary(&options.out, summary)?;
            }
            if last {
                return anyhow::Ok(summary);
            }
            std::thread::sleep(watch.poll);
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot start the dataflow: {e}"))?;
    let mut summary = None;
    for result in guards.join() {
        if let Some(s) = result.map_err(|e| anyhow::anyhow!("a worker panicked: {e}"))?? {
            summary = Some(s);
        }
    }
    Ok(summary)
}

fn write_summary(dir: &Path, summary: &AnalysisSummary) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(summary)?;
    write_atomically(&dir.join(SUMMARY), |w| std::io::Write::write_all(w, &json))?;
    Ok(())
}

/// Worker 0's view of the sources: what it has fed, and what changed since.
struct Feeder {
    sources: Sources,
    truth: Arc<TruthIndex>,
    ignore: Vec<String>,
    known: BTreeMap<PathBuf, (Fingerprint, Vec<Unit>)>,
    /// `--lowest-pitch`, for networks checked before they are fed.
    lowest_pitch: Option<u8>,
    /// Files a watched scan could not use, as they were then: reported once per version.
    rejected: BTreeMap<PathBuf, Fingerprint>,
}

impl Feeder {
    fn new(sources: Sources, truth: Arc<TruthIndex>, ignore: Vec<String>) -> Self {
        Self {
            sources,
            truth,
            ignore,
            known: BTreeMap::new(),
            lowest_pitch: None,
            rejected: BTreeMap::new(),
        }
    }

    /// The known source files with the models each contributed (from the coverage facts).
    fn records(&self, state: &TableState) -> Vec<SourceRecord> {
        let mut models: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for key in state.rows.keys() {
            if let super::keys::TableKey::Coverage { model, unit, .. } = key {
                models.entry(unit).or_default().insert(model.clone());
            }
        }
        self.known
            .iter()
            .map(|(path, (_, units))| SourceRecord {
                path: path.clone(),
                models: units
                    .iter()
                    .filter_map(|u| models.get(u.name().as_str()))
                    .flatten()
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    /// Events for every file that appeared, changed or disappeared since the last scan.
    fn scan(&mut self) -> anyhow::Result<Vec<UnitEvent>> {
        let found = match &self.sources {
            Sources::Fixed(roots) => {
                if !self.known.is_empty() {
                    return Ok(Vec::new());
                }
                let mut found = BTreeMap::new();
                for root in roots {
                    anyhow::ensure!(
                        root.exists(),
                        "{}: no such file or directory",
                        root.display()
                    );
                    found.extend(find_sources(root, None)?);
                }
                found
            }
            Sources::Watched(dir) => find_sources(dir, None)?,
        };
        let ignored = |p: &PathBuf| {
            p.file_name()
                .is_some_and(|n| self.ignore.iter().any(|i| n.to_string_lossy() == *i))
        };
        let found: BTreeMap<_, _> = found.into_iter().filter(|(p, _)| !ignored(p)).collect();
        let mut events = Vec::new();
        let gone: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|p| !found.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            let (_, units) = self.known.remove(&path).expect("known");
            tracing::info!(file = %path.display(), "removed: retracting its rows");
            events.extend(
                units
                    .into_iter()
                    .map(|unit| UnitEvent { unit, load: false }),
            );
        }
        for (path, print) in found {
            if self
                .known
                .get(&path)
                .is_some_and(|(known, _)| *known == print)
            {
                continue;
            }
            // A network must say (or be told) which pitch its first output is before any
            // shard is run through it: one clear error, not one per shard.
            let checked = match SourceKind::of(&path) {
                Some(SourceKind::Network) => {
                    check_network(&path, self.lowest_pitch, self.truth.fps)
                        .map(drop)
                        .map_err(anyhow::Error::msg)
                }
                _ => Ok(()),
            };
            let units = match checked.and_then(|()| units_of(&path, &self.truth)) {
                Ok(units) => {
                    self.rejected.remove(&path);
                    units
                }
                Err(e) if matches!(self.sources, Sources::Watched(_)) => {
                    // Not fatal while watching: report it (once for this version of the
                    // file), and retry on the next scan.
                    if self.rejected.insert(path.clone(), print) != Some(print) {
                        tracing::error!("{e:#}");
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let old: BTreeSet<Unit> = self
                .known
                .remove(&path)
                .map(|(_, u)| u.into_iter().collect())
                .unwrap_or_default();
            if !old.is_empty() {
                tracing::info!(file = %path.display(), "changed: replacing its rows");
            }
            for unit in old.iter().filter(|u| !units.contains(u)) {
                events.push(UnitEvent {
                    unit: unit.clone(),
                    load: false,
                });
            }
            events.extend(units.iter().map(|unit| UnitEvent {
                unit: unit.clone(),
                load: true,
            }));
            self.known.insert(path, (print, units));
        }
        Ok(events)
    }
}

/// Worker 0's tables: the state, the change log, and when to write.
struct Sink {
    out: PathBuf,
    state: TableState,
    /// Labelled shards a model has no predictions for, filled in as predicted empty.
    missing: MissingShards,
    truth: Arc<TruthIndex>,
    strict: bool,
    log: ChangeLog,
    train: Option<TrainCombinations>,
    written: bool,
}

impl Sink {
    fn open(
        options: &AnalysisOptions,
        train: Option<TrainCombinations>,
        truth: &Arc<TruthIndex>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            out: options.out.clone(),
            state: TableState::default(),
            missing: MissingShards::new(truth),
            truth: truth.clone(),
            strict: options.evaluation.strict,
            log: ChangeLog::open(&options.out)?,
            train,
            written: false,
        })
    }

    /// Applies a round's updates and, when something changed and nothing is wrong, writes
    /// the tables and logs the change (returns whether it wrote). A watched run reports
    /// problems and keeps the last good tables; a batch run fails with them.
    fn absorb(
        &mut self,
        updates: Vec<super::graph::Update>,
        watching: bool,
    ) -> anyhow::Result<bool> {
        let mut touched = self
            .state
            .apply(updates.into_iter().map(|(key, _, diff)| (key, diff)));
        touched.extend(self.missing.update(&mut self.state));
        if touched.is_empty() && self.written {
            return Ok(false);
        }
        let mut problems = self.state.problems();
        let missing = describe_missing(&self.missing.missing(), &self.truth);
        if self.strict {
            problems.extend(missing.iter().map(|m| format!("{m} (--strict)")));
        }
        if !problems.is_empty() {
            let message = format!(
                "{} problem(s); the tables in {} are left as they were:\n  {}",
                problems.len(),
                self.out.display(),
                problems.join("\n  ")
            );
            if watching {
                tracing::error!("{message}");
                return Ok(false);
            }
            anyhow::bail!(message);
        }
        for line in &missing {
            tracing::warn!("{line}");
        }
        for skip in self.state.skipped() {
            tracing::warn!(
                unit = %skip.unit,
                frames = skip.frames,
                "skipped: {}",
                skip.reason
            );
        }
        let writing = Instant::now();
        write_tables(&self.out, &self.state, self.train.as_ref())?;
        let lines = self.log.record(&self.state, &touched)?;
        tracing::info!(
            rows = self.state.table_rows().count(),
            changes = lines,
            seconds = writing.elapsed().as_secs_f64(),
            "tables written to {}",
            self.out.display()
        );
        self.written = true;
        Ok(true)
    }
}
