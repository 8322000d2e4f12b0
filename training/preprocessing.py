"""Standardization and imputation fitted on the training rows and stored with the model.

The statistics are computed by DuckDB over the training split (one aggregate query), so the
table is never pulled into Python to fit them. Missing values (SQL NULL, or NaN) are imputed
with the training mean, i.e. 0 after standardization.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import duckdb
import numpy as np

from training.data import InputColumn
from training.refs import first, quote_ident

log = logging.getLogger(__name__)

# Standardized values are clipped to this magnitude so that absurd inputs (1e30) give a huge,
# finite score rather than an overflow to inf/NaN inside the network.
CLIP = 1e6


@dataclasses.dataclass
class Preprocessor:
    feature_names: list[str]
    means: list[float]
    scales: list[float]
    missing_rate: list[float] = dataclasses.field(default_factory=list)
    constant_features: list[str] = dataclasses.field(default_factory=list)
    # The source columns behind the features, [{"name", "width"}]; width None for scalars.
    input_columns: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    scaling: str = "feature"
    # Training deciles of each scalar feature (the reference for per-feature drift).
    deciles: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    # Reason groups, in order: {group name: [feature, ...]}; every feature in exactly one.
    feature_groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def __post_init__(self) -> None:
        self._mean = np.asarray(self.means, dtype=np.float32)
        self._scale = np.asarray(self.scales, dtype=np.float32)

    # -- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit_sql(
        cls,
        con: duckdb.DuckDBPyConnection,
        source_sql: str,
        features: list[str] | list[InputColumn],
        scaling: str = "feature",
        channels: int | None = None,
    ) -> Preprocessor:
        """Fit from aggregates over ``source_sql`` (a SELECT or a quoted table name).

        ``scaling``: ``feature`` (each input its own mean and scale), ``channel`` (inputs split
        into ``channels`` equal channel-major groups sharing one: sensors, image channels) or
        ``global`` (one mean and scale for all inputs: pixels).
        """
        inputs = [f if isinstance(f, InputColumn) else InputColumn(f) for f in features]
        if not inputs:
            raise ValueError("no features to fit: the feature list is empty")
        stats = _scalar_stats(con, source_sql, [c.name for c in inputs if c.width is None])
        for c in inputs:
            if c.width is not None:
                stats.update(_array_stats(con, source_sql, c))
        names = [n for c in inputs for n in c.feature_names]
        n_rows = max((st[3] for st in stats.values()), default=0)
        if n_rows == 0:
            raise ValueError("cannot fit preprocessing: the training rows are empty")
        all_null = [n for n in names if stats[n][2] == 0]
        if all_null:
            shown = all_null if len(all_null) <= 10 else all_null[:10] + ["..."]
            raise ValueError(
                f"feature column(s) {shown} are NULL in every training row; "
                "drop them from the feature list"
            )
        mean = np.array([stats[n][0] for n in names], dtype=np.float64)
        std = np.array([stats[n][1] or 0.0 for n in names], dtype=np.float64)
        count = np.array([stats[n][2] for n in names], dtype=np.float64)
        total = np.array([stats[n][3] for n in names], dtype=np.float64)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            bad = [n for n, m, sd in zip(names, mean, std, strict=True)
                   if not (np.isfinite(m) and np.isfinite(sd))]
            raise ValueError(
                f"feature(s) {bad[:10]} have non-finite values (inf) in the training rows; "
                "filter or cap them before training"
            )
        groups = _groups(len(names), scaling, channels)
        if groups is not None:
            mean, std = _pooled(mean, std, count, groups)
        constant = [n for n, sd in zip(names, std, strict=True) if sd < 1e-12]
        scales = np.where(std < 1e-12, 1.0, std)
        if constant and scaling == "feature":
            shown = constant if len(constant) <= 10 else constant[:10] + ["..."]
            log.warning("constant feature(s) %s carry no information; kept with scale 1", shown)
        deciles = scalar_deciles(con, source_sql, [c.name for c in inputs if c.width is None])
        return cls(
            names, mean.tolist(), scales.tolist(), (1.0 - count / total).tolist(), constant,
            [c.to_dict() for c in inputs], scaling, deciles,
        )

    # -- applying -------------------------------------------------------------------------------
    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw ``(n, d)`` float matrix (NaN = missing) -> standardized float32, imputed, clipped."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected a matrix with {self.dim} columns, got shape {x.shape}")
        z = (x.astype(np.float32, copy=False) - self._mean) / self._scale
        # Missing -> the training mean, which is 0 after standardization.
        np.nan_to_num(z, copy=False, nan=0.0, posinf=CLIP, neginf=-CLIP)
        np.clip(z, -CLIP, CLIP, out=z)
        return z

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        return z * self._scale + self._mean

    # -- storage --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "means": self.means,
            "scales": self.scales,
            "missing_rate": self.missing_rate,
            "constant_features": self.constant_features,
            "input_columns": self.inputs_or_default(),
            "scaling": self.scaling,
            "deciles": self.deciles,
            "feature_groups": self.groups(),
        }

    def groups(self) -> dict[str, list[str]]:
        return self.feature_groups or {n: [n] for n in self.feature_names}

    def group_index(self) -> list[list[int]]:
        """Column indices of each reason group, in group order."""
        pos = {n: i for i, n in enumerate(self.feature_names)}
        return [[pos[f] for f in members] for members in self.groups().values()]

    def inputs_or_default(self) -> list[dict[str, Any]]:
        return self.input_columns or [{"name": n, "width": None} for n in self.feature_names]

    @property
    def inputs(self) -> list[InputColumn]:
        return [InputColumn(c["name"], c["width"]) for c in self.inputs_or_default()]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        return cls(
            feature_names=list(d["feature_names"]),
            means=[float(v) for v in d["means"]],
            scales=[float(v) for v in d["scales"]],
            missing_rate=[float(v) for v in d.get("missing_rate", [])],
            constant_features=list(d.get("constant_features", [])),
            input_columns=list(d.get("input_columns", [])),
            scaling=str(d.get("scaling", "feature")),
            deciles={k: list(v) for k, v in d.get("deciles", {}).items()},
            feature_groups={k: list(v) for k, v in d.get("feature_groups", {}).items()},
        )


def _clean(v: str) -> str:
    # NaN counts as missing, like NULL.
    return f"CASE WHEN isnan(CAST({v} AS DOUBLE)) THEN NULL ELSE CAST({v} AS DOUBLE) END"


Stats = dict[str, tuple[float, float, int, int]]  # name -> (mean, std, non-null count, rows)


def _scalar_stats(con: duckdb.DuckDBPyConnection, source_sql: str, columns: list[str]) -> Stats:
    if not columns:
        return {}
    aggs = []
    for c in columns:
        v = _clean(quote_ident(c, "feature column"))
        aggs += [f"avg({v})", f"stddev_pop({v})", f"count({v})"]
    row = first(con.execute(f"SELECT count(*), {', '.join(aggs)} FROM ({source_sql}) AS src"))
    assert row is not None
    n = int(row[0])
    return {
        c: (row[1 + 3 * i] if row[1 + 3 * i] is not None else 0.0, row[2 + 3 * i] or 0.0,
            int(row[3 + 3 * i]), n)
        for i, c in enumerate(columns)
    }


def scalar_deciles(con: duckdb.DuckDBPyConnection, source_sql: str,
                   columns: list[str]) -> dict[str, list[float]]:
    """The 10%, 20%, ..., 90% quantiles of each scalar feature: the reference for drift."""
    if not columns:
        return {}
    probs = [round(0.1 * i, 1) for i in range(1, 10)]
    aggs = [f"quantile_cont({_clean(quote_ident(c))}, {probs})" for c in columns]
    row = first(con.execute(f"SELECT {', '.join(aggs)} FROM ({source_sql}) AS src"))
    assert row is not None
    return {c: [float(v) for v in q] for c, q in zip(columns, row, strict=True) if q is not None}


def _array_stats(con: duckdb.DuckDBPyConnection, source_sql: str, col: InputColumn) -> Stats:
    """Per-element statistics of an array column, computed by unnesting in DuckDB."""
    q = quote_ident(col.name, "feature column")
    rows = con.execute(
        f"""SELECT i, avg(v), stddev_pop(v), count(v), count(*) FROM (
                SELECT {_clean("e")} AS v, i FROM (
                    SELECT unnest(CAST({q} AS DOUBLE[])) AS e,
                           generate_subscripts(CAST({q} AS DOUBLE[]), 1) AS i
                    FROM ({source_sql}) AS src WHERE {q} IS NOT NULL))
            GROUP BY i ORDER BY i"""
    ).fetchall()
    names = col.feature_names
    out: Stats = {n: (0.0, 0.0, 0, 0) for n in names}
    for i, mean, std, count, total in rows:
        if 1 <= i <= len(names):
            out[names[i - 1]] = (mean if mean is not None else 0.0, std or 0.0, int(count), int(total))
    return out


def _groups(d: int, scaling: str, channels: int | None) -> np.ndarray | None:
    if scaling == "feature":
        return None
    if scaling == "global":
        return np.zeros(d, dtype=np.int64)
    if scaling == "channel":
        if not channels or d % channels:
            raise ValueError(
                f"channel scaling needs the number of channels dividing the {d} inputs; "
                f"got channels={channels}"
            )
        return np.repeat(np.arange(channels), d // channels)
    raise ValueError(f"unknown scaling {scaling!r}; expected 'feature', 'channel' or 'global'")


def _pooled(mean: np.ndarray, std: np.ndarray, count: np.ndarray,
            groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each group of inputs, pooled from per-input statistics."""
    out_mean, out_std = np.empty_like(mean), np.empty_like(std)
    for g in np.unique(groups):
        m = groups == g
        w = count[m] / max(count[m].sum(), 1.0)
        gm = float((w * mean[m]).sum())
        gv = float((w * (std[m] ** 2 + (mean[m] - gm) ** 2)).sum())
        out_mean[m], out_std[m] = gm, np.sqrt(gv)
    return out_mean, out_std


