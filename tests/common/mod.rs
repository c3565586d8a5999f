//! Shared by the integration tests that ask Python oracles (numpy, DuckDB, onnxruntime,
//! PyTorch) from the project venv.

use std::path::PathBuf;

/// The venv interpreter: `ENTANGLE_PYTHON` (set by `make test`), else `.venv/bin/python`.
/// Missing is a failure, not a skip: these tests must not pass vacuously.
#[allow(dead_code)]
pub fn python() -> PathBuf {
    let path = std::env::var_os("ENTANGLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run the tests with `make test`, which creates the venv",
        path.display()
    );
    path
}

#[allow(dead_code)]
pub mod fixture;
