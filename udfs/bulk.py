"""Scoring a whole table outside a SQL expression: stream batches, score, write, atomically.

``score_table`` reads ``key`` and the model's input vector with ``to_arrow_reader``, runs the
batch kernels and appends Arrow batches to a staging table; the output table is replaced by it
in one transaction at the end, so a failure (bad input, a killed process) leaves the previous
output as it was. This is also the fast path for whole tables: no per-call UDF overhead, large
batches, one pass computing score, percentile and flag together.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training import registry
from training.data import arrow_to_matrix, source_sql, vector_sql
from training.progress import RowProgress
from training.refs import first, quote_ident, quote_qualified
from training.trainer import torch_threads
from udfs import kernels

log = logging.getLogger(__name__)


def score_table(
    con: duckdb.DuckDBPyConnection,
    ref: str,
    source: str,
    key: str,
    output: str,
    batch_rows: int = 65_536,
    progress: bool = True,
) -> tuple[str, int, int]:
    """Score ``source`` into ``output`` (key, model_name, model_version, score, percentile,
    is_anomaly). Returns (pinned reference, rows, flagged)."""
    name, version = registry.resolve(con, ref)
    model = registry.load(con, f"{name}@{version}")
    src = source_sql(source)
    k = quote_ident(key, "key column")
    out = quote_qualified(output, "output table")
    stage = quote_qualified(output + "__duckae_staging", "output table")
    have = {c.lower() for c in con.sql(f"SELECT * FROM ({src}) AS s LIMIT 0").columns}
    gone = [c.name for c in model.preprocessor.inputs if c.name.lower() not in have]
    if gone or key.lower() not in have:
        raise ValueError(
            f"{source} lacks column(s) {gone + ([] if key.lower() in have else [key])} that "
            f"{name}@{version} was trained on (it reads {[c.name for c in model.preprocessor.inputs]}); "
            "were they renamed or dropped? Rebuild the feature table or retrain"
        )
    total_row = first(con.execute(f"SELECT count(*) FROM ({src}) AS s"))
    total = int(total_row[0]) if total_row else 0
    bar = RowProgress(total, f"scoring {name}@{version}") if progress else None
    cur = con.cursor()
    n, flagged = 0, 0
    workers = max(1, os.cpu_count() or 1)

    def scored(batch: pa.RecordBatch) -> pa.Table:
        column = batch.column("x")
        if column.null_count:  # NULL vectors (a NULL array column) score NULL
            valid = np.asarray(column.is_valid())
            x = arrow_to_matrix(column.filter(pa.array(valid)), model.input_dim)
            scores = np.full(len(valid), np.nan)
            scores[valid] = kernels.score(model, x)
            mask = pa.array(~valid)
        else:
            scores = kernels.score(model, arrow_to_matrix(column, model.input_dim))
            mask = None
        return pa.table({
            "key": batch.column("key"),
            "score": pa.array(scores, mask=mask),
            "percentile": pa.array(model.percentile(scores), mask=mask),
            "is_anomaly": pa.array(scores > model.threshold, mask=mask),
        })

    # One scoring thread per core, torch single-threaded in each (torch releases the GIL):
    # the same parallelism DuckDB gives the SQL functions, with larger batches and no per-call
    # overhead. Batches are written in order; at most two per worker are in flight.
    try:
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"DROP TABLE IF EXISTS {stage}")
        reader = con.sql(
            f"SELECT {k} AS key, {vector_sql(model.preprocessor.inputs)} AS x FROM ({src}) AS s"
        ).to_arrow_reader(batch_rows)
        created = False
        # constant columns are added by DuckDB, not built row by row in Python
        select = ("SELECT key, ? AS model_name, CAST(? AS INTEGER) AS model_version, score, "
                  "percentile, is_anomaly FROM _batch")
        with torch_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[pa.Table]] = deque()
            batches = iter(reader)
            while True:
                while len(pending) < 2 * workers:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    pending.append(pool.submit(scored, batch))
                if not pending:
                    break
                table = pending.popleft().result()
                cur.register("_batch", table)
                if not created:
                    cur.execute(f"CREATE TABLE {stage} AS {select}", [name, version])
                    created = True
                else:
                    cur.execute(f"INSERT INTO {stage} {select}", [name, version])
                cur.unregister("_batch")
                n += table.num_rows
                flagged += int(pc.sum(table.column("is_anomaly")).as_py() or 0)
                if bar:
                    bar.update(table.num_rows)
        if not created:
            raise ValueError(f"{source} has no rows to score")
        cur.execute(f"ALTER TABLE {stage} RENAME COLUMN key TO {k}")
        cur.execute(f"DROP TABLE IF EXISTS {out}")
        cur.execute(f"ALTER TABLE {stage} RENAME TO {quote_ident(output.split('.')[-1])}")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()
        if bar:
            bar.close()
    log.info("scored %d rows of %s with %s@%d into %s (%d flagged)", n, source, name, version,
             output, flagged)
    return f"{name}@{version}", n, flagged