def reason_groups(inputs: list[InputColumn], declared: dict[str, list[str]] | None,
                  channels: int | None = None) -> dict[str, list[str]]:
    """Groups of features that are attributed together (see ``udfs.kernels.attributions``).

    ``declared`` groups come first (e.g. the four features derived from one ``amount`` column);
    every other scalar feature is a group of its own; an array column is split into its
    channels when the model has several, else into at most 16 equal runs of elements.
    """
    names = [n for c in inputs for n in c.feature_names]
    known = set(names)
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    for g, members in (declared or {}).items():
        members = list(members)
        bad = [m for m in members if m not in known]
        if bad:
            raise ValueError(f"feature group {g!r} names {bad}, which are not model features; "
                             f"the features are {names}")
        twice = [m for m in members if m in seen]
        if twice:
            raise ValueError(f"feature(s) {twice} are in more than one feature group")
        seen.update(members)
        groups[str(g)] = members
    for c in inputs:
        rest = [n for n in c.feature_names if n not in seen]
        if not rest:
            continue
        if c.width is None:
            groups[rest[0]] = rest
            continue
        parts = channels if channels and channels > 1 and c.width % channels == 0 else min(16, len(rest))
        size = -(-len(rest) // parts)
        for i in range(0, len(rest), size):
            label = f"{c.name}[channel {i // size + 1}]" if parts == channels else \
                f"{c.name}[{i + 1}:{min(i + size, len(rest))}]"
            groups[label] = rest[i : i + size]
    return groups
