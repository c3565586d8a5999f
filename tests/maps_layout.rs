//! The MAPS reader on a tiny fake tree with MAPS' real naming (real MAPS cannot be shipped).

mod common;

use std::path::Path;

use entangle::corpus::maps::{configuration_ii, scan_mus};

fn touch_recording(root: &Path, instrument: &str, rel_dir: &str, stem: &str, with_txt: bool) {
    let dir = root.join(instrument).join(rel_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join(format!("{stem}.wav")), spec).unwrap();
    for i in 0..8820 {
        w.write_sample((i % 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    if with_txt {
        std::fs::write(
            dir.join(format!("{stem}.txt")),
            "OnsetTime\tOffsetTime\tMidiPitch\r\n0.1\t0.2\t60\r\n",
        )
        .unwrap();
    }
    std::fs::write(dir.join(format!("{stem}.mid")), b"MThd").unwrap();
}

/// Three pieces: `chpn_op25_e4` is in the test set (ENSTDkCl) and on two synthesized pianos,
/// so it must vanish from train and validation; `alb_se3` and `bach_846` stay.
fn fake_maps(root: &Path) {
    for instrument in ["AkPnBcht", "AkPnBsdf", "SptkBGCl"] {
        for piece in ["alb_se3", "bach_846"] {
            touch_recording(
                root,
                instrument,
                "MUS",
                &format!("MAPS_MUS-{piece}_{instrument}"),
                true,
            );
        }
        touch_recording(
            root,
            instrument,
            "ISOL/NO",
            &format!("MAPS_ISOL_NO_F_S0_M21_{instrument}"),
            true,
        );
    }
    for instrument in ["AkPnBcht", "SptkBGCl", "ENSTDkCl", "ENSTDkAm"] {
        touch_recording(
            root,
            instrument,
            "MUS",
            &format!("MAPS_MUS-chpn_op25_e4_{instrument}"),
            true,
        );
    }
    touch_recording(
        root,
        "ENSTDkAm",
        "UCHO/I32-96/C0-5-9",
        "MAPS_UCHO_C0-5-9_I32-96_S0_n13_ENSTDkAm",
        true,
    );
}

#[test]
fn configuration_ii_splits_a_fake_maps_tree() {
    let dir = tempfile::tempdir().unwrap();
    fake_maps(dir.path());
    let pieces = scan_mus(dir.path()).unwrap();
    assert_eq!(pieces.len(), 3 * 2 + 4, "MUS only; ISOL and UCHO ignored");
    let splits = configuration_ii(&pieces, "SptkBGCl").unwrap();
    let pick = |split: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = splits
            .iter()
            .filter(|(_, s)| *s == split)
            .map(|(p, _)| format!("{}@{}", p.piece, p.instrument))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        pick(Some("train")),
        [
            "alb_se3@AkPnBcht",
            "alb_se3@AkPnBsdf",
            "bach_846@AkPnBcht",
            "bach_846@AkPnBsdf"
        ]
    );
    assert_eq!(
        pick(Some("validation")),
        ["alb_se3@SptkBGCl", "bach_846@SptkBGCl"]
    );
    assert_eq!(
        pick(Some("test")),
        ["chpn_op25_e4@ENSTDkAm", "chpn_op25_e4@ENSTDkCl"]
    );
    assert_eq!(
        pick(None),
        ["chpn_op25_e4@AkPnBcht", "chpn_op25_e4@SptkBGCl"]
    );
}

#[test]
fn the_cli_writes_the_manifest_and_explains_bad_trees() {
    let dir = tempfile::tempdir().unwrap();
    fake_maps(dir.path());
    let out = dir.path().join("maps.parquet");
    let run = |args: &[&str]| common::entangle_command().args(args).output().unwrap();
    let ok = run(&[
        "maps",
        "--root",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.exists());

    let bad = run(&[
        "maps",
        "--root",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--validation-instrument",
        "Steinway",
    ]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown validation instrument \"Steinway\"")
    );

    std::fs::remove_file(
        dir.path()
            .join("AkPnBsdf/MUS/MAPS_MUS-alb_se3_AkPnBsdf.txt"),
    )
    .unwrap();
    let missing = run(&[
        "maps",
        "--root",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("MAPS_MUS-alb_se3_AkPnBsdf.wav: MAPS recording has no note list beside it"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let none = run(&[
        "maps",
        "--root",
        empty.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no MAPS MUS recordings found"));
}
