//! Bad input gets a clear error naming the file and the problem, never a panic, and leaves
//! no output behind. Run through the real binary, as a user would.

use std::path::{Path, PathBuf};

mod common;

fn entangle(args: &[&str]) -> (bool, String) {
    let out = common::entangle(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_wav(path: &Path, spec: hound::WavSpec, samples: &[i32]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn mono16() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Runs `entangle spectrogram` on `input` and returns its error message; checks that it
/// failed and wrote nothing.
fn spectrogram_error(dir: &Path, input: &Path) -> String {
    let out = dir.join("out.npy");
    let (ok, stderr) = entangle(&[
        "spectrogram",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "expected failure for {}", input.display());
    assert!(!out.exists(), "a failed run left {}", out.display());
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    stderr
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nope.wav");
    let err = spectrogram_error(dir.path(), &input);
    assert!(
        err.contains(&format!("{}: cannot open", input.display())),
        "{err}"
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.wav");
    std::fs::write(&input, b"").unwrap();
    let err = spectrogram_error(dir.path(), &input);
    assert!(
        err.contains("empty.wav: not a readable WAV file: the file is empty (0 bytes)"),
        "{err}"
    );
}

#[test]
fn not_a_wav_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.wav");
    std::fs::write(
        &input,
        "OnsetTime\tOffsetTime\tMidiPitch\n0.5\t1.0\t60\n".repeat(20),
    )
    .unwrap();
    let err = spectrogram_error(dir.path(), &input);
    assert!(err.contains("notes.wav: not a readable WAV file"), "{err}");
}

#[test]
fn corrupt_header() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corrupt.wav");
    write_wav(&input, mono16(), &[0; 1000]);
    let mut bytes = std::fs::read(&input).unwrap();
    bytes[12..16].copy_from_slice(b"junk"); // the "fmt " chunk id
    bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&input, bytes).unwrap();
    let err = spectrogram_error(dir.path(), &input);
    assert!(err.contains("corrupt.wav: "), "{err}");
    assert!(err.contains("WAV"), "{err}");
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cut.wav");
    write_wav(&input, mono16(), &vec![1000; 44_100]);
    let bytes = std::fs::read(&input).unwrap();
    std::fs::write(&input, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let err = spectrogram_error(dir.path(), &input);
    assert!(err.contains("cut.wav: WAV file is truncated"), "{err}");
}

#[test]
fn wav_without_samples() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nothing.wav");
    write_wav(&input, mono16(), &[]);
    let err = spectrogram_error(dir.path(), &input);
    assert!(
        err.contains("nothing.wav: WAV file contains no audio samples"),
        "{err}"
    );
}

#[test]
fn unwritable_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ok.wav");
    write_wav(&input, mono16(), &vec![1000; 4410]);
    let out = dir.path().join("no-such-dir/out.npy");
    let (ok, err) = entangle(&[
        "spectrogram",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{}: cannot write here", out.display())),
        "{err}"
    );
}

#[test]
fn bad_fps() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ok.wav");
    write_wav(&input, mono16(), &vec![1000; 4410]);
    let out = dir.path().join("out.npy");
    let (ok, err) = entangle(&[
        "spectrogram",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--fps",
        "0",
    ]);
    assert!(!ok);
    assert!(
        err.contains("fps must be a positive finite number, got 0"),
        "{err}"
    );
}

#[test]
fn malformed_label_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "fields.txt",
            "OnsetTime OffsetTime MidiPitch\n0.1 0.2 60\n0.3 0.4\n",
            "fields.txt:3: expected 3 fields",
        ),
        (
            "range.txt",
            "0.1 0.2 109\n",
            "range.txt:1: MidiPitch \"109\" is outside the piano range 21..=108",
        ),
        (
            "order.txt",
            "0.1 0.2 60\n0.5 0.4 61\n",
            "order.txt:2: offset 0.4 s is before onset 0.5 s",
        ),
        ("bad.mid", "MThd not really", "bad.mid: invalid MIDI file"),
        (
            "notes.csv",
            "0.1,0.2,60",
            "notes.csv:1: no \"start_time\" column",
        ),
        ("notes.xml", "<notes/>", "notes.xml: unknown label format"),
    ];
    for (name, text, expected) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join("labels.parquet");
        let (ok, err) = entangle(&[
            "labels",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(!ok, "{name} should fail");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!out.exists());
    }
}

/// A corpus with one unreadable file among good ones: the run fails naming it, the good
/// files' spectrograms are complete (committed by the threads that fsync and rename), and no
/// temporary file is left behind.
#[test]
fn a_bad_file_in_a_corpus_leaves_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["spectrogram".to_string()];
    for i in 0..6 {
        let input = dir.path().join(format!("good{i}.wav"));
        write_wav(&input, mono16(), &vec![1000 + i; 44_100]);
        args.push(input.display().to_string());
    }
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF, but not a WAV file").unwrap();
    args.push(bad.display().to_string());
    let out = dir.path().join("out");
    args.extend(["--out-dir".to_string(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, err) = entangle(&args);
    assert!(!ok);
    assert!(err.contains("bad.wav"), "{err}");
    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written
            .iter()
            .all(|n| n.starts_with("good") && n.ends_with(".npy")),
        "{written:?}"
    );
    for name in &written {
        let file = std::fs::File::open(out.join(name)).unwrap();
        let spec = <ndarray::Array2<f32> as ndarray_npy::ReadNpyExt>::read_npy(file).unwrap();
        assert_eq!(spec.shape(), &[100, 229], "{name}");
    }
}
