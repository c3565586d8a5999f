//! Finding source units: prediction tables, MIDI transcriptions, ONNX networks and
//! third-party system descriptions given as files or found in directories, each with a fingerprint so a rescan can tell a new,
//! replaced or removed file from an unchanged one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::truth::TruthIndex;
use super::units::{Unit, UnitKind};

/// What a file is, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    PredictionTable,
    Transcription,
    Network,
    /// A third-party system's description (`systems/NAME.toml`).
    System,
}

impl SourceKind {
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Some(Self::PredictionTable),
            // madmom's note transcribers write `.notes`.
            "mid" | "midi" | "notes" => Some(Self::Transcription),
            "onnx" => Some(Self::Network),
            "toml" => Some(Self::System),
            _ => None,
        }
    }
}

/// Size, modification time (ns since the epoch), status-change time and inode: changes
/// whenever a file is rewritten, replaced by a rename, or has its permissions changed (so a
/// file made readable again is read again).
pub type Fingerprint = (u64, u128, u128, u64);

pub fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let changed = (meta.ctime().max(0) as u128) * 1_000_000_000 + meta.ctime_nsec().max(0) as u128;
    Ok((meta.len(), modified, changed, meta.ino()))
}

/// Source files under `root` (a file, or a directory searched recursively), skipping hidden
/// files (our temporaries), the directory `exclude` (the output directory, canonical, however
/// it is reached), and a training run's `best.onnx` (a copy of one of the `epoch-NNNN.onnx`
/// beside it).
pub fn find_sources(
    root: &Path,
    exclude: Option<&Path>,
) -> anyhow::Result<BTreeMap<PathBuf, Fingerprint>> {
    let mut found = BTreeMap::new();
    if root.is_file() {
        anyhow::ensure!(
            SourceKind::of(root).is_some(),
            "{}: not a predictions table (.parquet), transcription (.mid, .notes), network (.onnx) \
             or system description (.toml)",
            root.display()
        );
        found.insert(root.to_path_buf(), fingerprint(root)?);
        return Ok(found);
    }
    let entries = std::fs::read_dir(root)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", root.display()))?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    let training_run = entries.iter().any(|p| is_epoch_export(p));
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        // A training run's best.onnx is a copy of one of its epoch-NNNN.onnx: analysed, it
        // would be a duplicate model called "best".
        if training_run && path.file_name().is_some_and(|n| n == BEST_EXPORT) {
            continue;
        }
        if path.is_dir() {
            let excluded =
                exclude.is_some_and(|x| std::fs::canonicalize(&path).is_ok_and(|p| p == x));
            if excluded {
                continue;
            }
            found.extend(find_sources(&path, exclude)?);
        } else if SourceKind::of(&path).is_some_and(|k| k != SourceKind::System) {
            // System descriptions are sources only when named: a directory's other TOML files
            // (a pyproject.toml, a pipeline spec) are not systems.
            // A file can vanish between listing and stat; the next scan sees it gone.
            if let Ok(f) = fingerprint(&path) {
                found.insert(path, f);
            }
        }
    }
    Ok(found)
}

/// The copy of the best epoch that training writes next to the `epoch-NNNN.onnx` files.
pub const BEST_EXPORT: &str = "best.onnx";

/// `epoch-NNNN.onnx`, a training run's per-epoch export.
fn is_epoch_export(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("epoch-")?.strip_suffix(".onnx"))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The units of one source file. A network runs on every shard that has audio.
pub fn units_of(path: &Path, truth: &TruthIndex) -> anyhow::Result<Vec<Unit>> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let kind = SourceKind::of(path)
        .ok_or_else(|| anyhow::anyhow!("{}: unknown kind of source", path.display()))?;
    Ok(match kind {
        SourceKind::PredictionTable => vec![Unit {
            path: path.to_path_buf(),
            kind: UnitKind::PredictionTable,
        }],
        SourceKind::Transcription => {
            // Transcriptions of one system sit in a directory named after it; the whole
            // name (`basic-pitch@0.3` is not a file with the extension `.3`).
            let model = path
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            vec![Unit {
                path: path.to_path_buf(),
                kind: UnitKind::Transcription { model },
            }]
        }
        SourceKind::Network => {
            let model = stem(path);
            shards_with_audio(path, truth, "network")?
                .into_iter()
                .map(|shard| Unit {
                    path: path.to_path_buf(),
                    kind: UnitKind::Network {
                        model: model.clone(),
                        shard,
                    },
                })
                .collect()
        }
        SourceKind::System => {
            let spec = crate::systems::SystemSpec::load(path)?;
            // Its frames are compared with the labels by index: they must be the same frames.
            let (ours, theirs) = (truth.time_base_name(), spec.frame_times.describe());
            anyhow::ensure!(
                ours == theirs,
                "{}: system {:?} gives frames on \"{theirs}\", but the labels are on \"{ours}\"; \
                 frame them at its frames with --system {}",
                path.display(),
                spec.name,
                path.display()
            );
            shards_with_audio(path, truth, "system")?
                .into_iter()
                .map(|shard| Unit {
                    path: path.to_path_buf(),
                    kind: UnitKind::System {
                        model: spec.name.clone(),
                        shard,
                    },
                })
                .collect()
        }
    })
}

/// The labelled shards with audio, which a network or system (`what`) at `path` runs on.
fn shards_with_audio(path: &Path, truth: &TruthIndex, what: &str) -> anyhow::Result<Vec<String>> {
    let shards: Vec<_> = truth
        .shards
        .iter()
        .filter(|(_, t)| t.audio.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    anyhow::ensure!(
        !shards.is_empty(),
        "{}: a {what} needs audio to run on; give the corpus manifest (--manifest)",
        path.display()
    );
    Ok(shards)
}
