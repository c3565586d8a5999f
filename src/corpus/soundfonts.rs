//! The SoundFonts entangle knows by name, where Debian installs them, and loading them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::SoundFont;

use super::RenderError;

/// A SoundFont shipped by a Debian package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSoundFont {
    pub name: &'static str,
    pub path: &'static str,
    pub debian_package: &'static str,
}

/// The SoundFonts the corpora are rendered with.
pub const KNOWN_SOUNDFONTS: &[KnownSoundFont] = &[
    KnownSoundFont {
        name: "FluidR3_GM",
        path: "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        debian_package: "fluid-soundfont-gm",
    },
    KnownSoundFont {
        name: "TimGM6mb",
        path: "/usr/share/sounds/sf2/TimGM6mb.sf2",
        debian_package: "timgm6mb-soundfont",
    },
    KnownSoundFont {
        name: "MuseScore_General",
        path: "/usr/share/sounds/sf2/MuseScore_General_Full.sf2",
        debian_package: "musescore-general-soundfont-lossless",
    },
    KnownSoundFont {
        name: "sf_GMbank",
        path: "/usr/share/sounds/sf2/sf_GMbank.sf2",
        debian_package: "csound-soundfont",
    },
];

/// Resolves a known name (e.g. `FluidR3_GM`) or a path to a SoundFont file.
pub fn resolve_soundfont(name_or_path: &str) -> PathBuf {
    KNOWN_SOUNDFONTS
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(name_or_path))
        .map(|k| PathBuf::from(k.path))
        .unwrap_or_else(|| PathBuf::from(name_or_path))
}

/// Loads a `.sf2` file; a missing known SoundFont names the Debian package that installs it.
pub fn load_soundfont(path: &Path) -> Result<Arc<SoundFont>, RenderError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sf3"))
    {
        return Err(RenderError::SoundFont {
            path: path.to_path_buf(),
            reason: "SF3 (Ogg-compressed) SoundFonts are not supported by rustysynth; \
                     use the .sf2 version"
                .into(),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| {
        let hint = KNOWN_SOUNDFONTS
            .iter()
            .find(|k| Path::new(k.path).file_name() == path.file_name())
            .map(|k| format!(" (install it with: apt-get install {})", k.debian_package))
            .unwrap_or_default();
        RenderError::SoundFont {
            path: path.to_path_buf(),
            reason: format!("{e}{hint}"),
        }
    })?;
    let mut reader = std::io::BufReader::new(file);
    let font = SoundFont::new(&mut reader).map_err(|e| RenderError::SoundFont {
        path: path.to_path_buf(),
        reason: format!("not a valid SoundFont 2 file: {e:?}"),
    })?;
    Ok(Arc::new(font))
}
