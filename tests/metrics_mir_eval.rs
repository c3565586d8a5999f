//! Framewise metrics against mir_eval 0.8 (goldens from scripts/make_metric_goldens.py) and
//! the per-combination proportions against a direct, naive computation.

use std::collections::BTreeMap;

use entangle::analysis::{FrameCounts, aggregate};
use entangle::pitchset::PitchSet;
use proptest::prelude::*;

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    truth: Vec<Vec<u8>>,
    pred: Vec<Vec<u8>>,
    mir_eval: BTreeMap<String, f64>,
    micro: BTreeMap<String, f64>,
}

fn sets(roll: &[Vec<u8>]) -> Vec<PitchSet> {
    roll.iter().map(|f| f.iter().copied().collect()).collect()
}

#[test]
fn metrics_equal_mir_eval() {
    let golden: Golden = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/metrics/multipitch.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(golden.cases.len(), 9);
    for case in &golden.cases {
        let counts: FrameCounts = sets(&case.truth)
            .into_iter()
            .zip(sets(&case.pred))
            .collect();
        let m = counts.metrics();
        let ours = [
            ("precision", m.precision),
            ("recall", m.recall),
            ("accuracy", m.accuracy),
            ("e_sub", m.e_sub),
            ("e_miss", m.e_miss),
            ("e_fa", m.e_fa),
            ("e_tot", m.e_tot),
        ];
        for (key, value) in ours {
            let expected = case.mir_eval[key];
            assert!(
                (value - expected).abs() < 1e-12,
                "{}: {key} {value} vs mir_eval {expected}",
                case.name
            );
        }
        assert!((m.f1 - case.micro["f1"]).abs() < 1e-12, "{}: f1", case.name);
        assert_eq!(m.counts.tp as f64, case.micro["tp"], "{}", case.name);
        assert_eq!(m.counts.fp as f64, case.micro["fp"], "{}", case.name);
        assert_eq!(m.counts.fn_ as f64, case.micro["fn"], "{}", case.name);
    }
}

fn pitch_set() -> impl Strategy<Value = PitchSet> {
    // Few distinct pitches, so combinations repeat.
    proptest::collection::btree_set(60u8..66, 0..4).prop_map(|s| s.into_iter().collect())
}

proptest! {
    /// Proportions from the aggregation equal a direct count over the frames.
    #[test]
    fn proportions_equal_a_naive_count(frames in proptest::collection::vec((pitch_set(), pitch_set()), 0..200)) {
        let tables = aggregate(frames.iter().copied());
        for (combination, counts) in &tables.combinations {
            let of: Vec<&(PitchSet, PitchSet)> = frames.iter().filter(|(t, _)| t == combination).collect();
            prop_assert_eq!(counts.frames as usize, of.len());
            prop_assert_eq!(counts.exact as usize, of.iter().filter(|(t, p)| t == p).count());
            let added = of.iter().filter(|(t, p)| p.iter().any(|x| !t.contains(x))).count();
            let omitted = of.iter().filter(|(t, p)| t.iter().any(|x| !p.contains(x))).count();
            prop_assert_eq!(counts.added as usize, added);
            prop_assert_eq!(counts.omitted as usize, omitted);
            for pitch in 60u8..66 {
                let a = of.iter().filter(|(t, p)| p.contains(pitch) && !t.contains(pitch)).count() as u64;
                prop_assert_eq!(tables.additions.get(&(*combination, pitch)).copied().unwrap_or(0), a);
                let o = of.iter().filter(|(t, p)| t.contains(pitch) && !p.contains(pitch)).count() as u64;
                prop_assert_eq!(tables.omissions.get(&(*combination, pitch)).copied().unwrap_or(0), o);
            }
        }
        let total: u64 = tables.combinations.values().map(|c| c.frames).sum();
        prop_assert_eq!(total as usize, frames.len());
    }
}
