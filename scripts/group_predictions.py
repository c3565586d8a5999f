"""Writes the prediction files of scripts/gen_analysis_data.py as one table with a row group
per file, for the row-group rounds of scripts/scale-analyze.sh: OUT/table-00.parquet holds
DATA's pieces; OUT/table-RR.parquet (RR = 1..ROUNDS) the same with the first RR pieces taken
from STAGED (its --replacements), so each table differs from the one before in one row group.

Usage: python scripts/group_predictions.py DATA STAGED OUT ROUNDS
"""

import os
import sys

import pyarrow.parquet as pq


def main():
    data, staged, out, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    names = sorted(os.listdir(os.path.join(data, "predictions")))
    os.makedirs(out, exist_ok=True)
    for r in range(rounds + 1):
        path = os.path.join(out, f"table-{r:02d}.parquet")
        writer = None
        for i, name in enumerate(names):
            source = staged if i < r else data
            table = pq.read_table(os.path.join(source, "predictions", name))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            # One row group per piece (a piece is one shard of one model); pyarrow splits a
            # piece of more than 1 Mi rows (its max_row_group_length), which watch would then
            # evaluate whole.
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
        writer.close()


if __name__ == "__main__":
    main()
