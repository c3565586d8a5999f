//! Running the analysis: `analyze` evaluates a fixed set of sources once; `watch` rescans a
//! directory every round and feeds only what changed. Both start timely with the requested
//! workers and processes; every process loads the truth, worker 0 of process 0 owns the
//! tables, the change log and `analysis.json`.
//!
//! What `watch` promises after every round: the tables equal a batch run over the inputs it
//! has taken in, and the change log sums to the tables. A file still being written (changed
//! less than the settle time ago) is pending and read later; a file that cannot be read is
//! quarantined with its last good contribution; neither holds the others back. A write that
//! fails is retried with backoff from the kept state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use timely::CommunicationConfig;
use timely::communication::Allocator;
use timely::worker::Worker;

use super::changelog::ChangeLog;
use super::cluster::{self, DEFAULT_PEER_TIMEOUT};
use super::coverage::{MissingShard, MissingShards, describe as describe_missing};
use super::graph::{Round, build_graph};
use super::keys::TableKey;
use super::sources::{Fingerprint, SourceKind, find_sources, units_of};
use super::state::{Pending, Skip, TableState};
use super::tables::{Table, TableContext, write_some_tables};
use super::truth::{TrainCombinations, TruthIndex};
use super::units::{EvaluationOptions, Unit, UnitChange, UnitEvent};
use crate::analysis::positions::Windows;
use crate::console::error_message;
use crate::model::metadata::check_network;
use crate::sink::labels_table::MissingFrames;
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
    /// How long to wait for the other processes (`None`: [`DEFAULT_PEER_TIMEOUT`]).
    pub peer_timeout: Option<Duration>,
}

impl ClusterOptions {
    fn threads(&self) -> usize {
        self.workers.max(1)
    }

    fn processes(&self) -> usize {
        self.processes.max(1)
    }

