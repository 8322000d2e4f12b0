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

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def __post_init__(self) -> None:
        self._mean = np.asarray(self.means, dtype=np.float32)
        self._scale = np.asarray(self.scales, dtype=np.float32)

    # -- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit_sql(
        cls, con: duckdb.DuckDBPyConnection, source_sql: str, features: list[str]
    ) -> Preprocessor:
        """Fit from an aggregate over ``source_sql`` (a SELECT or a quoted table name)."""
        if not features:
            raise ValueError("no features to fit: the feature list is empty")
        aggs = []
        for f in features:
            q = quote_ident(f, "feature column")
            v = f"CAST({q} AS DOUBLE)"
            # NaN counts as missing, like NULL.
            v = f"CASE WHEN isnan({v}) THEN NULL ELSE {v} END"
            aggs += [f"avg({v})", f"stddev_pop({v})", f"count({v})"]
        row = first(con.execute(f"SELECT count(*), {', '.join(aggs)} FROM ({source_sql}) AS src"))
        assert row is not None
        n = int(row[0])
        if n == 0:
            raise ValueError("cannot fit preprocessing: the training rows are empty")
        means, scales, missing, constant = [], [], [], []
        all_null = []
        for i, f in enumerate(features):
            mean, std, count = row[1 + 3 * i : 4 + 3 * i]
            if count == 0:
                all_null.append(f)
                continue
            if not np.isfinite(mean) or not np.isfinite(std):
                raise ValueError(
                    f"feature {f!r} has non-finite values (inf) in the training rows; "
                    "filter or cap them before training"
                )
            means.append(float(mean))
            if std is None or std < 1e-12:
                constant.append(f)
                scales.append(1.0)
            else:
                scales.append(float(std))
            missing.append(1.0 - count / n)
        if all_null:
            raise ValueError(
                f"feature column(s) {all_null} are NULL in every training row; "
                "drop them from the feature list"
            )
        if constant:
            log.warning("constant feature(s) %s carry no information; kept with scale 1", constant)
        return cls(list(features), means, scales, missing, constant)

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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        return cls(
            feature_names=list(d["feature_names"]),
            means=[float(v) for v in d["means"]],
            scales=[float(v) for v in d["scales"]],
            missing_rate=[float(v) for v in d.get("missing_rate", [])],
            constant_features=list(d.get("constant_features", [])),
        )
