//! Which audio a note file belongs to, for the shard-length rule (schemas/labels.md): a
//! shard is exactly as long as its audio's spectrogram whenever the audio is known, so the
//! labels written by `entangle labels` and those computed from a manifest agree frame for
//! frame. Only when no audio is known does a shard end with its last note.

use std::path::{Path, PathBuf};

use crate::corpus::manifest::ManifestRow;

/// Where the audio of `notes` is, looked up in this order: the manifest row whose note list
/// is `notes` (or, failing that, whose shard is its stem); a WAV of the same stem beside it;
/// `audio/STEM.wav` beside a `labels/` directory (entangle's corpus layout). `None` when none
/// of them exists.
pub fn find_audio(notes: &Path, manifest: Option<&[ManifestRow]>) -> Option<PathBuf> {
    let stem = notes.file_stem()?.to_string_lossy().into_owned();
    if let Some(rows) = manifest {
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let wanted = canonical(notes);
        let row = rows
            .iter()
            .find(|r| wanted.is_some() && canonical(Path::new(&r.labels_path)) == wanted)
            .or_else(|| rows.iter().find(|r| r.shard == stem));
        if let Some(row) = row {
            return Some(PathBuf::from(&row.path));
        }
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
