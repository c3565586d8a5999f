//! Our spectrogram against madmom 0.16.1's, on the goldens `scripts/make_spectrogram_goldens.py`
//! made with madmom itself (see tests/golden/spectrogram/manifest.json for every case).

use std::path::PathBuf;

use entangle::features::{SpectrogramComputer, SpectrogramParams};
use ndarray::Array2;
use ndarray_npy::ReadNpyExt;

#[derive(serde::Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    input: String,
    fps: f64,
    golden: String,
    max_abs_diff: f32,
    shape: [usize; 2],
    note: String,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn spectrograms_match_madmom() {
    let dir = golden_dir();
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join("spectrogram/manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(manifest.cases.len() >= 10, "every golden case is listed");
    let mut failures = Vec::new();
    for case in &manifest.cases {
        let file = std::fs::File::open(dir.join("spectrogram").join(&case.golden)).unwrap();
        let golden = Array2::<f32>::read_npy(file).unwrap();
        assert_eq!(
            golden.shape(),
            &case.shape[..],
            "{}: manifest shape",
            case.name
        );
        let params = SpectrogramParams {
            fps: case.fps,
            ..Default::default()
        };
        let ours = SpectrogramComputer::new(params)
            .unwrap()
            .compute_wav(&dir.join("inputs").join(&case.input))
            .unwrap();
        let label = format!("{} at {} fps ({})", case.name, case.fps, case.note);
        if [ours.frames, ours.bands] != case.shape {
            failures.push(format!(
                "{label}: shape {:?} vs madmom {:?}",
                [ours.frames, ours.bands],
                case.shape
            ));
            continue;
        }
        let max_diff = ours
            .data
            .iter()
            .zip(golden.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!(
            "{label}: max |ours - madmom| = {max_diff:.3e} (bound {:.0e})",
            case.max_abs_diff
        );
        // `f32::max` skips NaN, so non-finite values are checked on their own.
        if ours.data.iter().any(|x| !x.is_finite()) {
            failures.push(format!("{label}: non-finite values"));
        } else if max_diff > case.max_abs_diff {
            failures.push(format!(
                "{label}: max abs diff {max_diff:e} > {:e}",
                case.max_abs_diff
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The parallel path (`compute_wav_in_parallel`, what `entangle spectrogram` runs) gives the
/// streaming path's numbers bit for bit on every golden input (integer and float files,
/// madmom's integer normalisation, other rates), and the command writes them for a whole
/// corpus in one call.
#[test]
fn a_corpus_in_one_call_gives_each_files_spectrogram_bit_for_bit() {
    let dir = golden_dir();
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join("spectrogram/manifest.json")).unwrap(),
    )
    .unwrap();
    let computer = SpectrogramComputer::new(SpectrogramParams::default()).unwrap();
    let mut inputs: Vec<PathBuf> = manifest
        .cases
        .iter()
        .map(|c| dir.join("inputs").join(&c.input))
        .collect();
    inputs.sort();
    inputs.dedup();
    for input in &inputs {
        let streamed = computer.compute_wav(input).unwrap();
        let parallel = computer.compute_wav_in_parallel(input).unwrap();
        assert_eq!(streamed.frames, parallel.frames, "{}", input.display());
        assert!(
            streamed
                .data
                .iter()
                .zip(&parallel.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: the parallel spectrogram differs",
            input.display()
        );
    }
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["spectrogram".to_string()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--out-dir".into(), out.path().display().to_string()]);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_entangle"))
        .args(&args)
        .status()
        .unwrap();
    assert!(status.success());
    for input in &inputs {
        let stem = input.file_stem().unwrap().to_string_lossy();
        let file = std::fs::File::open(out.path().join(format!("{stem}.npy"))).unwrap();
        let written = Array2::<f32>::read_npy(file).unwrap();
        let expected = computer.compute_wav(input).unwrap();
        assert_eq!(written.shape(), &[expected.frames, expected.bands]);
        assert!(
            written
                .iter()
                .zip(&expected.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{stem}.npy"
        );
    }
}
