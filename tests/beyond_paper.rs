//! Issue 13's instruments on real components: the NMF baseline learned on FLUID notes rendered
//! through FluidR3_GM and analysed by the dataflow; a tiny coverage sweep through `entangle
//! run` (feature `train`), with the mixture penalty on one network and the chord mixer on
//! another; every table read back by DuckDB.

mod common;

use std::path::Path;

use entangle::corpus::fluid::{FluidDataset, FluidParams, build_fluid, manifest_name};
use entangle::corpus::resolve_soundfont;
use entangle::nmf::LearnOptions;
use entangle::nmf::system::{NmfOptions, run_nmf};

fn duckdb(sql: &str) -> String {
    common::duckdb(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn parquet(path: &Path) -> String {
    format!("read_parquet('{}')", path.display())
}

#[test]
fn nmf_learned_on_isolated_notes_predicts_every_interval_frame_for_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let params = FluidParams {
        train_velocities: vec![64],
        note_seconds: 0.3,
        tail_seconds: 0.2,
        ..Default::default()
    };
    build_fluid(&corpus, &resolve_soundfont("FluidR3_GM"), &params, false).unwrap();
    let manifest = corpus.join(manifest_name(FluidDataset::Isol));
    let out = dir.path().join("nmf");
    let options = NmfOptions {
        learn: LearnOptions {
            atoms_per_pitch: 1,
            iterations: 30,
        },
        solve_iterations: 60,
        thresholds: 50,
        ..Default::default()
    };
    let record = run_nmf(&manifest, &out, &options).unwrap();
    assert_eq!(record.atom_pitches, (49..=71).collect::<Vec<u8>>());
    // The notes it learned it transcribes (validation: the same notes at another velocity);
    // a broken linear spectrogram or dictionary would not.
    assert!(
        record.validation_f1 > 0.9,
        "validation F {}",
        record.validation_f1
    );

    // One row per frame of every test shard, read by DuckDB.
    let test = out.join("nmf-test.parquet");
    let counts = duckdb(&format!(
        "SELECT count(DISTINCT shard), count(*), min(model), max(model) FROM {}",
        parquet(&test)
    ));
    let fields: Vec<&str> = counts.split_whitespace().collect();
    assert_eq!(fields[0], "253", "{counts}");
    assert_eq!(&fields[2..], ["nmf", "nmf"], "{counts}");

    // The dataflow analyses it like any system: every interval unshared with the training
    // notes; the tables hold every labelled frame.
    let analysis = dir.path().join("analysis");
    let analysis_options = entangle::dataflow::AnalysisOptions {
        truth: entangle::dataflow::TruthSource::Manifest {
            path: manifest.clone(),
            splits: vec!["test".into()],
        },
        train: Some(entangle::dataflow::TruthSource::Manifest {
            path: manifest.clone(),
            splits: vec!["train".into()],
        }),
        fps: 100.0,
        evaluation: entangle::dataflow::units::EvaluationOptions {
            strict: true,
            ..Default::default()
        },
        out: analysis.clone(),
        cluster: Default::default(),
    };
    entangle::dataflow::analyze(&analysis_options, vec![test]).unwrap();
    let intervals = duckdb(&format!(
        "SELECT count(*), bool_or(shared), sum(frames) FROM {} WHERE polyphony = 2",
        parquet(&analysis.join("combinations.parquet"))
    ));
    let fields: Vec<&str> = intervals.split_whitespace().collect();
    assert_eq!(fields[..2], ["253", "False"], "{intervals}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nmf.json")).unwrap()).unwrap();
    assert_eq!(json["divergence"], "generalised Kullback-Leibler");
    assert!(out.join("dictionary.npy").is_file());
}

#[cfg(feature = "train")]
#[test]
fn a_tiny_coverage_sweep_runs_end_to_end_with_a_mixture_penalised_network() {
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
name = "tiny-sweep"
out = "run"

[corpus]
kind = "fluid"
dataset = "isol"
train_velocities = [80]
note_seconds = 0.3

[corpus.subsets]
seed = 4
coverage = 100.0

[sweep]
coverage = [0.0, 50.0]

[[networks]]
name = "small"
arch = "smallconvnet"
epochs = 1
steps_per_epoch = 10
learning_rate = 0.1
device = "cpu"

[[networks]]
name = "mixed"
arch = "smallconvnet"
epochs = 1
steps_per_epoch = 10
learning_rate = 0.1
device = "cpu"
mixture_penalty = 1.0

[[networks]]
name = "chorded"
arch = "smallconvnet"
epochs = 1
steps_per_epoch = 10
learning_rate = 0.1
device = "cpu"
chords = { probability = 1.0, max_polyphony = 3, note_seconds = 0.3 }

[figures]
formats = ["svg", "png"]
"#;
    std::fs::write(dir.path().join("sweep.toml"), spec).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entangle"))
        .args(["run", "sweep.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.path().join("run");
    let rows = duckdb(&format!(
        "SELECT coverage, network, seen, intervals FROM {} ORDER BY coverage, network, seen",
        parquet(&run.join("sweep.parquet"))
    ));
    // 76 held out at every coverage; nothing seen at 0 %, 89 of the 177 trainable at 50 %.
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "0.0 chorded False 76",
            "0.0 mixed False 76",
            "0.0 small False 76",
            "50.0 chorded False 76",
            "50.0 chorded True 89",
            "50.0 mixed False 76",
            "50.0 mixed True 89",
            "50.0 small False 76",
            "50.0 small True 89",
        ],
        "{rows}"
    );
    for f in [
        "figures/coverage-sweep.png",
        "figures/coverage-sweep.svg",
        "report.md",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // Only the penalised network reports a penalty.
    let history = |name: &str| -> serde_json::Value {
        let path = run.join(format!("coverage-50/train/{name}/history.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert!(history("mixed")[0]["mixture_penalty"].as_f64().unwrap() > 0.0);
    assert!(history("small")[0].get("mixture_penalty").is_none());
    // The chord mixer rendered the FLUID range of FluidR3_GM's piano for its network.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("rendered the keys for the chord mixer") && log.contains("keys=23"),
        "{log}"
    );
}