    /// The address of every process.
    fn addresses(&self) -> anyhow::Result<Vec<String>> {
        let processes = self.processes();
        anyhow::ensure!(
            self.process < processes,
            "--process {} is not below --processes {processes}",
            self.process
        );
        Ok(match &self.hostfile {
            // One process needs no addresses.
            _ if processes == 1 => vec![String::new()],
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
    /// The given splits of a corpus manifest framed at a third-party system's own frames
    /// (its description, `systems/NAME.toml`): the truth that system's units are compared
    /// with.
    AtSystem {
        path: PathBuf,
        splits: Vec<String>,
        system: PathBuf,
    },
}

impl TruthSource {
    /// Loads the labels; fails when they hold no shard at all.
    pub fn load(&self, fps: f64, missing: MissingFrames) -> anyhow::Result<TruthIndex> {
        let index = match self {
            Self::Labels(tables) => TruthIndex::from_labels_tables(tables, missing)?,
            Self::Manifest { path, splits } => {
                let splits: Vec<&str> = splits.iter().map(String::as_str).collect();
                TruthIndex::from_manifest(path, &splits, fps)?
            }
            Self::AtSystem {
                path,
                splits,
                system,
            } => {
                let splits: Vec<&str> = splits.iter().map(String::as_str).collect();
                let spec = crate::systems::SystemSpec::load(system)?;
                TruthIndex::from_manifest_at_system(path, &splits, &spec)?
            }
        };
        anyhow::ensure!(!index.shards.is_empty(), "{}: no labelled shards", self);
        Ok(index)
    }

    /// The files, with a digest of their bytes: what processes of a cluster compare.
    fn describe(&self) -> anyhow::Result<String> {
        let (files, extra) = match self {
            Self::Labels(tables) => (
                tables.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
                tables.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
            ),
            Self::Manifest { path, splits } => (vec![path.clone()], splits.clone()),
            Self::AtSystem {
                path,
                splits,
                system,
            } => (vec![path.clone(), system.clone()], splits.clone()),
        };
        let mut hash = Sha256::new();
        for file in &files {
            let bytes =
                std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
        Ok(format!(
            "{} file(s), split(s) {} (sha256 {})",
            files.len(),
            extra.join(","),
            short(hash)
        ))
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
            Self::AtSystem {
                path,
                splits,
                system,
            } => write!(
                f,
                "{} (split {}) at the frames of {}",
                path.display(),
                splits.join(", "),
                system.display()
            ),
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
    /// The labels' time base (`crate::sink::time_base`; every predictions table was checked
    /// against it, and every table row names it).
    pub time_base: String,
    /// `--threshold` values (empty: tables' own pitches, networks at 0.5).
    pub thresholds: Vec<f32>,
    /// Every source file, with the model names it contributed.
    pub inputs: Vec<SourceRecord>,
    /// Scans of the inputs this run made (1 for a batch analysis).
    pub rounds: u64,
    /// The number of the last scan in the change log's numbering (its lines' `round`): rounds
    /// are scans, numbered on from the last logged round when a run restarts.
    pub last_round: u64,
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
    /// Inputs not (or not fully) in the tables: files still being written, files that
    /// cannot be read (their last good contribution stays in the tables), and why.
    pub pending: Vec<Pending>,
    /// Files predicting the same (model, shard): while one stands, the tables are left as
    /// they were (a batch run fails instead).
    pub conflicts: Vec<String>,
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
    /// A changed file is read once it has been left alone this long (its modification time
    /// this far back, or the same size and time over two scans this far apart), so a writer
    /// that writes in place is never read half-way. Zero: read at once.
    pub settle: Duration,
}

impl std::fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions")
            .field("poll", &self.poll)
            .field("rounds", &self.rounds)
            .field("before_scan", &self.before_scan.is_some())
            .field("ignore", &self.ignore)
            .field("settle", &self.settle)
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
    let addresses = options.cluster.addresses()?;
    let truth = Arc::new(load_truth(options, started)?);
    let train = match options.cluster.process {
        0 => load_training_labels(options)?,
        _ => None,
    };
    // The output directory is created by the first write, so a run that fails before it
    // leaves nothing behind. An existing one is never read as input.
    let exclude = std::fs::canonicalize(&options.out).ok();
    let fingerprint = match options.cluster.processes() > 1 {
        true => Some(fingerprint(
            options, &sources, &truth, &addresses, &exclude,
        )?),
        false => None,
    };
    let context = Arc::new(WorkerContext {
        options: options.clone(),
        sources,
        watch,
        train,
        started,
        exclude,
        truth,
    });
    let work = move |worker: &mut Worker<Allocator>| run_worker(worker, &context);
    let guards = match fingerprint {
        Some(fingerprint) => cluster::execute(
            &addresses,
            options.cluster.process,
            options.cluster.threads(),
            options.cluster.peer_timeout.unwrap_or(DEFAULT_PEER_TIMEOUT),
            &fingerprint,
            work,
        )?,
        None => {
            let communication = match options.cluster.threads() {
                1 => CommunicationConfig::Thread,
                threads => CommunicationConfig::Process(threads),
            };
            let config = timely::Config {
                communication,
                worker: timely::WorkerConfig::default(),
            };
            timely::execute(config, work)
                .map_err(|e| anyhow::anyhow!("cannot start the dataflow: {e}"))?
        }
    };
    let mut summary = None;
    for result in guards.join() {
        if let Some(s) = result.map_err(|e| anyhow::anyhow!("a worker panicked: {e}"))?? {
            summary = Some(s);
        }
    }
    Ok(summary)
}

/// The labels of the analysed split(s), checked against an assumed prediction frame rate.
fn load_truth(options: &AnalysisOptions, started: Instant) -> anyhow::Result<TruthIndex> {
    let truth = options
        .truth
        .load(options.fps, options.evaluation.missing_frames)?;
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
    Ok(truth)
}

/// The training split's combinations. Training labels that were named must load: a wrong
/// split or file would mark every combination unshared without a word. Without any,
/// `shared` is NULL.
fn load_training_labels(options: &AnalysisOptions) -> anyhow::Result<Option<TrainCombinations>> {
    let Some(source) = &options.train else {
        return Ok(None);
    };
    let index = source
        .load(options.fps, options.evaluation.missing_frames)
        .with_context(|| format!("training labels {source}"))?;
    Ok(Some(TrainCombinations::from_index(&index)))
}

/// What every worker of a run reads.
struct WorkerContext {
    options: AnalysisOptions,
    sources: Sources,
    watch: WatchOptions,
    train: Option<TrainCombinations>,
    started: Instant,
    exclude: Option<PathBuf>,
    truth: Arc<TruthIndex>,
}

/// One worker's rounds: worker 0 scans the sources and feeds their changes in; every worker
/// computes; worker 0 writes the tables. Returns worker 0's summary of the last round.
fn run_worker(
    worker: &mut Worker<Allocator>,
    context: &WorkerContext,
) -> anyhow::Result<Option<AnalysisSummary>> {
    let WorkerContext {
        options,
        watch,
        truth,
        ..
    } = context;
    let index = worker.index();
    let watching = watch.rounds != Some(1);
    let mut graph = build_graph(worker, truth.clone(), options.evaluation.clone(), watching);
    let mut feeder = (index == 0).then(|| {
        let mut feeder = Feeder::new(&context.sources, truth, watch, &context.exclude);
        feeder.lowest_pitch = options.evaluation.lowest_pitch;
        feeder
    });
    let mut sink = match index {
        0 => Some(Sink::open(options, context.train.clone(), truth, watching)?),
        _ => None,
    };
    let mut round: Round = 0;
    loop {
        if let (Some(hook), 0) = (&watch.before_scan, index) {
            hook(round);
        }
        let round_started = Instant::now();
        if let Some(feeder) = &mut feeder {
            match feeder.scan() {
                Ok(events) => events.into_iter().for_each(|e| graph.events.send(e)),
                // A watched directory can be briefly unreadable; say so and look again
                // next round.
                Err(e) if watching => tracing::error!("{}", error_message(&e)),
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
        let last = watch.rounds.is_some_and(|r| round >= r);
        let mut summary = None;
        if let (Some(sink), Some(feeder)) = (&mut sink, &feeder) {
            sink.absorb(std::mem::take(&mut *graph.updates.borrow_mut()));
            let facts = RoundFacts {
                scans: round,
                sources: feeder.known.len(),
                units: feeder.known.values().map(|(_, u)| u.len()).sum(),
                shards: truth.shards.len(),
                labelled_frames: truth.labelled_frames(),
                workers: worker.peers(),
                processes: options.cluster.processes(),
                pending: feeder.pending(),
                known: &feeder.known,
                started: context.started,
                round_started,
            };
            summary = sink.flush(round - 1, last, facts)?;
            // Scan, evaluation, aggregation and writing: what scripts/scale-analyze.sh times.
            tracing::debug!(
                round,
                seconds = round_started.elapsed().as_secs_f64(),
                "round done"
            );
        }
        if last {
            return Ok(summary);
        }
        std::thread::sleep(watch.poll);
    }
}

/// What every process of a cluster must share: the program, the cluster's shape, the truth
/// (by content), the training labels and sources (by file name and size), the options.
fn fingerprint(
    options: &AnalysisOptions,
    sources: &Sources,
    truth: &TruthIndex,
    addresses: &[String],
    exclude: &Option<PathBuf>,
) -> anyhow::Result<cluster::Fingerprint> {
    let sources = match sources {
        Sources::Fixed(roots) => {
            let mut hash = Sha256::new();
            let (mut files, mut bytes) = (0, 0);
            for root in roots {
                for (path, print) in find_sources(root, exclude.as_deref()).unwrap_or_default() {
                    hash.update(path.to_string_lossy().as_bytes());
                    hash.update(print.0.to_le_bytes());
                    files += 1;
                    bytes += print.0;
                }
            }
            format!(
                "{files} files, {bytes} bytes (sha256 of names and sizes {})",
                short(hash)
            )
        }
        Sources::Watched(dir) => format!("watched directory {}", dir.display()),
    };
    let train = match &options.train {
        Some(source) => source.describe()?,
        None => "none".to_string(),
    };
    Ok(vec![
        ("entangle version".into(), env!("CARGO_PKG_VERSION").into()),
        ("process addresses".into(), addresses.join(" ")),
        (
            "workers per process".into(),
            options.cluster.threads().to_string(),
        ),
        ("labels".into(), truth.describe()),
        ("training labels".into(), train),
        ("frame rate".into(), options.fps.to_string()),
        (
            "evaluation options".into(),
            format!("{:?}", options.evaluation),
        ),
        ("sources".into(), sources),
    ])
}

/// The first 16 hex digits of a digest: enough to tell inputs apart in a message.
pub(crate) fn short(hash: Sha256) -> String {
    hex::encode(hash.finalize())[..16].to_string()
}

fn write_summary(dir: &Path, summary: &AnalysisSummary) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(summary)?;
    write_atomically(&dir.join(SUMMARY), |w| std::io::Write::write_all(w, &json))?;
    Ok(())
}

/// The reason given for a file that is still settling.
const SETTLING: &str = "being written";

/// Worker 0's view of the sources: what it has fed, and what changed since.
struct Feeder {
    sources: Sources,
    truth: Arc<TruthIndex>,
    ignore: Vec<String>,
    settle: Duration,
    /// The output directory, never read as input.
    exclude: Option<PathBuf>,
    known: BTreeMap<PathBuf, (Fingerprint, Vec<Unit>)>,
    /// `--lowest-pitch`, for networks checked before they are fed.
    lowest_pitch: Option<u8>,
    /// Changed files waiting to settle: the fingerprint seen, and since when.
    settling: BTreeMap<PathBuf, (Fingerprint, Instant)>,
    /// Files that give no units (a network without audio to run on, or without a lowest
    /// pitch), and why: reported once per version of the file.
    unusable: BTreeMap<PathBuf, (Fingerprint, String)>,
}

impl Feeder {
    fn new(
        sources: &Sources,
        truth: &Arc<TruthIndex>,
        watch: &WatchOptions,
        exclude: &Option<PathBuf>,
    ) -> Self {
        Self {
            sources: sources.clone(),
            truth: truth.clone(),
            ignore: watch.ignore.clone(),
            settle: match sources {
                Sources::Watched(_) => watch.settle,
                Sources::Fixed(_) => Duration::ZERO,
            },
            exclude: exclude.clone(),
            known: BTreeMap::new(),
            lowest_pitch: None,
            settling: BTreeMap::new(),
            unusable: BTreeMap::new(),
        }
    }

    /// Files seen but not taken in, and why.
    fn pending(&self) -> Vec<Pending> {
        let settling = self.settling.keys().map(|path| Pending {
            file: path.display().to_string(),
            reason: format!(
                "{SETTLING}: read once it is left alone for {:.1} s",
                self.settle.as_secs_f64()
            ),
        });
        let unusable = self.unusable.iter().map(|(path, (_, why))| Pending {
            file: path.display().to_string(),
            reason: why.clone(),
        });
        settling.chain(unusable).collect()
    }

    /// Whether a file with this fingerprint has been left alone long enough to read.
    fn settled(&mut self, path: &Path, print: Fingerprint) -> bool {
        if self.settle.is_zero() {
            return true;
        }
        let modified = SystemTime::UNIX_EPOCH + Duration::from_nanos(print.1 as u64);
        let quiet = SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= self.settle);
        // Also settled when seen unchanged for the settle time: a modification time in the
        // future (another machine's clock) must not hold a file back for ever.
        let seen_still = self
            .settling
            .get(path)
            .is_some_and(|(seen, since)| *seen == print && since.elapsed() >= self.settle);
        if quiet || seen_still {
            self.settling.remove(path);
            return true;
        }
        if self
            .settling
            .get(path)
            .is_none_or(|(seen, _)| *seen != print)
        {
            self.settling
                .insert(path.to_path_buf(), (print, Instant::now()));
        }
        false
    }

    /// Events for every file that appeared, changed or disappeared since the last scan.
    fn scan(&mut self) -> anyhow::Result<Vec<UnitEvent>> {
        let Some(found) = self.find()? else {
            return Ok(Vec::new());
        };
        self.settling.retain(|p, _| found.contains_key(p));
        self.unusable.retain(|p, _| found.contains_key(p));
        let mut events = self.retract_gone(&found);
        for (path, print) in found {
            let unchanged = self
                .known
                .get(&path)
                .is_some_and(|(known, _)| *known == print)
                || self
                    .unusable
                    .get(&path)
                    .is_some_and(|(known, _)| *known == print);
            // A file being written keeps its last contribution until it settles.
            if unchanged || !self.settled(&path, print) {
                continue;
            }
            self.unusable.remove(&path);
            let Some(units) = self.units(&path, print)? else {
                continue;
            };
            events.extend(self.replace(path, print, units));
        }
        Ok(events)
    }

    /// The source files now, less the ignored ones; `None` for fixed sources already read.
    fn find(&self) -> anyhow::Result<Option<BTreeMap<PathBuf, Fingerprint>>> {
        let found = match &self.sources {
            Sources::Fixed(_) if !self.known.is_empty() => return Ok(None),
            Sources::Fixed(roots) => {
                let mut found = BTreeMap::new();
                for root in roots {
                    anyhow::ensure!(
                        root.exists(),
                        "{}: no such file or directory",
                        root.display()
                    );
                    found.extend(find_sources(root, self.exclude.as_deref())?);
                }
                found
            }
            Sources::Watched(dir) => find_sources(dir, self.exclude.as_deref())?,
        };
        let ignored = |p: &PathBuf| {
            p.file_name()
                .is_some_and(|n| self.ignore.iter().any(|i| n.to_string_lossy() == *i))
        };
        Ok(Some(
            found.into_iter().filter(|(p, _)| !ignored(p)).collect(),
        ))
    }

    /// Retraction events for the known files that are gone.
    fn retract_gone(&mut self, found: &BTreeMap<PathBuf, Fingerprint>) -> Vec<UnitEvent> {
        let gone: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|p| !found.contains_key(*p))
            .cloned()
            .collect();
        let mut events = Vec::new();
        for path in gone {
            let (_, units) = self.known.remove(&path).expect("known");
            tracing::info!(file = %path.display(), "removed: retracting its rows");
            events.extend(units.into_iter().map(|unit| UnitEvent {
                unit,
                change: UnitChange::Remove,
            }));
        }
        events
    }

    /// The units of a new or changed file. A file that gives none fails a batch run; while
    /// watching it is reported (once for this version) and retried when it changes (`None`).
    fn units(&mut self, path: &Path, print: Fingerprint) -> anyhow::Result<Option<Vec<Unit>>> {
        // A network must say (or be told) which pitch its first output is before any
        // shard is run through it: one clear error, not one per shard.
        let checked = match SourceKind::of(path) {
            Some(SourceKind::Network) => check_network(path, self.lowest_pitch, self.truth.fps)
                .map(drop)
                .map_err(anyhow::Error::from),
            _ => Ok(()),
        };
        match checked.and_then(|()| units_of(path, &self.truth)) {
            Ok(units) => Ok(Some(units)),
            Err(e) if matches!(self.sources, Sources::Watched(_)) => {
                let message = error_message(&e);
                tracing::error!("{message}");
                self.unusable.insert(path.to_path_buf(), (print, message));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Events replacing a file's old units with `units`.
    fn replace(&mut self, path: PathBuf, print: Fingerprint, units: Vec<Unit>) -> Vec<UnitEvent> {
        let old: BTreeSet<Unit> = self
            .known
            .remove(&path)
            .map(|(_, u)| u.into_iter().collect())
            .unwrap_or_default();
        if !old.is_empty() {
            tracing::info!(file = %path.display(), "changed: replacing its rows");
        }
        let mut events: Vec<UnitEvent> = old
            .iter()
            .filter(|u| !units.contains(u))
            .map(|unit| UnitEvent {
                unit: unit.clone(),
                change: UnitChange::Remove,
            })
            .collect();
        events.extend(units.iter().map(|unit| UnitEvent {
            unit: unit.clone(),
            change: UnitChange::Load,
        }));
        self.known.insert(path, (print, units));
        events
    }
}

/// The known source files with the models each contributed (from the coverage facts).
fn records(
    known: &BTreeMap<PathBuf, (Fingerprint, Vec<Unit>)>,
    state: &TableState,
) -> Vec<SourceRecord> {
    let mut models: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for key in state.rows.keys() {
        if let TableKey::Coverage { model, unit, .. } = key {
            models.entry(unit).or_default().insert(model.to_string());
        }
    }
    known
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

/// What the summary of a round says besides the sink's state.
struct RoundFacts<'a> {
    scans: u64,
    sources: usize,
    units: usize,
    shards: usize,
    labelled_frames: usize,
    workers: usize,
    processes: usize,
    pending: Vec<Pending>,
    /// The source files taken in, and their units.
    known: &'a BTreeMap<PathBuf, (Fingerprint, Vec<Unit>)>,
    started: Instant,
    round_started: Instant,
}

/// Failed writes are retried after a pause that doubles, up to a limit.
#[derive(Debug, Default)]
struct Backoff {
    /// When the next attempt may start, and the pause after it if it fails too.
    next: Option<(Instant, Duration)>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const LIMIT: Duration = Duration::from_secs(30);

    fn waiting(&self) -> bool {
        self.next.is_some_and(|(when, _)| Instant::now() < when)
    }

    /// Records a failure; returns the pause before the next attempt.
    fn failed(&mut self) -> Duration {
        let pause = self.next.map_or(Self::FIRST, |(_, pause)| pause);
        self.next = Some((Instant::now() + pause, (pause * 2).min(Self::LIMIT)));
        pause
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
    /// The windows of the `positions` table, in frames.
    windows: Windows,
    watching: bool,
    /// The log's round number of this run's first scan.
    first_round: u64,
    /// The tables on disk that are behind the state (or were never written).
    unwritten: BTreeSet<Table>,
    /// Table rows changed since the log last recorded them.
    unlogged: BTreeSet<TableKey>,
    /// What `analysis.json` last said was pending, and what last held the tables back.
    reported: (Vec<Pending>, Vec<String>),
    /// For `analysis.json`: where the labels came from, and the thresholds.
    labels: String,
    train_labels: Option<String>,
    thresholds: Vec<f32>,
    summary_stale: bool,
    backoff: Backoff,
}

impl Sink {
    fn open(
        options: &AnalysisOptions,
        train: Option<TrainCombinations>,
        truth: &Arc<TruthIndex>,
        watching: bool,
    ) -> anyhow::Result<Self> {
        let log = ChangeLog::open(&options.out)?;
        let windows = options.evaluation.positions.at(truth.fps);
        // Rounds continue after the last one the log or the summary knows.
        let summarised = std::fs::read(options.out.join(SUMMARY))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["last_round"].as_u64())
            .map_or(0, |r| r + 1);
        Ok(Self {
            out: options.out.clone(),
            state: TableState::default(),
            missing: MissingShards::new(truth, windows),
            windows,
            truth: truth.clone(),
            strict: options.evaluation.strict,
            labels: options.truth.to_string(),
            train_labels: options.train.as_ref().map(ToString::to_string),
            thresholds: options.evaluation.thresholds.clone(),
            first_round: log.next_round.max(summarised),
            log,
            train,
            watching,
            unwritten: Table::ALL.into_iter().collect(),
            unlogged: BTreeSet::new(),
            reported: Default::default(),
            summary_stale: true,
            backoff: Backoff::default(),
        })
    }

    /// Adds a round's updates to the state, and the predicted-empty stand-ins for the
    /// shards no source covers.
    fn absorb(&mut self, updates: Vec<super::graph::Update>) {
        let mut touched = self
            .state
            .apply(updates.into_iter().map(|(key, _, diff)| (key, diff)));
        touched.extend(self.missing.update(&mut self.state));
        for key in &touched {
            self.unwritten.extend(Table::of_key(key));
        }
        // Facts (skips, coverage, problems) are in the summary, not in the tables.
        self.summary_stale |= touched.iter().any(|key| !key.is_table_row());
        let rows = touched.into_iter().filter(TableKey::is_table_row);
        match self.unlogged.is_empty() {
            // Built from the sorted keys at once (the usual case: the last round was logged).
            true => self.unlogged = rows.collect(),
            false => self.unlogged.extend(rows),
        }
    }

    /// Brings the tables, the log and the summary up to the state after scan `scan` of this
    /// run. A batch run fails on any problem; a watched run reports quarantined files and
    /// writes the others, holds the tables back only while a conflict (or, with `--strict`,
    /// a shard without predictions) stands, and retries failed writes with backoff
    /// (returning the summary once one succeeds).
    fn flush(
        &mut self,
        scan: u64,
        last: bool,
        facts: RoundFacts<'_>,
    ) -> anyhow::Result<Option<AnalysisSummary>> {
        let conflicts = self.state.conflicts();
        let missing = describe_missing(&self.missing.missing(), &self.truth);
        // With --strict a labelled shard without predictions is a problem like a conflict.
        let strict_missing: Vec<String> = match self.strict {
            true => missing.iter().map(|m| format!("{m} (--strict)")).collect(),
            false => Vec::new(),
        };
        if !self.watching {
            let mut problems = self.state.problems();
            problems.extend(strict_missing.iter().cloned());
            anyhow::ensure!(
                problems.is_empty(),
                "{} problem(s); the tables in {} are left as they were:\n  {}",
                problems.len(),
                self.out.display(),
                problems.join("\n  ")
            );
        }
        let quarantined = self.state.quarantined();
        let mut pending = facts.pending.clone();
        pending.extend(quarantined.iter().cloned());
        pending.sort();
        // What holds the tables back.
        let held: Vec<String> = conflicts.iter().chain(&strict_missing).cloned().collect();
        if (&pending, &held) != (&self.reported.0, &self.reported.1) {
            for p in pending.iter().filter(|p| !self.reported.0.contains(p)) {
                match quarantined.contains(p) {
                    true => tracing::warn!(
                        "quarantined: {}; the other inputs go on, and what it gave before (if anything) stays in the tables until it reads cleanly",
                        p.reason
                    ),
                    // Settling is routine (every new file does it). A file that gives no
                    // units was reported as an error by the feeder already.
                    false if p.reason.starts_with(SETTLING) => {
                        tracing::info!("pending: {}: {}", p.file, p.reason)
                    }
                    false => {}
                }
            }
            if !held.is_empty() {
                tracing::error!(
                    "{} problem(s); the tables in {} are left as they were until it is resolved:\n  {}",
                    held.len(),
                    self.out.display(),
                    held.join("\n  ")
                );
            }
            self.reported = (pending.clone(), held.clone());
            self.summary_stale = true;
        }
        let blocked = !held.is_empty();
        let behind = !blocked && (!self.unwritten.is_empty() || !self.unlogged.is_empty());
        if !(behind || self.summary_stale || last) || (self.backoff.waiting() && !last) {
            return Ok(None);
        }
        let round = self.first_round + scan;
        match self.write(round, blocked, &missing, pending, conflicts, facts) {
            Ok(summary) => {
                self.backoff = Backoff::default();
                Ok(Some(summary))
            }
            Err(e) if self.watching && !last => {
                let pause = self.backoff.failed();
                tracing::warn!(
                    "{}; keeping the state, and trying again in {:.1} s",
                    error_message(&e),
                    pause.as_secs_f64()
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Rewrites the tables whose rows changed (saying first what they leave out), and returns
    /// the change log's record of the round, made meanwhile (appended once they are written).
    fn write_changed_tables(
        &mut self,
        round: u64,
        missing: &[String],
    ) -> anyhow::Result<super::changelog::Record> {
        for line in missing {
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
        let tables: Vec<Table> = self.unwritten.iter().copied().collect();
        let time_base = self.truth.time_base_name();
        let context = TableContext {
            train: self.train.as_ref(),
            time_base: &time_base,
            windows: self.windows,
        };
        let (written, prepared) = rayon::join(
            || write_some_tables(&self.out, &self.state, context, &tables),
            || self.log.prepare(round, &self.state, &self.unlogged),
        );
        written?;
        self.unwritten.clear();
        tracing::info!(
            tables = tables.len(),
            rows = self.state.table_rows().count(),
            seconds = writing.elapsed().as_secs_f64(),
            "tables written to {}",
            self.out.display()
        );
        prepared
    }

    fn write(
        &mut self,
        round: u64,
        blocked: bool,
        missing: &[String],
        pending: Vec<Pending>,
        conflicts: Vec<String>,
        facts: RoundFacts<'_>,
    ) -> anyhow::Result<AnalysisSummary> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("{}: cannot create", self.out.display()))?;
        if !blocked {
            // Appended after the tables: a crash in between is mended by the next start,
            // which logs the difference between the replayed log and the rebuilt state.
            let record = match self.unwritten.is_empty() {
                true => self.log.prepare(round, &self.state, &self.unlogged)?,
                false => self.write_changed_tables(round, missing)?,
            };
            let lines = self.log.append_record(record)?;
            self.unlogged.clear();
            tracing::debug!(round, lines, "change log appended");
        }
        let summary = AnalysisSummary {
            labels: self.labels.clone(),
            train_labels: self.train_labels.clone(),
            fps: self.truth.fps,
            time_base: self.truth.time_base_name(),
            thresholds: self.thresholds.clone(),
            inputs: records(facts.known, &self.state),
            rounds: facts.scans,
            last_round: round,
            sources: facts.sources,
            units: facts.units,
            shards: facts.shards,
            labelled_frames: facts.labelled_frames,
            workers: facts.workers,
            processes: facts.processes,
            skipped: self.state.skipped(),
            missing_shards: self.missing.missing(),
            pending,
            conflicts,
            seconds: facts.started.elapsed().as_secs_f64(),
            last_round_seconds: facts.round_started.elapsed().as_secs_f64(),
        };
        write_summary(&self.out, &summary)?;
        self.summary_stale = false;
        Ok(summary)
    }
}
