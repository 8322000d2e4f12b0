"""Streaming feature batches out of DuckDB.

A :class:`FeatureSource` is a query (a table name or any SELECT) plus the feature columns the
model reads. Rows are split into train/validation deterministically by hashing a key (or the
feature values when there is no key), read as Arrow record batches with ``to_arrow_reader`` and
turned into float32 matrices; the whole table is never materialized in Python. Shuffling happens
in a bounded buffer, because ``ORDER BY random()`` in SQL costs a full sort per epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from training.refs import first, quote_ident, quote_qualified

Part = Literal["train", "val", "all"]

NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "BOOLEAN",
)  # fmt: skip


def source_sql(source: str | duckdb.DuckDBPyRelation) -> str:
    """SQL text for a table name (``schema.table``) or a relation (``con.table(...)``)."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        return source.sql_query()
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"expected a table name or a DuckDB relation, got {source!r}")
    text = source.strip()
    if text.lower().startswith(("select", "with", "from", "(")):
        return text
    return f"SELECT * FROM {quote_qualified(text)}"


def arrow_to_matrix(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """A ``FLOAT[dim]``/``FLOAT[]`` Arrow column -> float32 ``(n, dim)``; NULL elements -> NaN.

    The caller guarantees every list has ``dim`` elements (checked where user input arrives).
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_fixed_size_list(column.type):
        values = column.values
        start = column.offset * dim
        values = values.slice(start, len(column) * dim)
    else:
        offsets = column.offsets
        begin = offsets[0].as_py()
        values = column.values.slice(begin, len(column) * dim)
    # Arrow float nulls become NaN here, which the preprocessor imputes.
    flat = values.to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(len(column), dim)


@dataclasses.dataclass
class FeatureSource:
    """Rows of ``sql`` with the numeric ``features``; ``key`` (optional) drives the split."""

    con: duckdb.DuckDBPyConnection
    sql: str
    features: list[str]
    key: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("the feature list is empty: name at least one numeric column")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        self.check_columns()

    @property
    def dim(self) -> int:
        return len(self.features)

    def columns(self) -> dict[str, str]:
        rel = self.con.sql(f"SELECT * FROM ({self.sql}) AS src LIMIT 0")
        return {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}

    def check_columns(self) -> None:
        cols = self.columns()
        missing = [f for f in self.features if f not in cols]
        if missing:
            raise ValueError(
                f"feature column(s) {missing} are not in the source; it has {sorted(cols)}"
            )
        bad = {f: cols[f] for f in self.features if cols[f].upper() not in NUMERIC_TYPES
               and not cols[f].upper().startswith("DECIMAL")}
        if bad:
            raise ValueError(
                f"feature column(s) must be numeric, got {bad}; encode categories as numbers "
                "in a dbt feature model first"
            )
        if self.key is not None and self.key not in cols:
            raise ValueError(f"key column {self.key!r} is not in the source; it has {sorted(cols)}")

    # -- SQL pieces ---------------------------------------------------------------------------------
    def vector_sql(self) -> str:
        """``[f1, f2, ...]::FLOAT[d]`` in the recorded feature order."""
        cols = ", ".join(f"CAST({quote_ident(f)} AS FLOAT)" for f in self.features)
        return f"[{cols}]::FLOAT[{self.dim}]"

    def _hash_sql(self) -> str:
        if self.key is not None:
            what = f"CAST({quote_ident(self.key)} AS VARCHAR)"
        else:
            what = "concat_ws('|', " + ", ".join(
                f"CAST({quote_ident(f)} AS VARCHAR)" for f in self.features
            ) + ")"
        # A stable hash of the key and the seed; `hash()` is stable within a DuckDB version.
        return f"hash({what}, {int(self.split_seed)})"

    def part_sql(self, part: Part) -> str:
        if part == "all" or self.val_fraction == 0.0:
            if part == "val":
                return f"SELECT * FROM ({self.sql}) AS src WHERE false"
            return f"SELECT * FROM ({self.sql}) AS src"
        cut = int(round(self.val_fraction * 10_000))
        op = "<" if part == "val" else ">="
        return f"SELECT * FROM ({self.sql}) AS src WHERE {self._hash_sql()} % 10000 {op} {cut}"

    def count(self, part: Part = "all") -> int:
        row = first(self.con.execute(f"SELECT count(*) FROM ({self.part_sql(part)})"))
        return int(row[0]) if row else 0

    def fingerprint(self) -> tuple[int, str]:
        """(row count, hash) of the feature values and key: equal data gives an equal hash."""
        cols = [self.vector_sql()]
        if self.key is not None:
            cols.append(quote_ident(self.key))
        row = first(self.con.execute(
            f"SELECT count(*), coalesce(bit_xor(hash({', '.join(cols)})), 0), "
            f"coalesce(sum(hash({', '.join(cols)}) % 1000003), 0) FROM ({self.sql}) AS src"
        ))
        assert row is not None
        digest = hashlib.sha256(
            f"{row[0]}|{row[1]}|{row[2]}|{','.join(self.features)}|{self.key}".encode()
        ).hexdigest()[:32]
        return int(row[0]), digest

    # -- streaming ------------------------------------------------------------------------------
    def read(self, part: Part = "all", batch_rows: int = 65_536) -> Iterator[np.ndarray]:
        """Yield raw float32 ``(n, d)`` matrices (NaN where NULL) in storage order."""
        query = f"SELECT {self.vector_sql()} AS x FROM ({self.part_sql(part)}) AS p"
        reader = self.con.sql(query).to_arrow_reader(batch_rows)
        for batch in reader:
            if batch.num_rows:
                yield arrow_to_matrix(batch.column(0), self.dim)


def shuffled_batches(
    chunks: Iterator[np.ndarray], batch_size: int, buffer_rows: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Minibatches from a stream of chunks, shuffled within a buffer of ``buffer_rows`` rows.

    Memory stays at about ``buffer_rows + chunk`` rows whatever the table size.
    """
    pending: list[np.ndarray] = []
    held = 0
    carry = np.empty((0, 0), dtype=np.float32)

    def drain(final: bool) -> Iterator[np.ndarray]:
        nonlocal carry
        block = np.concatenate([carry, *pending]) if carry.size else np.concatenate(pending)
        block = block[rng.permutation(len(block))]
        stop = len(block) if final else len(block) - len(block) % batch_size
        for i in range(0, stop, batch_size):
            yield block[i : i + batch_size]
        carry = block[stop:]

    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= buffer_rows:
            yield from drain(final=False)
            pending.clear()
            held = 0
    if pending or carry.size:
        if not pending:
            pending.append(carry[:0])
        yield from drain(final=True)
