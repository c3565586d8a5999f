#!/usr/bin/env bash
# Installs the Debian packages entangle needs (the SoundFonts it renders with, libsoxr that
# basic-pitch's front end resamples with), idempotently
# and without prompts. Does nothing when they are all present.
set -euo pipefail

PACKAGES=(
  fluid-soundfont-gm                   # FluidR3_GM.sf2: the paper's piano
  timgm6mb-soundfont                   # TimGM6mb.sf2
  musescore-general-soundfont-lossless # MuseScore_General_Full.sf2
  csound-soundfont                     # sf_GMbank.sf2
  fonts-dejavu-core                    # DejaVuSans.ttf: the figures' font
  libsoxr-dev                          # libsoxr: librosa's resampler, for basic-pitch's front end
  pkg-config                           # finds libsoxr at build time
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo -n"; else
    echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
