"""Measurements shared by the tests, the benchmarks and the notebook: fit on an in-memory
matrix (through DuckDB, as in production), held-out reconstruction error, and a PCA baseline
in the same standardized units."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
import torch

from training.api import fit
from training.artifact import TrainedModel


def load_matrix(con: duckdb.DuckDBPyConnection, table: str, x: np.ndarray) -> None:
    """``x`` (n, d) into ``table(id BIGINT, x FLOAT[d])`` (replaced if it exists)."""
    df = pd.DataFrame({"id": np.arange(len(x)), "x": list(np.asarray(x, dtype=np.float32))})
    con.register("_matrix", df)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT id, x::FLOAT[{x.shape[1]}] AS x FROM _matrix"
    )
    con.unregister("_matrix")


def fit_matrix(con: duckdb.DuckDBPyConnection, x: np.ndarray, family: str,
               params: dict[str, Any], **train: Any) -> TrainedModel:
    """Load ``x`` into the table ``data`` and fit ``family`` on it."""
    load_matrix(con, "data", x)
    cfg = {"epochs": 30, "batch_size": 64, "seed": 0, "patience": 8} | train
    return fit(con, "data", ["x"], key="id", family=family, params=params, train_config=cfg)


def standardized(model: TrainedModel, x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(model.preprocessor.transform(np.asarray(x, dtype=np.float32)))


def model_heldout_mse(model: TrainedModel, test: np.ndarray) -> float:
    """Mean squared reconstruction error of ``test`` in the model's standardized units."""
    with torch.no_grad():
        z = standardized(model, test)
        return float((model.model.reconstruct(z) - z).pow(2).mean())


def pca_heldout_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Held-out MSE of PCA with ``k`` components on per-feature standardized data."""
    mu, sd = train.mean(0), train.std(0) + 1e-12
    a, b = (train - mu) / sd, (test - mu) / sd
    _, _, vt = np.linalg.svd(a, full_matrices=False)
    v = vt[:k].T
    return float(((b @ v @ v.T - b) ** 2).mean())
