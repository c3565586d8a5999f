//! Shared by the integration tests that ask Python oracles (numpy, DuckDB, onnxruntime,
//! PyTorch) from the project venv.

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// The `entangle` binary this test run built, ready for arguments.
#[allow(dead_code)]
pub fn entangle_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entangle"))
}

/// Runs `entangle ARGS` to the end; a panic inside the binary fails the test whatever the
/// exit status (errors must be messages, never panics).
#[allow(dead_code)]
pub fn entangle(args: &[&str]) -> Output {
    let out = entangle_command()
        .args(args)
        .output()
        .expect("run entangle");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "entangle panicked: {stderr}");
    out
}

/// The output of a run that must have succeeded (else the test fails with its stderr).
#[allow(dead_code)]
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
