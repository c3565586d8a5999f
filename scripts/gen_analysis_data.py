"""Writes a labels table and prediction files like benches/analysis.rs's, at any size, for
scripts/scale-analyze.sh: FILES shards of FRAMES frames each (100 fps), music-like rolls
(chords from a pool of 400 combinations of 1-4 pitches, held 5-40 frames), one prediction file
per shard (model `convnet`; in 1 frame of 8 the prediction drops a pitch, in 1 of 8 it adds
one). Vectorised with numpy/pyarrow, one shard at a time, so memory stays flat at any size.

Usage: python scripts/gen_analysis_data.py DIR FILES FRAMES [--row-group ROWS] [--replacements]
Writes DIR/labels.parquet and DIR/predictions/pieceNNNNN.parquet; with --replacements, other
predictions for the same shards (what a `watch` round replaces a file with).
"""

import argparse
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

META = {b"entangle.fps": b"100"}


def pool(rng):
    combos = []
    for _ in range(400):
        n = 1 + rng.integers(0, 4)
        combos.append(sorted(set(int(p) for p in 36 + rng.integers(0, 48, n))))
    return combos


def predicted_pool(combos):
    """For every truth combination: itself, without its lowest pitch, and with each of
    the 40 pitches 40..79 added (42 variants)."""
    out = []
    for c in combos:
        out.append(c)
        out.append(c[1:])
        for p in range(40, 80):
            out.append(sorted(set(c) | {p}))
    return out


def as_list_array(combos):
    return pa.array(combos, type=pa.list_(pa.field("item", pa.uint8(), nullable=False)))


def roll(rng, frames):
    """Combination index per frame: runs of 5-40 frames."""
    runs = frames // 5 + 1
    holds = rng.integers(5, 41, runs)
    picks = rng.integers(0, 400, runs)
    return np.repeat(picks, holds)[:frames]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("files", type=int)
    ap.add_argument("frames", type=int)
    ap.add_argument("--row-group", type=int, default=1 << 20)
    ap.add_argument(
        "--replacements",
        action="store_true",
        help="write only predictions, with other draws (files that replace the first ones in watch)",
    )
    a = ap.parse_args()
    rng = np.random.default_rng(42)
    combos = pool(rng)
    if a.replacements:
        rng = np.random.default_rng(7)
    truth_pool = as_list_array(combos)
    pred_pool = as_list_array(predicted_pool(combos))
    os.makedirs(os.path.join(a.dir, "predictions"), exist_ok=True)
    labels_schema = pa.schema(
        [
            pa.field("shard", pa.string(), nullable=False),
            pa.field("frame", pa.uint32(), nullable=False),
            pa.field("pitches", truth_pool.type, nullable=False),
        ],
        metadata=META,
    )
    preds_schema = pa.schema(
        [
            pa.field("model", pa.string(), nullable=False),
            pa.field("shard", pa.string(), nullable=False),
            pa.field("frame", pa.uint32(), nullable=False),
            pa.field("pitches", truth_pool.type, nullable=False),
        ],
        metadata=META,
    )
    frame = pa.array(np.arange(a.frames, dtype=np.uint32))
    labels_path = os.path.join(a.dir, "replaced-labels.parquet" if a.replacements else "labels.parquet")
    with pq.ParquetWriter(labels_path, labels_schema, compression="snappy") as labels:
        for i in range(a.files):
            shard = f"piece{i:05d}"
            truth = roll(rng, a.frames)
            u = rng.random(a.frames)
            variant = np.where(u < 0.75, 0, np.where(u < 0.875, 1, 2 + rng.integers(0, 40, a.frames)))
            shards = pa.array([shard] * a.frames, pa.string())
            labels.write_table(
                pa.table([shards, frame, truth_pool.take(pa.array(truth))], schema=labels_schema),
                row_group_size=a.row_group,
            )
            preds = pa.table(
                [
                    pa.array(["convnet"] * a.frames, pa.string()),
                    shards,
                    frame,
                    pred_pool.take(pa.array(truth * 42 + variant)),
                ],
                schema=preds_schema,
            )
            pq.write_table(
                preds,
                os.path.join(a.dir, "predictions", f"{shard}.parquet"),
                compression="snappy",
                row_group_size=a.row_group,
            )


if __name__ == "__main__":
    main()
