"""Shared fixtures: small seeded data in temporary DuckDB files, and a quickly trained model."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch

from training import registry
from training.api import fit
from training.artifact import TrainedModel

# Tests run on 2 cores next to DuckDB: one torch thread keeps the product within the cores.
torch.set_num_threads(1)
logging.getLogger("training").setLevel(logging.WARNING)

FEATURES = [f"f{i}" for i in range(8)]
FAST = {"epochs": 8, "batch_size": 128, "patience": 3, "seed": 0, "torch_threads": 1}


def manifold_rows(n: int, n_anomalies: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8 features that lie near a 2-D nonlinear manifold, plus off-manifold anomalies."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, size=(n, 2))
    x = np.column_stack([
        t[:, 0], t[:, 1], t[:, 0] * t[:, 1], np.sin(3 * t[:, 0]), np.cos(2 * t[:, 1]),
        t[:, 0] ** 2, t[:, 0] - t[:, 1], np.tanh(2 * t[:, 1]),
    ]) + rng.normal(0, 0.03, size=(n, 8))
    y = np.zeros(n, dtype=bool)
    idx = rng.choice(n, size=n_anomalies, replace=False)
    # Each anomaly keeps ordinary marginals but breaks the manifold: shuffle three features.
    for i in idx:
        cols = rng.choice(8, size=3, replace=False)
        x[i, cols] = x[rng.integers(0, n), cols] * -1.0
    y[idx] = True
    return x.astype(np.float64), y


def load_manifold(con: duckdb.DuckDBPyConnection, table: str = "features", n: int = 3000,
                  n_anomalies: int = 30, seed: int = 0) -> np.ndarray:
    x, y = manifold_rows(n, n_anomalies, seed)
    cols = {"id": np.arange(1, n + 1), **{f: x[:, i] for i, f in enumerate(FEATURES)},
            "label": y}
    import pandas as pd

    df = pd.DataFrame(cols)
    con.register("_df", df)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _df")
    con.unregister("_df")
    return y


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(db_path))
    c.execute("SET threads = 2")
    yield c
    c.close()


@pytest.fixture
def labels(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    return load_manifold(con)


@pytest.fixture(scope="session")
def trained_session(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """One model trained on the manifold data, shared read-only by the tests."""
    path = tmp_path_factory.mktemp("trained") / "t.duckdb"
    c = duckdb.connect(str(path))
    load_manifold(c)
    model = fit(c, "features", FEATURES, key="id",
                params={"hidden": [32, 16], "latent_dim": 2}, train_config=FAST)
    c.close()
    return model


@pytest.fixture
def registered(con: duckdb.DuckDBPyConnection, labels: np.ndarray,
               trained_session: TrainedModel) -> TrainedModel:
    """``con`` holding the manifold table and ``trained_session`` registered as ``demo@1``."""
    registry.register(con, "demo", trained_session, promote=True)
    return trained_session
