//! Manifests of corpora entangle did not render (`entangle corpus`): a directory of recordings
//! beside their note lists, or MAESTRO's CSV. Files are visited one at a time (the audio is
//! only opened for its header and hashed in blocks), so a 200-hour corpus costs the memory
//! of its manifest rows. Every pair is checked before the manifest is written: both files
//! exist, the notes fit the audio's duration (and the CSV's, for MAESTRO), and every error
//! names the file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::manifest::{ManifestRow, write_manifest};
use crate::labels::{ReadOptions, read_notes};

/// Note-list extensions a recording can be paired with.
pub const NOTE_EXTENSIONS: [&str; 5] = ["mid", "midi", "txt", "notes", "csv"];

/// How far the notes may run past the end of the audio (release tails, rounding), seconds.
pub const NOTES_PAST_AUDIO: f64 = 1.0;

/// How far a CSV's `duration` may be from the audio's, seconds.
pub const DURATION_TOLERANCE: f64 = 0.5;

/// How a directory's pairs are split.
#[derive(Debug, Clone)]
pub enum Splits {
    /// A text file of `STEM SPLIT` lines (whitespace or a comma between; `#` comments).
    File(PathBuf),
    /// A seeded random split: each stem goes to test with probability `test`, else to
    /// validation with probability `validation`, else to train. The draw depends only on
    /// the seed and the stem, so adding files does not move the others.
    Random {
        seed: u64,
        validation: f64,
        test: f64,
    },
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every file under `root`, sorted, skipping hidden ones.
fn walk(root: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(root).with_context(|| format!("{}: cannot read", root.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Seconds of audio in a WAV file, from its header.
pub fn wav_seconds(path: &Path) -> anyhow::Result<f64> {
    let reader = hound::WavReader::open(path)
        .with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    Ok(f64::from(reader.duration()) / f64::from(reader.spec().sample_rate))
}

/// SHA-256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks one (audio, notes) pair and makes its manifest row.
fn row(shard: String, audio: &Path, notes: &Path, split: &str) -> anyhow::Result<ManifestRow> {
    anyhow::ensure!(audio.is_file(), "{}: no such audio file", audio.display());
    anyhow::ensure!(notes.is_file(), "{}: no such note list", notes.display());
    let duration = wav_seconds(audio)?;
    let list = read_notes(notes, ReadOptions::default())?;
    let end = list.iter().map(|n| n.offset).fold(0.0, f64::max);
    anyhow::ensure!(
        end <= duration + NOTES_PAST_AUDIO,
        "{}: its notes end at {end:.2} s, but its audio {} lasts {duration:.2} s: not a pair",
        notes.display(),
        audio.display()
    );
    let absolute = |p: &Path| {
        std::fs::canonicalize(p)
            .with_context(|| format!("{}: cannot resolve", p.display()))
            .map(|p| p.to_string_lossy().into_owned())
    };
    Ok(ManifestRow {
        shard,
        path: absolute(audio)?,
        labels_path: absolute(notes)?,
        split: split.to_string(),
        soundfont: "recorded".into(),
        bank: 0,
        program: 0,
        velocity: 0,
        reverb: false,
        duration,
        sha256: sha256_file(audio)?,
    })
}

fn read_split_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut splits = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        anyhow::ensure!(
            fields.len() == 2,
            "{}:{}: expected `STEM SPLIT`, found {line:?}",
            path.display(),
            i + 1
        );
        if let Some(previous) = splits.insert(fields[0].to_string(), fields[1].to_string()) {
            anyhow::bail!(
                "{}:{}: {} is listed twice (also in {previous})",
                path.display(),
                i + 1,
                fields[0]
            );
        }
    }
    Ok(splits)
}

/// A number in [0, 1) drawn from (seed, stem).
fn draw(seed: u64, stem: &str) -> f64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(stem.as_bytes())
        .finalize();
    let bits = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The manifest of a directory of recordings (`.wav`) and note lists (MIDI, MAPS or mir_eval
/// `.txt`, madmom `.notes`, MusicNet `.csv`) paired by file stem anywhere under `root`.
/// Writes `out` and returns its rows.
pub fn manifest_from_dir(
    root: &Path,
    splits: &Splits,
    out: &Path,
) -> anyhow::Result<Vec<ManifestRow>> {
    let (audio, notes) = pair_by_stem(root)?;
    let assign = SplitAssignment::new(splits, root, &audio)?;
    let mut rows = Vec::with_capacity(audio.len());
    for (stem, wav) in &audio {
        let list = notes.get(stem).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no note list of the same name (.{})",
                wav.display(),
                NOTE_EXTENSIONS.join(", .")
            )
        })?;
        let split = assign.split_of(stem, wav)?;
        rows.push(row(stem.clone(), wav, list, &split)?);
    }
    write_manifest(out, &rows)?;
    Ok(rows)
}

/// Files by their stem.
type ByStem = BTreeMap<String, PathBuf>;

