//! Rendering many examples in parallel (rayon, one synthesizer per example) into a corpus
//! directory: `audio/SHARD.wav` (16-bit stereo 44.1 kHz) and `labels/SHARD.txt` (MAPS format).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use rustysynth::SoundFont;
use sha2::{Digest, Sha256};

use super::manifest::ManifestRow;
use super::render::{RenderError, RenderSettings, encode_wav_stereo16, render_notes};
use crate::audio::TARGET_SAMPLE_RATE;
use crate::labels::Note;
use crate::sink::{Durability, sync_filesystem, write_atomically_with};

/// A SoundFont preset with its rendering options.
#[derive(Clone)]
pub struct Renderer {
    /// Short name recorded in manifests (e.g. `FluidR3_GM`).
    pub soundfont_name: String,
    pub font: Arc<SoundFont>,
    pub settings: RenderSettings,
}

/// One example to render.
pub struct RenderJob {
    pub shard: String,
    pub notes: Vec<Note>,
    pub renderer: Renderer,
    /// The velocity recorded in the manifest (0 when notes differ).
    pub velocity: u8,
}

/// What rendering one example produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub shard: String,
    pub path: String,
    pub labels_path: String,
    pub soundfont: String,
    pub bank: u16,
    pub program: u8,
    pub velocity: u8,
    pub reverb: bool,
    pub duration: f64,
    pub sha256: String,
}

impl Rendered {
    pub fn into_row(self, split: &str) -> ManifestRow {
        ManifestRow {
            shard: self.shard,
            path: self.path,
            labels_path: self.labels_path,
            split: split.to_string(),
            soundfont: self.soundfont,
            bank: self.bank,
            program: self.program,
            velocity: self.velocity,
            reverb: self.reverb,
            duration: self.duration,
            sha256: self.sha256,
        }
    }
}

/// Notes as a MAPS `.txt` file.
pub fn maps_txt(notes: &[Note]) -> String {
    let mut s = String::from("OnsetTime\tOffsetTime\tMidiPitch\n");
    for n in notes {
        let _ = writeln!(s, "{}\t{}\t{}", n.onset, n.offset, n.pitch);
    }
    s
}

/// Renders `jobs` into `out_dir` (in parallel, with a progress bar when `progress`), returning
/// one [`Rendered`] per job in job order. Files are renamed into place whole and flushed to
/// disk together at the end (one `syncfs`); the caller writes the manifest after that.
pub fn render_jobs(
    out_dir: &Path,
    jobs: &[RenderJob],
    progress: bool,
) -> Result<Vec<Rendered>, RenderError> {
    for sub in ["audio", "labels"] {
        let dir = out_dir.join(sub);
        std::fs::create_dir_all(&dir).map_err(|source| {
            RenderError::Sink(crate::sink::SinkError::Create { path: dir, source })
        })?;
    }
    let bar = if progress {
        ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} [{elapsed} < {eta}]")
                .expect("valid template"),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_message("rendering");
    let rendered = jobs
        .par_iter()
        .map(|job| {
            let r = render_one(out_dir, job);
            bar.inc(1);
            r
        })
        .collect::<Result<Vec<_>, _>>();
    bar.finish_and_clear();
    sync_filesystem(out_dir)?;
    rendered
}

fn render_one(out_dir: &Path, job: &RenderJob) -> Result<Rendered, RenderError> {
    let settings = &job.renderer.settings;
    let (left, right) = render_notes(
        &job.renderer.font,
        &job.renderer.soundfont_name,
        &job.notes,
        settings,
    )?;
    let wav = encode_wav_stereo16(&left, &right);
    let path = PathBuf::from("audio").join(format!("{}.wav", job.shard));
    let labels_path = PathBuf::from("labels").join(format!("{}.txt", job.shard));
    write_atomically_with(&out_dir.join(&path), Durability::Deferred, |w| {
        std::io::Write::write_all(w, &wav)
    })?;
    let txt = maps_txt(&job.notes);
    write_atomically_with(&out_dir.join(&labels_path), Durability::Deferred, |w| {
        std::io::Write::write_all(w, txt.as_bytes())
    })?;
    Ok(Rendered {
        shard: job.shard.clone(),
        path: path.to_string_lossy().into_owned(),
        labels_path: labels_path.to_string_lossy().into_owned(),
        soundfont: job.renderer.soundfont_name.clone(),
        bank: settings.bank,
        program: settings.program,
        velocity: job.velocity,
        reverb: settings.reverb_and_chorus,
        duration: left.len() as f64 / f64::from(TARGET_SAMPLE_RATE),
        sha256: hex::encode(Sha256::digest(&wav)),
    })
}
