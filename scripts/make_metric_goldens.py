"""Regenerates tests/golden/metrics/multipitch.json with mir_eval itself.

Run through the Makefile (`make goldens`, which builds the oracle venv). Random piano rolls
(seeded) and edge cases; for each, mir_eval.multipitch.metrics on the frames converted to Hz,
and the micro-averaged framewise precision / recall / F computed directly with numpy.
"""

import json
import sys
import warnings

import mir_eval
import numpy as np

warnings.simplefilter("ignore")
RNG = np.random.default_rng(2017)
FPS = 100.0


def random_roll(frames, max_poly):
    roll = []
    for _ in range(frames):
        k = int(RNG.integers(0, max_poly + 1))
        roll.append(sorted(int(p) for p in RNG.choice(np.arange(21, 109), size=k, replace=False)))
    return roll


def perturb(roll, p_drop, p_add, p_sub):
    out = []
    for frame in roll:
        pred = set(p for p in frame if RNG.random() >= p_drop)
        for p in list(pred):
            if RNG.random() < p_sub:
                pred.discard(p)
                pred.add(int(min(108, max(21, p + RNG.choice([-12, -1, 1, 7, 12])))))
        while RNG.random() < p_add:
            pred.add(int(RNG.integers(21, 109)))
        out.append(sorted(pred))
    return out


def mir_eval_metrics(truth, pred):
    times = np.arange(len(truth)) / FPS
    hz = lambda roll: [mir_eval.util.midi_to_hz(np.array(f, dtype=float)) for f in roll]
    scores = mir_eval.multipitch.metrics(times, hz(truth), times, hz(pred))
    keys = ["precision", "recall", "accuracy", "e_sub", "e_miss", "e_fa", "e_tot"]
    return dict(zip(keys, (float(s) for s in scores[:7])))


def micro(truth, pred):
    tp = sum(len(set(t) & set(p)) for t, p in zip(truth, pred))
    fp = sum(len(set(p) - set(t)) for t, p in zip(truth, pred))
    fn = sum(len(set(t) - set(p)) for t, p in zip(truth, pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(tp=tp, fp=fp, fn=fn, precision=precision, recall=recall, f1=f1)


def main(path):
    cases = []
    for i, (frames, poly, drop, add, sub) in enumerate(
        [(300, 4, 0.1, 0.1, 0.05), (300, 6, 0.3, 0.3, 0.2), (500, 2, 0.0, 0.0, 0.0),
         (200, 8, 0.5, 0.5, 0.5), (1000, 3, 0.05, 0.02, 0.02)]
    ):
        truth = random_roll(frames, poly)
        cases.append((f"random{i}", truth, perturb(truth, drop, add, sub)))
    some = random_roll(50, 3)
    cases += [
        ("all_predictions_empty", some, [[] for _ in some]),
        ("all_truth_empty", [[] for _ in some], some),
        ("everything_empty", [[] for _ in range(20)], [[] for _ in range(20)]),
        ("identical", some, some),
    ]
    out = [dict(name=n, truth=t, pred=p, mir_eval=mir_eval_metrics(t, p), micro=micro(t, p))
           for n, t, p in cases]
    with open(path, "w") as f:
        json.dump(dict(mir_eval=mir_eval.__version__, cases=out), f)
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/metrics/multipitch.json")
