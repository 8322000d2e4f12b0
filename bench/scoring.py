"""Scoring throughput: in-SQL functions against the in-memory limit, the pandas round trip and
duckae's bulk path, on the same model version and data, in one run.

    python bench/scoring.py [--rows 1000000] [--dims 32 128] [--out bench/results]

Prints a table of rows/s and ratios, the UDF calls and batch sizes seen, the thread settings,
and writes bench/results/scoring.png. Absolute numbers move with the machine; the ratios are
what the targets are about (SQL >= 0.8x the limit and >= 2x pandas; bulk >= 0.9x the limit).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import udfs  # noqa: E402
from training import registry  # noqa: E402
from training.api import fit  # noqa: E402
from training.evaluate import load_matrix  # noqa: E402
from udfs import kernels  # noqa: E402
from udfs.bulk import score_table  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(con: duckdb.DuckDBPyConnection, rows: int, d: int) -> dict[str, object]:
    rng = np.random.default_rng(d)
    basis = rng.normal(size=(8, d)).astype(np.float32)
    con.execute(f"""
        CREATE OR REPLACE TABLE t AS
        SELECT i AS id, list_transform(range({d}), lambda j: (random() * 2 - 1)::FLOAT)::FLOAT[{d}] AS x
        FROM range({rows}) r(i)""")
    # a model trained on structured data of the same width (the timing does not depend on it)
    train = (rng.normal(size=(50_000, 8)).astype(np.float32) @ basis)
    load_matrix(con, "train", train)
    model = fit(con, "train", ["x"], key="id", params={"hidden": [64, 32], "latent_dim": 8},
                train_config={"epochs": 1})
    name = f"bench{d}"
    version = registry.register(con, name, model)
    ref = f"{name}@{version}"
    loaded = registry.load(con, ref)
    store = udfs.register(con, duckdb_threads=2)
    x = np.asarray(con.sql("SELECT x FROM t ORDER BY id").to_arrow_table().column("x")
                   .combine_chunks().values.to_numpy(), dtype=np.float32).reshape(rows, d)

    # the limit: the same model on the matrix already in memory, batched; the best of torch
    # with 1 or 2 intra-op threads, and of one single-threaded worker per core
    limit = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        limit[f"torch {threads} thread(s)"] = best_of(lambda: kernels.score(loaded, x))
    torch.set_num_threads(1)  # also what register() sets for 2 DuckDB threads
    cores = os.cpu_count() or 1
    parts = np.array_split(x, cores * 4)
    with ThreadPoolExecutor(cores) as pool:
        limit[f"{cores} workers x 1 thread"] = best_of(
            lambda: list(pool.map(lambda p: kernels.score(loaded, p), parts)))
    t_limit = min(limit.values())

    store.calls = store.rows = 0
    t_sql = best_of(lambda: con.execute(f"SELECT sum(ae_score('{ref}', x)) FROM t").fetchall())
    calls, seen = store.calls // 3, store.rows // 3
    t_encode = best_of(lambda: con.execute(
        f"CREATE OR REPLACE TABLE latents AS SELECT id, ae_encode('{ref}', x) AS z FROM t"))

    def pandas_round_trip() -> None:
        df = con.sql("SELECT id, x FROM t").df()
        df["score"] = kernels.score(loaded, np.stack(df["x"].to_numpy()).astype(np.float32))
        con.register("_scored", df[["id", "score"]])
        con.execute("CREATE OR REPLACE TABLE scored_pandas AS SELECT * FROM _scored")
        con.unregister("_scored")

    t_pandas = best_of(pandas_round_trip)
    t_bulk = best_of(lambda: score_table(con, ref, "t", "id", "scored_bulk", batch_rows=65_536,
                                         progress=False))
    return {
        "d": d, "rows": rows, "limit_s": t_limit, "limit_threads": min(limit, key=limit.get),  # type: ignore[arg-type]
        "sql_s": t_sql, "encode_s": t_encode, "pandas_s": t_pandas, "bulk_s": t_bulk,
        "udf_calls": calls, "rows_per_call": seen / max(calls, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    con = duckdb.connect()
    results = [run(con, args.rows, d) for d in args.dims]
    print(f"threads: DuckDB 2 x torch 1 inside SQL (register's rule: product within "
          f"{os.cpu_count()} cores); bulk: one worker per core x torch 1; the limit is the best of "
          "torch 1 thread, 2 threads, and one worker per core")
    print("| d | path | rows/s | x limit | x pandas |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        paths = {
            "in-memory limit (kernels.score)": r["limit_s"],
            "SQL `ae_score`": r["sql_s"],
            "SQL `ae_encode` into a table": r["encode_s"],
            "pandas round trip": r["pandas_s"],
            "bulk path (`duckae score`)": r["bulk_s"],
        }
        for path, sec in paths.items():
            print(f"| {r['d']} | {path} | {r['rows'] / sec:,.0f} | {r['limit_s'] / sec:.2f} | "
                  f"{r['pandas_s'] / sec:.2f} |")
        print(f"| {r['d']} | UDF calls per query: {r['udf_calls']}, rows per call "
              f"{r['rows_per_call']:.0f}; best limit: {r['limit_threads']} | | | |")
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = ["limit", "SQL score", "SQL encode", "pandas", "bulk"]
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        vals = [r["rows"] / r[k] for k in ("limit_s", "sql_s", "encode_s", "pandas_s", "bulk_s")]
        ax.bar(np.arange(5) + i * width, vals, width, label=f"d={r['d']}")
    ax.set_xticks(np.arange(5) + width * (len(results) - 1) / 2, labels)
    ax.set_ylabel("rows / s")
    ax.set_title(f"scoring {results[0]['rows']:,} rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "scoring.png", dpi=110)


if __name__ == "__main__":
    main()
