//! Stage bookkeeping: content-hash keys, the `stage.json` a finished stage leaves in its
//! directory, and the run record. A stage is skipped when its directory holds a `stage.json`
//! with the key its inputs and parameters hash to now.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sink::write_atomically;

/// SHA-256 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of every file under `dir` (names and contents, sorted), hex.
pub fn hash_tree(dir: &Path) -> anyhow::Result<String> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.strip_prefix(dir)?.to_string_lossy().as_bytes());
        hasher.update(hash_file(&file)?.as_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The key of a stage: a hash of its parameters and its inputs' hashes.
pub fn stage_key<P: Serialize>(
    stage: &str,
    params: &P,
    inputs: &BTreeMap<String, String>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(stage.as_bytes());
    hasher.update(serde_json::to_vec(params).expect("parameters serialise"));
    hasher.update(serde_json::to_vec(inputs).expect("hashes serialise"));
    hex::encode(hasher.finalize())
}

/// Whether a stage did its work in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    Ran,
    /// Up to date: its key and inputs are unchanged.
    Skipped,
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            StageStatus::Ran => "ran",
            StageStatus::Skipped => "skipped",
        })
    }
}

/// What a finished stage leaves behind (`stage.json`), and what the run record lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub key: String,
    pub status: StageStatus,
    pub seconds: f64,
    /// Input name -> SHA-256.
    pub inputs: BTreeMap<String, String>,
}

pub const STAGE_FILE: &str = "stage.json";

/// The record of the stage finished in `dir`, if its key is `key`.
pub fn finished(dir: &Path, key: &str) -> Option<StageRecord> {
    let text = std::fs::read_to_string(dir.join(STAGE_FILE)).ok()?;
    let record: StageRecord = serde_json::from_str(&text).ok()?;
    (record.key == key).then_some(record)
}

/// Marks the stage in `dir` finished (written last, atomically).
pub fn mark_finished(dir: &Path, record: &StageRecord) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(record)?;
    write_atomically(&dir.join(STAGE_FILE), |w| {
        std::io::Write::write_all(w, &json)
    })?;
    Ok(())
}

/// `run.json`: what a run did, with what, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub spec_path: PathBuf,
    pub spec_sha256: String,
    pub spec: super::spec::PipelineSpec,
    pub tools: BTreeMap<String, String>,
    pub stages: Vec<StageRecord>,
    pub seconds: f64,
}

impl StageRecord {
    /// A stage without a key or inputs that always runs (figures, report), `started` ago.
    pub fn always_ran(stage: &str, started: std::time::Instant) -> Self {
        Self {
            stage: stage.to_string(),
            key: String::new(),
            status: StageStatus::Ran,
            seconds: started.elapsed().as_secs_f64(),
            inputs: BTreeMap::new(),
        }
    }
}

impl RunRecord {
    /// The record of a run of the spec at `spec_path`, begun at `started`, with the versions
    /// it was built with; written atomically as `out/run.json`.
    pub fn write(
        spec_path: &std::path::Path,
        spec: &super::spec::PipelineSpec,
        stages: Vec<StageRecord>,
        started: std::time::Instant,
    ) -> anyhow::Result<Self> {
        let record = RunRecord {
            spec_path: spec_path.to_path_buf(),
            spec_sha256: hash_file(spec_path)?,
            spec: spec.clone(),
            tools: tool_versions(),
            stages,
            seconds: started.elapsed().as_secs_f64(),
        };
        let json = serde_json::to_vec_pretty(&record)?;
        crate::sink::write_atomically(&spec.out.join("run.json"), |w| {
            std::io::Write::write_all(w, &json)
        })?;
        Ok(record)
    }
}

/// Versions of what the results depend on.
pub fn tool_versions() -> BTreeMap<String, String> {
    let mut tools = BTreeMap::new();
    tools.insert("entangle".into(), env!("CARGO_PKG_VERSION").into());
    if let Ok(path) = std::env::var("ORT_DYLIB_PATH") {
        tools.insert("onnxruntime_library".into(), path);
    }
    for (name, version) in env!("ENTANGLE_LOCKED_VERSIONS")
        .split(';')
        .filter_map(|pair| pair.split_once('='))
    {
        tools.insert(name.into(), version.into());
    }
    // The trainer's tch and libtorch, when it is built (pipelines that train need it).
    if let Ok(trainer) = crate::trainer::train_binary()
        && let Ok(out) = std::process::Command::new(trainer)
            .arg("--versions")
            .output()
        && out.status.success()
        && let Ok(versions) = serde_json::from_slice::<BTreeMap<String, String>>(&out.stdout)
    {
        tools.extend(versions);
    }
    if let Ok(out) = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && out.status.success()
    {
        tools.insert(
            "git_commit".into(),
            String::from_utf8_lossy(&out.stdout).trim().into(),
        );
    }
    tools
}
