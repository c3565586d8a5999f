//! Note lists in the formats other transcription work uses, each read from a hand-made file
//! and checked note by note; and `entangle corpus`, which pairs such lists with recordings
//! (a plain directory, or MAESTRO's CSV) into a manifest.

mod common;

use std::path::Path;
use std::process::Output;

use entangle::labels::{Note, ReadOptions, read_notes};

fn notes(path: &Path) -> Vec<(f64, f64, u8, u8)> {
    read_notes(path, ReadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|n: Note| (n.onset, n.offset, n.pitch, n.velocity))
        .collect()
}

fn err(path: &Path) -> String {
    read_notes(path, ReadOptions::default())
        .unwrap_err()
        .to_string()
}

fn close(a: &[(f64, f64, u8, u8)], b: &[(f64, f64, u8, u8)]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9 && x.2 == y.2 && x.3 == y.3,
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn madmom_notes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("piece.notes");
    // As madmom.utils.write_notes writes them: onset, pitch, duration, velocity.
    std::fs::write(
        &path,
        "# onset\tpitch\tduration\tvelocity\n0.500\t60\t0.250\t72\n1.000\t64\t1.000\t80\n\n2.0 67 0.5\n",
    )
    .unwrap();
    close(
        &notes(&path),
        &[(0.5, 0.75, 60, 72), (1.0, 2.0, 64, 80), (2.0, 2.5, 67, 64)],
    );
    std::fs::write(&path, "0.5 60 0.25 72\n0.7 130 0.25 72\n").unwrap();
    assert_eq!(
        err(&path),
        format!(
            "{}:2: pitch \"130\" is not a MIDI number in the piano range 21..=108",
            path.display()
        )
    );
    std::fs::write(&path, "0.5 60\n").unwrap();
    assert!(
        err(&path).contains(":1: expected onset, pitch, duration[, velocity], found 2 fields"),
        "{}",
        err(&path)
    );
}

#[test]
fn musicnet_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1727.csv");
    // MusicNet's columns; times are samples at 44.1 kHz.
    std::fs::write(
        &path,
        "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n\
         9182,90078,43,53,4.0,1.5,Dotted Quarter\n\
         44100,88200,1,72,5.0,1.0,Quarter\n",
    )
    .unwrap();
    close(
        &notes(&path),
        &[
            (9182.0 / 44100.0, 90078.0 / 44100.0, 53, 64),
            (1.0, 2.0, 72, 64),
        ],
    );
    std::fs::write(&path, "onset,offset,note\n0,100,60\n").unwrap();
    assert!(
        err(&path).contains(":1: no \"start_time\" column"),
        "{}",
        err(&path)
    );
    std::fs::write(&path, "start_time,end_time,instrument,note\n100,50,1,60\n").unwrap();
    assert!(err(&path).contains(":2: offset"), "{}", err(&path));
}

#[test]
fn mir_eval_note_text_and_maps_text_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("est.txt");
    // mir_eval.io.load_valued_intervals: onset, offset, frequency in Hz.
    std::fs::write(
        &path,
        "0.100\t0.600\t261.626\n0.500\t1.000\t440.000\n1.0\t1.5\t27.5\n",
    )
    .unwrap();
    close(
        &notes(&path),
        &[(0.1, 0.6, 60, 64), (0.5, 1.0, 69, 64), (1.0, 1.5, 21, 64)],
    );
    std::fs::write(&path, "0.1,0.6,261.626\n").unwrap();
    close(&notes(&path), &[(0.1, 0.6, 60, 64)]);
    std::fs::write(&path, "0.1 0.6 20000.0\n").unwrap();
    assert!(
        err(&path).contains(":1: frequency 20000 Hz"),
        "{}",
        err(&path)
    );
    // MAPS: header, or integer MIDI pitches.
    std::fs::write(&path, "OnsetTime\tOffsetTime\tMidiPitch\n0.5\t1.25\t60\n").unwrap();
    close(&notes(&path), &[(0.5, 1.25, 60, 64)]);
    std::fs::write(&path, "0.5 1.25 60\n").unwrap();
    close(&notes(&path), &[(0.5, 1.25, 60, 64)]);
}

