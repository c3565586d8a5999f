"""Summarises analysis directories for README Results, "Systems people use": per model, test
P / R / F (mean over shards), intervals (two-note combinations) with an omitted proportion of
at least 0.5 / 0.9 / 0.99, and the most frequent additions.

Usage: python scripts/systems_summary.py DIR [DIR ...]   (each DIR holds the analysis tables)
"""
import sys

import duckdb


def main(dirs):
    for d in dirs:
        print(f"## {d}")
        for model, p, r, f, frames in duckdb.sql(
            f"SELECT model, precision, recall, f1, frames FROM '{d}/split_metrics.parquet' "
            "WHERE split = 'test' ORDER BY model"
        ).fetchall():
            omitted = duckdb.sql(
                f"SELECT count(*) FILTER (omitted_ratio >= 0.5), count(*) FILTER (omitted_ratio >= 0.9), "
                f"count(*) FILTER (omitted_ratio >= 0.99), count(*), "
                f"count(*) FILTER (exact_ratio >= 0.5) "
                f"FROM '{d}/combinations.parquet' WHERE model = '{model}' AND split = 'test' AND polyphony = 2"
            ).fetchall()[0]
            adds = duckdb.sql(
                f"SELECT note, sum(frames) AS n FROM '{d}/additions.parquet' "
                f"WHERE model = '{model}' AND split = 'test' GROUP BY note ORDER BY n DESC, note LIMIT 5"
            ).fetchall()
            shared = duckdb.sql(
                f"SELECT count(*) FILTER (shared IS NULL), count(*) FROM '{d}/combinations.parquet' "
                f"WHERE model = '{model}' AND split = 'test'"
            ).fetchall()[0]
            print(
                f"{model}: frames {frames}, P/R/F {p:.2f} / {r:.2f} / {f:.2f}; intervals omitted "
                f">=0.5/0.9/0.99: {omitted[0]}/{omitted[1]}/{omitted[2]} of {omitted[3]} "
                f"(exact >=0.5: {omitted[4]}); additions (frames): "
                + ", ".join(f"{n} {c}" for n, c in adds)
                + f"; shared NULL in {shared[0]} of {shared[1]} combinations"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
