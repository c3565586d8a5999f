//! Build-time facts for the library:
//! - the ONNX protobuf types (prost) from `src/model/onnx.proto` (ONNX 1.17, from the `onnx`
//!   PyPI wheel, Apache-2.0), compiled by protox so no `protoc` binary is needed;
//! - the versions of the crates the results depend on, read from `Cargo.lock`, so that
//!   `run.json` records what was built rather than literals that drift.

/// The crates whose versions `run.json` records.
const RECORDED: &[&str] = &[
    "timely",
    "differential-dataflow",
    "ort",
    "arrow",
    "parquet",
    "rustfft",
    "rustysynth",
];

fn main() {
    let proto = "src/model/onnx.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["src/model"]).expect("onnx.proto compiles");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("prost generates the ONNX types");

    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    println!(
        "cargo:rustc-env=ENTANGLE_LOCKED_VERSIONS={}",
        locked_versions(&lock)
    );
}

/// `name=version;...` of the [`RECORDED`] crates in a Cargo.lock (`[[package]]` tables of
/// `name = "..."` and `version = "..."` lines).
fn locked_versions(lock: &str) -> String {
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        let value = |key: &str| {
            line.strip_prefix(key)
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        if line == "[[package]]" {
            name = None;
        } else if let Some(n) = value("name = ") {
            name = Some(n);
        } else if let (Some(v), Some(n)) = (value("version = "), name.take()) {
            if RECORDED.contains(&n.as_str()) {
                found.push(format!("{n}={v}"));
            }
        }
    }
    found.sort();
    found.join(";")
}
