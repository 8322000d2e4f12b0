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
import re
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


@dataclasses.dataclass(frozen=True)
class InputColumn:
    """A source column feeding the model: a numeric scalar (``width`` None) or a numeric array
    of ``width`` elements (an image or a sequence window stored as ``FLOAT[]``)."""

    name: str
    width: int | None = None

    @property
    def feature_names(self) -> list[str]:
        if self.width is None:
            return [self.name]
        return [f"{self.name}[{i}]" for i in range(1, self.width + 1)]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "width": self.width}


def vector_sql(columns: list[InputColumn]) -> str:
    """SQL for the model's input vector, ``FLOAT[d]``, in the recorded order.

    Scalars become ``[CAST(a AS FLOAT), ...]``; array columns are concatenated as they are.
    """
    parts: list[str] = []
    scalars: list[str] = []
    for c in columns:
        if c.width is None:
            scalars.append(f"CAST({quote_ident(c.name)} AS FLOAT)")
            continue
        if scalars:
            parts.append(f"[{', '.join(scalars)}]")
            scalars = []
        parts.append(f"CAST({quote_ident(c.name)} AS FLOAT[])")
    if scalars:
        parts.append(f"[{', '.join(scalars)}]")
    dim = sum(len(c.feature_names) for c in columns)
    body = parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"
    return f"CAST({body} AS FLOAT[{dim}])"


def _is_numeric(type_name: str) -> bool:
    t = type_name.upper()
    return t in NUMERIC_TYPES or t.startswith("DECIMAL")


def _array_element(type_name: str) -> tuple[str, int | None] | None:
    """``FLOAT[64]`` -> (``FLOAT``, 64); ``DOUBLE[]`` -> (``DOUBLE``, None); else None."""
    m = re.fullmatch(r"(.+)\[(\d*)\]", type_name.strip())
    if not m:
        return None
    return m.group(1), int(m.group(2)) if m.group(2) else None


@dataclasses.dataclass
class FeatureSource:
    """Rows of ``sql`` with the numeric ``features``; ``key`` (optional) drives the split.

    ``features`` names source columns: numeric scalars, or numeric arrays of a fixed length
    (every row the same), which contribute one model input per element.
    """

    con: duckdb.DuckDBPyConnection
    sql: str
    features: list[str]
    key: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    # Read rows in key order (else by a hash of the values), so training does not depend on
    # how the table happens to be laid out: a rebuilt table gives the same model. Costs a sort
    # per pass (about 4% of an epoch at 150k rows); turn off for tables that do not fit memory.
    ordered: bool = True
    inputs: list[InputColumn] = dataclasses.field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("the feature list is empty: name at least one numeric column")
        if len(set(self.features)) != len(self.features):
            dupes = sorted({f for f in self.features if self.features.count(f) > 1})
            raise ValueError(f"feature column(s) {dupes} are listed more than once")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        self.inputs = self.check_columns()

    @property
    def feature_names(self) -> list[str]:
        return [n for c in self.inputs for n in c.feature_names]

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def columns(self) -> dict[str, str]:
        rel = self.con.sql(f"SELECT * FROM ({self.sql}) AS src LIMIT 0")
        return {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}

    def check_columns(self) -> list[InputColumn]:
        cols = self.columns()
        missing = [f for f in self.features if f not in cols]
        if missing:
            raise ValueError(
                f"feature column(s) {missing} are not in the source; it has {sorted(cols)}"
            )
        if self.key is not None and self.key not in cols:
            raise ValueError(f"key column {self.key!r} is not in the source; it has {sorted(cols)}")
        inputs, bad = [], {}
        for f in self.features:
            quote_ident(f, "feature column")
            array = _array_element(cols[f])
            if array is None:
                if _is_numeric(cols[f]):
                    inputs.append(InputColumn(f))
                else:
                    bad[f] = cols[f]
                continue
            element, width = array
            if not _is_numeric(element):
                bad[f] = cols[f]
                continue
            if width is None:
                got = first(self.con.execute(
                    f"SELECT min(len({quote_ident(f)})), max(len({quote_ident(f)})) "
                    f"FROM ({self.sql}) AS src"
                ))
                lo, hi = got if got else (None, None)
                if lo is None or lo != hi or lo == 0:
                    raise ValueError(
                        f"array feature column {f!r} must have the same, non-zero length in "
                        f"every row; its lengths range from {lo} to {hi}"
                    )
                width = int(lo)
            inputs.append(InputColumn(f, width))
        if bad:
            raise ValueError(
                f"feature column(s) must be numeric or numeric arrays, got {bad}; encode "
                "categories as numbers in a dbt feature model first"
            )
        return inputs

    # -- SQL pieces ---------------------------------------------------------------------------------
    def vector_sql(self) -> str:
        """The ``FLOAT[d]`` input vector in the recorded feature order."""
        return vector_sql(self.inputs)

    def _hash_sql(self) -> str:
        if self.key is not None:
            what = f"CAST({quote_ident(self.key)} AS VARCHAR)"
        else:
            what = f"CAST({self.vector_sql()} AS VARCHAR)"
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
            f"{row[0]}|{row[1]}|{row[2]}|{','.join(self.feature_names)}|{self.key}".encode()
        ).hexdigest()[:32]
        return int(row[0]), digest

    # -- streaming ------------------------------------------------------------------------------
    def read(self, part: Part = "all", batch_rows: int = 65_536) -> Iterator[np.ndarray]:
        """Yield raw float32 ``(n, d)`` matrices (NaN where NULL) in storage order."""
        # A NULL array makes the whole vector NULL: such rows carry nothing to learn from.
        order = ""
        if self.ordered:
            order = f" ORDER BY {quote_ident(self.key)}" if self.key else " ORDER BY hash(x)"
        query = (f"SELECT x FROM (SELECT {self.vector_sql()} AS x"
                 f"{', ' + quote_ident(self.key) if self.key else ''} FROM ({self.part_sql(part)}) "
                 f"AS p) WHERE x IS NOT NULL{order}")
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
