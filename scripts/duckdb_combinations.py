"""DuckDB reference for benches/analysis.rs: the per-combination GROUP BY (frames, exact,
added, omitted per model and truth combination) over the bench's 10 million prediction rows,
joined with the labels on (shard, frame), recomputed from the Parquet files. Prints the best
of 3 runs as `duckdb_seconds S`."""

import sys
import time

import duckdb

QUERY = """
SELECT p.model, l.pitches AS combination,
       count(*) AS frames,
       count(*) FILTER (WHERE p.pitches = l.pitches) AS exact,
       count(*) FILTER (WHERE NOT list_has_all(l.pitches, p.pitches)) AS added,
       count(*) FILTER (WHERE NOT list_has_all(p.pitches, l.pitches)) AS omitted
FROM read_parquet('{dir}/predictions/*.parquet') p
JOIN read_parquet('{dir}/labels.parquet') l USING (shard, frame)
GROUP BY ALL
"""


def main(directory):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    query = QUERY.format(dir=directory)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        rows = con.execute(query).fetchall()
        times.append(time.perf_counter() - start)
    print(f"duckdb {duckdb.__version__}: {len(rows)} combinations, {sum(r[2] for r in rows):,} frames")
    print(f"duckdb_seconds {min(times):.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
