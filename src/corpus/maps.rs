//! Real MAPS (Emiya et al. 2010) on disk: the published layout, and the Configuration-II split
//! of Kelz et al. (2016) — train on the MUS pieces of six synthesized pianos, validate on the
//! seventh, test on the two Disklavier recordings (ENSTDkCl, ENSTDkAm). Pieces that occur in
//! the test set are removed from train and validation, so the piece lists are disjoint.
//!
//! Layout: `ROOT/<instrument>/{ISOL,RAND,UCHO,MUS}/.../MAPS_<...>_<instrument>.{wav,txt,mid}`;
//! MUS files are `MAPS_MUS-<piece>_<instrument>.wav`. Anything else under ROOT is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::ManifestRow;

/// The seven synthesized pianos of MAPS.
pub const SYNTHESIZED_PIANOS: [&str; 7] = [
    "AkPnBcht", "AkPnBsdf", "AkPnCGdD", "AkPnStgb", "SptkBGAm", "SptkBGCl", "StbgTGd2",
];
/// The two Disklavier recordings (the test set).
pub const DISKLAVIER_PIANOS: [&str; 2] = ["ENSTDkAm", "ENSTDkCl"];
/// Our default validation piano: the paper names none. `--validation-instrument` changes it.
pub const DEFAULT_VALIDATION_PIANO: &str = "SptkBGCl";

#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    #[error("{path}: cannot read MAPS directory: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: no MAPS MUS recordings found (expected <instrument>/MUS/MAPS_MUS-<piece>_<instrument>.wav)"
    )]
    Empty { path: PathBuf },
    #[error("{path}: MAPS recording has no note list beside it (expected {expected})")]
    MissingLabels { path: PathBuf, expected: PathBuf },
    #[error("unknown validation instrument {name:?}; MAPS' synthesized pianos are {}", SYNTHESIZED_PIANOS.join(", "))]
    UnknownInstrument { name: String },
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
}

/// One MUS recording.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MapsPiece {
    pub instrument: String,
    pub piece: String,
    pub wav: PathBuf,
    pub txt: PathBuf,
}

/// Parses `MAPS_MUS-<piece>_<instrument>` into (piece, instrument).
pub fn parse_mus_stem(stem: &str) -> Option<(String, String)> {
    let rest = stem.strip_prefix("MAPS_MUS-")?;
    let (piece, instrument) = rest.rsplit_once('_')?;
    (!piece.is_empty() && !instrument.is_empty())
        .then(|| (piece.to_string(), instrument.to_string()))
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), MapsError> {
    let io = |source| MapsError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type().map_err(io)?.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Finds every MUS recording of a known MAPS instrument under `root`, sorted.
pub fn scan_mus(root: &Path) -> Result<Vec<MapsPiece>, MapsError> {
    let mut wavs = Vec::new();
    walk(root, &mut wavs)?;
    let known: BTreeSet<&str> = SYNTHESIZED_PIANOS
        .iter()
        .chain(&DISKLAVIER_PIANOS)
        .copied()
        .collect();
    let mut pieces = Vec::new();
    for wav in wavs {
        let stem = wav
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((piece, instrument)) = parse_mus_stem(&stem) else {
            continue;
        };
        if !known.contains(instrument.as_str()) {
            tracing::warn!(file = %wav.display(), "skipping MUS file of unknown instrument {instrument}");
            continue;
        }
        let txt = wav.with_extension("txt");
        if !txt.exists() {
            return Err(MapsError::MissingLabels {
                path: wav.clone(),
                expected: txt,
            });
        }
        pieces.push(MapsPiece {
            instrument,
            piece,
            wav,
            txt,
        });
    }
    if pieces.is_empty() {
        return Err(MapsError::Empty {
            path: root.to_path_buf(),
        });
    }
    pieces.sort();
    Ok(pieces)
}

/// Assigns Configuration-II splits: `Some("train" | "validation" | "test")`, or `None` for
/// a synthesized-piano recording of a piece that is also in the test set.
pub fn configuration_ii<'p>(
    pieces: &'p [MapsPiece],
    validation_instrument: &str,
) -> Result<Vec<(&'p MapsPiece, Option<&'static str>)>, MapsError> {
    if !SYNTHESIZED_PIANOS.contains(&validation_instrument) {
        return Err(MapsError::UnknownInstrument {
            name: validation_instrument.to_string(),
        });
    }
    let test_pieces: BTreeSet<&str> = pieces
        .iter()
        .filter(|p| DISKLAVIER_PIANOS.contains(&p.instrument.as_str()))
        .map(|p| p.piece.as_str())
        .collect();
    Ok(pieces
        .iter()
        .map(|p| {
            let split = if DISKLAVIER_PIANOS.contains(&p.instrument.as_str()) {
                Some("test")
            } else if test_pieces.contains(p.piece.as_str()) {
                None
            } else if p.instrument == validation_instrument {
                Some("validation")
            } else {
                Some("train")
            };
            (p, split)
        })
        .collect())
}

/// The Configuration-II manifest of a MAPS tree: paths are absolute, `soundfont` holds the
/// MAPS instrument, `velocity` is 0 (it varies within a piece).
pub fn maps_manifest(
    root: &Path,
    validation_instrument: &str,
) -> Result<Vec<ManifestRow>, MapsError> {
    let pieces = scan_mus(root)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for (piece, split) in configuration_ii(&pieces, validation_instrument)? {
        let Some(split) = split else {
            *counts.entry("excluded (test piece)").or_default() += 1;
            continue;
        };
        *counts.entry(split).or_default() += 1;
        let reader = crate::audio::WavMonoReader::open(&piece.wav)?;
        let info = reader.info();
        let bytes = std::fs::read(&piece.wav).map_err(|source| MapsError::Io {
            path: piece.wav.clone(),
            source,
        })?;
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        rows.push(ManifestRow {
            shard: piece
                .wav
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            path: absolute(&piece.wav).to_string_lossy().into_owned(),
            labels_path: absolute(&piece.txt).to_string_lossy().into_owned(),
            split: split.to_string(),
            soundfont: piece.instrument.clone(),
            bank: 0,
            program: 0,
            velocity: 0,
            reverb: false,
            duration: info.frames as f64 / f64::from(info.sample_rate),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    tracing::info!(?counts, "MAPS Configuration II");
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mus_stems_parse_with_underscores_in_piece_names() {
        assert_eq!(
            parse_mus_stem("MAPS_MUS-chpn_op25_e4_ENSTDkCl"),
            Some(("chpn_op25_e4".into(), "ENSTDkCl".into()))
        );
        assert_eq!(parse_mus_stem("MAPS_ISOL_NO_F_S0_M21_AkPnBcht"), None);
    }
}
