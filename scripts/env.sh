# Sourced by the Makefile: points the build and the binary at the venv's native libraries.
# ORT_DYLIB_PATH: the libonnxruntime.so that `ort` (load-dynamic) opens at run time.
# ENTANGLE_PYTHON: the venv interpreter the tests use for their oracles.
_entangle_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_entangle_venv="${ENTANGLE_VENV:-$_entangle_root/.venv}"
_ort_lib="$(ls "$_entangle_venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* 2>/dev/null | head -n1 || true)"
if [ -n "$_ort_lib" ]; then export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$_ort_lib}"; fi
export ENTANGLE_PYTHON="${ENTANGLE_PYTHON:-$_entangle_venv/bin/python}"
# The `train` feature: tch builds against the venv's PyTorch (torch-sys asks `python` where it
# is) and its binaries load libtorch from torch/lib at run time.
if [ -x "$_entangle_venv/bin/python" ]; then
  export LIBTORCH_USE_PYTORCH=1
  export PATH="$_entangle_venv/bin:$PATH"
  _torch_lib="$(ls -d "$_entangle_venv"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n1 || true)"
  if [ -n "$_torch_lib" ]; then export LD_LIBRARY_PATH="$_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi
unset _entangle_root _entangle_venv _ort_lib _torch_lib
