"""The body of a dbt python training model: train (or reuse) and describe the version in use.

A dbt python model reads its config with literal ``dbt.config.get("...")`` calls (dbt finds the
keys by scanning the file), then hands the values here::

    def model(dbt, session):
        dbt.config(materialized="table")
        from training.dbt_job import train_model
        return train_model(session, dbt.ref("fct_x"), name=dbt.config.get("ae_name"), ...)
"""

from __future__ import annotations

import ast
import json
from typing import Any

import duckdb
import pandas as pd

from training import registry
from training.api import train


def _as_list(value: Any) -> list[str] | None:
    # dbt renders a var used in a yml config to its string form; accept either form.
    if value is None or value == "":
        return None
    return list(ast.literal_eval(value)) if isinstance(value, str) else list(value)


def train_model(
    session: duckdb.DuckDBPyConnection,
    source: duckdb.DuckDBPyRelation,
    *,
    name: str,
    family: str | None = None,
    key: str | None = None,
    features: Any = None,
    params: dict[str, Any] | None = None,
    train_config: dict[str, Any] | None = None,
    review_queue: str | None = None,
    threshold: dict[str, Any] | None = None,
    review_source: duckdb.DuckDBPyRelation | None = None,
    feature_groups: dict[str, list[str]] | None = None,
    baseline_pca: bool = False,
    promote: bool = True,
) -> pd.DataFrame:
    """Train ``name`` on ``source`` unless this data and config are registered; one-row frame."""
    cfg = dict(train_config or {})
    # dbt vars arrive as strings; 0 means "no cap" for the step limit.
    steps = int(cfg.pop("max_steps_per_epoch", 0) or 0)
    if steps > 0:
        cfg["max_steps_per_epoch"] = steps
    result = train(
        session, name, source, _as_list(features), family=family or "vanilla",
        params=dict(params or {}), train_config=cfg, key=key, promote=promote,
        review_queue=review_queue or None, threshold=dict(threshold) if threshold else None,
        review_source=review_source,
        feature_groups=dict(feature_groups) if feature_groups else None,
    )
    meta = registry.metadata(session, f"{name}@{result.production_version or result.version}")
    if baseline_pca:
        # PCA with the same code size, on the same rows, stored the same way: the baseline the
        # reduction models compare against (`<name>_pca`).
        train(session, f"{name}_pca", source, _as_list(features), family="pca",
              params={"latent_dim": meta["latent_dim"]},
              train_config=cfg | {"normalize_errors": False}, key=key, promote=True)
    return pd.DataFrame([{
        "model_name": name,
        "model_version": meta["version"],
        "model_ref": f"{name}@{meta['version']}",
        "family": meta["family"],
        "trained_this_run": result.trained,
        "latest_version": result.version,
        "n_features": len(meta["feature_names"]),
        "latent_dim": meta["latent_dim"],
        "threshold": meta["threshold"],
        "threshold_method": meta["threshold_method"],
        "threshold_params": json.dumps(meta["threshold_params"]),
        "excluded_confirmed_rows": meta["metrics"].get("feedback", {}).get("excluded_confirmed_rows"),
        "train_rows": meta["metrics"].get("train_rows"),
        "best_val_loss": meta["metrics"].get("best_val_loss"),
        "train_seconds": meta["metrics"].get("train_seconds"),
        "data_fingerprint": meta["data_fingerprint"],
        "created_at": meta["created_at"],
    }])
