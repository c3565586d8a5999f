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

/// Runs `sql` in DuckDB (the venv's): one line per row, values joined by `sep`.
#[allow(dead_code)]
pub fn duckdb_with(sql: &str, sep: &str) -> Result<String, String> {
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys, duckdb\nfor r in duckdb.sql(sys.argv[1]).fetchall(): print(*r, sep=sys.argv[2])",
            sql,
            sep,
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// [`duckdb_with`] with values separated by spaces.
#[allow(dead_code)]
pub fn duckdb(sql: &str) -> Result<String, String> {
    duckdb_with(sql, " ")
}

#[allow(dead_code)]
pub mod fixture;