// --- entangle corpus ---

use common::entangle;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_wav(path: &Path, seconds: f64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * 44100.0) as i32 {
        let v = ((i % 100) - 50) as i16;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn manifest_rows(manifest: &Path) -> String {
    common::duckdb_with(
        &format!(
            "SELECT shard, split, round(duration, 2), parse_filename(labels_path), len(sha256) \
             FROM read_parquet('{}') ORDER BY shard",
            manifest.display()
        ),
        "|",
    )
    .unwrap()
}

/// A fake MAESTRO v3 tree: its CSV's real columns, a composer name with a comma (quoted),
/// year folders, MIDI as `.midi`.
fn fake_maestro(root: &Path) -> std::path::PathBuf {
    let pieces = [
        ("2018/MIDI-Unprocessed_01", "train", 1.0),
        ("2018/MIDI-Unprocessed_02", "validation", 1.5),
        ("2017/MIDI-Unprocessed_03", "test", 2.0),
    ];
    let mut csv = String::from(
        "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n",
    );
    for (i, (name, split, seconds)) in pieces.iter().enumerate() {
        write_wav(&root.join(format!("{name}.wav")), *seconds);
        let midi = root.join(format!("{name}.midi"));
        std::fs::write(&midi, tiny_midi(60 + i as u8, seconds - 0.5)).unwrap();
        csv.push_str(&format!(
            "\"Bach, Johann Sebastian\",\"Prelude and Fugue in C Major, BWV 846\",{split},{},{name}.midi,{name}.wav,{seconds}\n",
            &name[..4]
        ));
    }
    let path = root.join("maestro-v3.0.0.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// A one-note type-0 MIDI file (120 bpm): the note sounds from 0 to `seconds`.
fn tiny_midi(pitch: u8, seconds: f64) -> Vec<u8> {
    common::midi(&[(0.0, seconds, pitch)])
}

#[test]
fn a_maestro_csv_becomes_a_manifest_with_its_splits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("maestro-v3.0.0");
    let csv = fake_maestro(&root);
    let manifest = dir.path().join("maestro.manifest.parquet");
    let out = entangle(&[
        "corpus",
        "maestro",
        "--csv",
        s(&csv),
        "--root",
        s(&root),
        "--out",
        s(&manifest),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        manifest_rows(&manifest),
        "MIDI-Unprocessed_01|train|1.0|MIDI-Unprocessed_01.midi|64\n\
         MIDI-Unprocessed_02|validation|1.5|MIDI-Unprocessed_02.midi|64\n\
         MIDI-Unprocessed_03|test|2.0|MIDI-Unprocessed_03.midi|64\n"
    );
    // The manifest is usable: labels through it, framed by the audio.
    let labels = dir.path().join("labels.parquet");
    let out = entangle(&[
        "labels",
        s(&root.join("2017/MIDI-Unprocessed_03.midi")),
        "--manifest",
        s(&manifest),
        "--frames-from-audio",
        "-o",
        s(&labels),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A missing audio file, and a duration that disagrees, are named.
    std::fs::remove_file(root.join("2018/MIDI-Unprocessed_02.wav")).unwrap();
    let out = entangle(&[
        "corpus",
        "maestro",
        "--csv",
        s(&csv),
        "--root",
        s(&root),
        "--out",
        s(&manifest),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("MIDI-Unprocessed_02.wav: no such audio file")
            && stderr(&out).contains("maestro-v3.0.0.csv:3"),
        "{}",
        stderr(&out)
    );
    write_wav(&root.join("2018/MIDI-Unprocessed_02.wav"), 4.0);
    let out = entangle(&[
        "corpus",
        "maestro",
        "--csv",
        s(&csv),
        "--root",
        s(&root),
        "--out",
        s(&manifest),
    ]);
    assert!(
        stderr(&out).contains("MIDI-Unprocessed_02.wav lasts 4.00 s, the CSV says 1.50 s"),
        "{}",
        stderr(&out)
    );
    // Not MAESTRO's columns.
    std::fs::write(&csv, "name,file\nx,y\n").unwrap();
    let out = entangle(&[
        "corpus",
        "maestro",
        "--csv",
        s(&csv),
        "--root",
        s(&root),
        "--out",
        s(&manifest),
    ]);
    assert!(
        stderr(&out).contains("no \"split\" column"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_directory_of_pairs_becomes_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mine");
    // Every note-list format, audio and notes in different folders (MusicNet's layout).
    write_wav(&root.join("audio/a.wav"), 1.0);
    write(&root.join("notes/a.notes"), "0.1 60 0.5 70\n");
    write_wav(&root.join("audio/b.wav"), 1.0);
    write(
        &root.join("notes/b.csv"),
        "start_time,end_time,instrument,note\n4410,22050,1,62\n",
    );
    write_wav(&root.join("audio/c.wav"), 1.0);
    write(&root.join("notes/c.txt"), "0.1\t0.6\t329.628\n");
    write_wav(&root.join("audio/d.wav"), 1.0);
    write(
        &root.join("audio/d.txt"),
        "OnsetTime OffsetTime MidiPitch\n0.1 0.6 65\n",
    );
    write_wav(&root.join("e.wav"), 1.0);
    std::fs::write(root.join("e.mid"), tiny_midi(67, 0.5)).unwrap();
    let splits = dir.path().join("splits.txt");
    write(
        &splits,
        "# stem split\na train\nb train\nc validation\nd test\ne,test\n",
    );
    let manifest = dir.path().join("m.parquet");
    let out = entangle(&[
        "corpus",
        "dir",
        "--root",
        s(&root),
        "--splits",
        s(&splits),
        "--out",
        s(&manifest),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        manifest_rows(&manifest),
        "a|train|1.0|a.notes|64\nb|train|1.0|b.csv|64\nc|validation|1.0|c.txt|64\n\
         d|test|1.0|d.txt|64\ne|test|1.0|e.mid|64\n"
    );

    // A seeded random split: the same seed, the same manifest.
    let random = |seed: &str, name: &str| {
        let path = dir.path().join(name);
        let out = entangle(&[
            "corpus",
            "dir",
            "--root",
            s(&root),
            "--seed",
            seed,
            "--test-fraction",
            "0.4",
            "--validation-fraction",
            "0.2",
            "--out",
            s(&path),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        manifest_rows(&path)
    };
    assert_eq!(random("3", "r1.parquet"), random("3", "r2.parquet"));

    // Bad pairs are named.
    write(&root.join("notes/lonely.notes"), "0.1 60 0.5 70\n");
    let out = entangle(&["corpus", "dir", "--root", s(&root), "--out", s(&manifest)]);
    assert!(
        stderr(&out).contains("lonely.notes: a note list without a recording of the same name"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(root.join("notes/lonely.notes")).unwrap();
    write(&root.join("notes/e.notes"), "5.0 60 3.0 70\n");
    let out = entangle(&["corpus", "dir", "--root", s(&root), "--out", s(&manifest)]);
    assert!(
        stderr(&out).contains("another note list has the same name"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(root.join("e.mid")).unwrap();
    let out = entangle(&["corpus", "dir", "--root", s(&root), "--out", s(&manifest)]);
    assert!(
        stderr(&out).contains("e.notes: its notes end at 8.00 s, but its audio")
            && stderr(&out).contains("lasts 1.00 s"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(root.join("notes/e.notes")).unwrap();
    let out = entangle(&["corpus", "dir", "--root", s(&root), "--out", s(&manifest)]);
    assert!(
        stderr(&out).contains("e.wav: no note list of the same name"),
        "{}",
        stderr(&out)
    );
}
