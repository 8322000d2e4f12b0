"""Trains (or reuses) the `transactions` autoencoder inside `dbt build`.

The fit happens only when the feature data's fingerprint or the config changed since the
newest registered version; otherwise the existing version is reused, so a second `dbt build`
with nothing changed does not retrain. The output is one row describing the version in use.
"""

import ast


def _as_list(value):
    # dbt renders a var used in a yml config to its string form; accept either form.
    return ast.literal_eval(value) if isinstance(value, str) else list(value)


def model(dbt, session):
    dbt.config(materialized="table")
    from training.api import train

    # dbt finds the config keys a python model reads by scanning for literal
    # dbt.config.get("...") calls, so each one stands on its own line.
    name = dbt.config.get("ae_name")
    family = dbt.config.get("ae_family", "vanilla")
    key = dbt.config.get("ae_key")
    features = _as_list(dbt.config.get("ae_features"))
    params = dbt.config.get("ae_params", {})
    train_config = dbt.config.get("ae_train", {})

    train_config = dict(train_config or {})
    steps = int(train_config.pop("max_steps_per_epoch", 0) or 0)
    if steps > 0:
        train_config["max_steps_per_epoch"] = steps
    result = train(
        session,
        name,
        dbt.ref("fct_transaction_features"),
        features,
        family=family,
        params=dict(params or {}),
        train_config=train_config,
        key=key,
        promote=True,
    )
    import pandas as pd

    from training import registry

    meta = registry.metadata(session, f"{name}@{result.production_version or result.version}")
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
        "train_rows": meta["metrics"].get("train_rows"),
        "best_val_loss": meta["metrics"].get("best_val_loss"),
        "train_seconds": meta["metrics"].get("train_seconds"),
        "data_fingerprint": meta["data_fingerprint"],
        "created_at": meta["created_at"],
    }])