/// The recordings and the note lists under `root`, each by file stem; an error when a stem
/// is taken twice or a note list has no recording.
fn pair_by_stem(root: &Path) -> anyhow::Result<(ByStem, ByStem)> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    let mut audio = ByStem::new();
    let mut notes = ByStem::new();
    for file in files {
        let (map, kind) = match extension(&file).as_deref() {
            Some("wav") => (&mut audio, "recording"),
            Some(e) if NOTE_EXTENSIONS.contains(&e) => (&mut notes, "note list"),
            _ => continue,
        };
        if let Some(other) = map.insert(stem(&file), file.clone()) {
            anyhow::bail!(
                "{}: another {kind} has the same name ({}); stems pair recordings with notes, so they must be unique",
                file.display(),
                other.display()
            );
        }
    }
    anyhow::ensure!(!audio.is_empty(), "{}: no .wav files", root.display());
    if let Some((_, lonely)) = notes.iter().find(|(s, _)| !audio.contains_key(*s)) {
        anyhow::bail!(
            "{}: a note list without a recording of the same name",
            lonely.display()
        );
    }
    Ok((audio, notes))
}

/// How recordings get their split: listed in a split file, or drawn from the stem's hash.
enum SplitAssignment<'a> {
    Listed {
        path: &'a Path,
        listed: BTreeMap<String, String>,
    },
    Random {
        seed: u64,
        validation: f64,
        test: f64,
    },
}

impl<'a> SplitAssignment<'a> {
    /// Reads the split file (every stem it lists must have a recording) or checks the
    /// fractions.
    fn new(splits: &'a Splits, root: &Path, audio: &ByStem) -> anyhow::Result<Self> {
        match splits {
            Splits::File(path) => {
                let listed = read_split_file(path)?;
                if let Some(stem) = listed.keys().find(|s| !audio.contains_key(*s)) {
                    anyhow::bail!(
                        "{}: lists {stem}, which has no recording under {}",
                        path.display(),
                        root.display()
                    );
                }
                Ok(Self::Listed { path, listed })
            }
            &Splits::Random {
                seed,
                validation,
                test,
            } => {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&validation)
                        && (0.0..=1.0).contains(&test)
                        && validation + test <= 1.0,
                    "--validation-fraction {validation} and --test-fraction {test} must be fractions summing to at most 1"
                );
                Ok(Self::Random {
                    seed,
                    validation,
                    test,
                })
            }
        }
    }

    fn split_of(&self, stem: &str, wav: &Path) -> anyhow::Result<String> {
        match self {
            Self::Listed { path, listed } => listed.get(stem).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: {} is not in the split file {}",
                    wav.display(),
                    stem,
                    path.display()
                )
            }),
            &Self::Random {
                seed,
                validation,
                test,
            } => {
                let x = draw(seed, stem);
                Ok(if x < test {
                    "test".into()
                } else if x < test + validation {
                    "validation".into()
                } else {
                    "train".into()
                })
            }
        }
    }
}

/// The manifest of a MAESTRO-style corpus: the CSV's rows (`split`, `midi_filename`,
/// `audio_filename`, `duration`, paths relative to `root`), its splits kept. Writes `out` and
/// returns its rows.
pub fn manifest_from_maestro(
    csv_path: &Path,
    root: &Path,
    out: &Path,
) -> anyhow::Result<Vec<ManifestRow>> {
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("{}: cannot read", csv_path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header", csv_path.display()))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no {name:?} column (MAESTRO's CSV has split, midi_filename, audio_filename, duration; found {})",
                csv_path.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (split, midi, audio, duration) = (
        column("split")?,
        column("midi_filename")?,
        column("audio_filename")?,
        column("duration")?,
    );
    let mut rows: Vec<ManifestRow> = Vec::new();
    let mut shards = std::collections::HashSet::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: malformed row", csv_path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = || format!("{}:{line}", csv_path.display());
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let wav = root.join(field(audio));
        let notes = root.join(field(midi));
        let listed: f64 = field(duration)
            .parse()
            .ok()
            .filter(|d: &f64| d.is_finite() && *d >= 0.0)
            .ok_or_else(|| {
                anyhow::anyhow!("{}: duration {:?} is not seconds", at(), field(duration))
            })?;
        anyhow::ensure!(!field(split).is_empty(), "{}: empty split", at());
        let shard = stem(&wav);
        anyhow::ensure!(
            shards.insert(shard.clone()),
            "{}: {shard} is listed twice",
            at()
        );
        let row = row(shard, &wav, &notes, field(split)).with_context(at)?;
        anyhow::ensure!(
            (row.duration - listed).abs() <= DURATION_TOLERANCE,
            "{}: {} lasts {:.2} s, the CSV says {listed:.2} s",
            at(),
            wav.display(),
            row.duration
        );
        rows.push(row);
    }
    anyhow::ensure!(!rows.is_empty(), "{}: no rows", csv_path.display());
    write_manifest(out, &rows)?;
    Ok(rows)
}
