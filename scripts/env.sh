# Sourced by the Makefile: points the build and the binary at the venv's native libraries.
# ORT_DYLIB_PATH: the libonnxruntime.so that `ort` (load-dynamic) opens at run time.
_entangle_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_entangle_venv="${ENTANGLE_VENV:-$_entangle_root/.venv}"
_ort_lib="$(ls "$_entangle_venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* 2>/dev/null | head -n1 || true)"
if [ -n "$_ort_lib" ]; then export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$_ort_lib}"; fi
export ENTANGLE_PYTHON="${ENTANGLE_PYTHON:-$_entangle_venv/bin/python}"
unset _entangle_root _entangle_venv _ort_lib
