//! Which audio a note file belongs to, for the shard-length rule (schemas/labels.md): a
//! shard is exactly as long as its audio's spectrogram whenever the audio is known, so the
//! labels written by `entangle labels` and those computed from a manifest agree frame for
//! frame. Only when no audio is known does a shard end with its last note.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::corpus::manifest::ManifestRow;

/// A manifest's audio, by note list and by shard name, resolved once.
#[derive(Debug, Clone, Default)]
pub struct AudioIndex {
    by_labels: HashMap<PathBuf, PathBuf>,
    by_shard: HashMap<String, PathBuf>,
}

impl AudioIndex {
    pub fn new(rows: &[ManifestRow]) -> Self {
        let mut index = Self::default();
        for row in rows {
            let audio = PathBuf::from(&row.path);
            if let Ok(labels) = std::fs::canonicalize(&row.labels_path) {
                index.by_labels.insert(labels, audio.clone());
            }
            index.by_shard.insert(row.shard.clone(), audio);
        }
        index
    }

    /// Where the audio of `notes` is, looked up in this order: the manifest row whose note
    /// list is `notes` (or, failing that, whose shard is its stem); a WAV of the same stem
    /// beside it; `audio/STEM.wav` beside a `labels/` directory (entangle's corpus layout).
    /// `None` when none of them exists.
    pub fn find(&self, notes: &Path) -> Option<PathBuf> {
        let stem = notes.file_stem()?.to_string_lossy().into_owned();
        let listed = std::fs::canonicalize(notes)
            .ok()
            .and_then(|p| self.by_labels.get(&p))
            .or_else(|| self.by_shard.get(&stem));
        if let Some(audio) = listed {
            return Some(audio.clone());
        }
        let beside = notes.with_extension("wav");
        if beside.is_file() {
            return Some(beside);
        }
        let parent = notes.parent()?;
        if parent.file_name().is_some_and(|n| n == "labels") {
            let corpus = parent.parent()?.join("audio").join(format!("{stem}.wav"));
            if corpus.is_file() {
                return Some(corpus);
            }
        }
        None
    }
}
