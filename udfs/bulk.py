"""Scoring a whole table outside a SQL expression: stream batches, score, write, atomically.

``score_table`` reads ``key`` and the model's input vector with ``to_arrow_reader``, runs the
batch kernels and appends Arrow batches to a staging table; the output table is replaced by it
in one transaction at the end, so a failure (bad input, a killed process) leaves the previous
output as it was. This is also the fast path for whole tables: no per-call UDF overhead, large
batches, one pass computing score, percentile and flag together.
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa

from training import registry
from training.data import arrow_to_matrix, source_sql, vector_sql
from training.progress import RowProgress
from training.refs import first, quote_ident, quote_qualified
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
    try:
        cur.execute("BEGIN TRANSACTION")
        cur.execute(f"DROP TABLE IF EXISTS {stage}")
        reader = con.sql(
            f"SELECT {k} AS key, {vector_sql(model.preprocessor.inputs)} AS x FROM ({src}) AS s"
        ).to_arrow_reader(batch_rows)
        created = False
        for batch in reader:
            valid = np.asarray(batch.column("x").is_valid())
            x = arrow_to_matrix(batch.column("x").filter(pa.array(valid)), model.input_dim)
            scores = np.full(len(valid), np.nan)
            scores[valid] = kernels.score(model, x)
            table = pa.table({
                "key": batch.column("key"),
                "model_name": pa.array([name] * len(valid)),
                "model_version": pa.array(np.full(len(valid), version, dtype=np.int32)),
                "score": pa.array(scores, mask=~valid),
                "percentile": pa.array(model.percentile(scores), mask=~valid),
                "is_anomaly": pa.array(scores > model.threshold, mask=~valid),
            })
            cur.register("_batch", table)
            if not created:
                cur.execute(f"CREATE TABLE {stage} AS SELECT * FROM _batch")
                created = True
            else:
                cur.execute(f"INSERT INTO {stage} SELECT * FROM _batch")
            cur.unregister("_batch")
            n += len(valid)
            flagged += int(np.sum(scores > model.threshold))
            if bar:
                bar.update(len(valid))
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
