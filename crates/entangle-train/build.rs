//! Records the libtorch version this crate is built against (the venv's PyTorch when
//! `LIBTORCH_USE_PYTORCH` is set, as torch-sys finds it; else `LIBTORCH`'s `build-version`),
//! and the locked tch version, so that `entangle-train --versions` and the pipeline's
//! `run.json` can say them.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    let from_python = || {
        let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".into());
        let out = Command::new(python)
            .args(["-c", "import torch; print(torch.__version__)"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let from_libtorch = || {
        let dir = std::env::var("LIBTORCH").ok()?;
        std::fs::read_to_string(std::path::Path::new(&dir).join("build-version"))
            .ok()
            .map(|v| v.trim().to_string())
    };
    let version = if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        from_python()
    } else {
        from_libtorch()
    };
    // The binary finds libtorch where it was built against, without LD_LIBRARY_PATH.
    if let Some(lib) = torch_lib_dir() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{lib}");
    }
    println!(
        "cargo:rustc-env=ENTANGLE_LIBTORCH_VERSION={}",
        version.unwrap_or_else(|| "unknown".into())
    );
    // The tch version locked in the workspace.
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    let lock = std::fs::read_to_string("../../Cargo.lock").unwrap_or_default();
    let tch = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"tch\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string());
    println!(
        "cargo:rustc-env=ENTANGLE_TCH_VERSION={}",
        tch.unwrap_or_else(|| "unknown".into())
    );
}

/// The directory holding libtorch_cpu.so: `$LIBTORCH/lib`, or the venv PyTorch's `torch/lib`.
fn torch_lib_dir() -> Option<String> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(format!("{dir}/lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
