"""The training job in one call: stream features out of DuckDB, fit, calibrate, register.

    import duckdb
    from training.api import train
    con = duckdb.connect("warehouse.duckdb")
    result = train(con, "transactions", "main.fct_transaction_features",
                   features=[...], key="transaction_id", family="vanilla")

``train`` skips the work when the newest version with the same data fingerprint and config is
already registered, so re-running a pipeline with nothing changed does not retrain.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import torch

from training import registry
from training.artifact import TrainedModel, config_hash
from training.base import build_model, family_class
from training.config import TrainConfig
from training.data import NUMERIC_TYPES, FeatureSource, source_sql
from training.preprocessing import Preprocessor
from training.refs import check_name
from training.trainer import Callback, Trainer, torch_threads

log = logging.getLogger(__name__)

# Reference scores are summarized by this many evenly spaced quantiles (0%, 0.1%, ..., 100%).
N_QUANTILES = 1001


@dataclasses.dataclass
class TrainResult:
    name: str
    version: int
    trained: bool  # False when an identical version was reused
    production_version: int | None
    model: TrainedModel | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def infer_features(con: duckdb.DuckDBPyConnection, sql: str, exclude: list[str]) -> list[str]:
    rel = con.sql(f"SELECT * FROM ({sql}) AS src LIMIT 0")
    return [c for c, t in zip(rel.columns, rel.types, strict=True)
            if str(t).upper() in NUMERIC_TYPES and c not in exclude]


def _stream(
    model: TrainedModel, src: FeatureSource, part: str, batch_rows: int,
    fn: Callable[[torch.Tensor], torch.Tensor], max_rows: int | None = None,
) -> torch.Tensor:
    """``fn`` over the standardized rows of ``part`` (at most ``max_rows``), concatenated."""
    out, seen = [], 0
    with torch.no_grad():
        for x in src.read(part, batch_rows):  # type: ignore[arg-type]
            out.append(fn(torch.from_numpy(model.preprocessor.transform(x))))
            seen += len(x)
            if max_rows is not None and seen >= max_rows:
                break
    if not out:
        raise ValueError(f"no {part} rows to calibrate on")
    return torch.cat(out)


def fit(
    con: duckdb.DuckDBPyConnection,
    source: str | duckdb.DuckDBPyRelation,
    features: list[str] | None = None,
    *,
    family: str = "vanilla",
    params: dict[str, Any] | None = None,
    train_config: TrainConfig | dict[str, Any] | None = None,
    key: str | None = None,
    callbacks: list[Callback] | None = None,
) -> TrainedModel:
    """Fit a model of ``family`` on the rows of ``source`` (a table name or a relation)."""
    cfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config)
    params = dict(params or {})
    cls = family_class(family)  # fail early on an unknown family
    sql = source_sql(source)
    features = list(features) if features else infer_features(con, sql, [key] if key else [])
    src = FeatureSource(con, sql, features, key=key, val_fraction=cfg.val_fraction,
                        split_seed=cfg.seed)
    n_rows, fingerprint = src.fingerprint()
    if n_rows == 0:
        raise ValueError(f"cannot train on an empty source: {sql} has no rows")
    n_train, n_val = src.count("train"), src.count("val")
    if n_train == 0:
        raise ValueError(f"the training split of {sql} is empty ({n_rows} rows, all in validation); "
                         "lower val_fraction")
    scaling = cfg.scaling or cls.default_scaling
    shape = params.get("input_shape")
    pre = Preprocessor.fit_sql(con, src.part_sql("train"), src.inputs, scaling,
                               channels=int(shape[0]) if shape else None)
    torch.manual_seed(cfg.seed)
    model = build_model(family, params, pre.dim)
    log.info("training %s autoencoder on %d rows (%d validation), %d features",
             family, n_train, n_val, pre.dim)
    t0 = time.perf_counter()
    history = Trainer(cfg, callbacks).fit(
        model,
        lambda: src.read("train", cfg.read_batch_rows),
        lambda: src.read("val", cfg.read_batch_rows),
        pre.transform,
    )
    seconds = time.perf_counter() - t0
    trained = TrainedModel(
        family=family,
        params=model.config.to_dict() | {"input_dim": pre.dim},
        model=model,
        preprocessor=pre,
        train_config=cfg.to_dict(),
        history=history.to_dict(),
        source=sql,
        data_fingerprint=fingerprint,
        row_count=n_rows,
        config_hash=config_hash(family, params, cfg.to_dict(), features),
        input_shape=list(shape) if shape else None,
    )
    trained.params.pop("input_dim", None)
    # Latent box and reference scores: held-out rows (training rows when there are none).
    reference = "val" if n_val else "train"
    with torch_threads(cfg.torch_threads):
        # Up to a million rows give stable quantiles and error scales.
        model.calibrate_latent(_stream(trained, src, reference, cfg.read_batch_rows,
                                       model.encode, 1_000_000), cfg.latent_clip_quantile)
        if cfg.normalize_errors:
            model.calibrate_errors(_stream(trained, src, reference, cfg.read_batch_rows,
                                           model.feature_errors, 1_000_000))
        ref_scores = _stream(trained, src, reference, cfg.read_batch_rows,
                             model.score).double().numpy()
    trained.reference_quantiles = np.quantile(ref_scores, np.linspace(0, 1, N_QUANTILES)).tolist()
    trained.threshold = float(np.quantile(ref_scores, 1.0 - cfg.contamination))
    trained.threshold_method = "contamination"
    trained.threshold_params = {
        "contamination": cfg.contamination,
        "reference": "validation" if reference == "val" else "training",
        "reference_rows": int(len(ref_scores)),
    }
    trained.metrics = {
        "train_rows": n_train,
        "val_rows": n_val,
        "best_val_loss": history.best_val_loss,
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epochs),
        "stopped_early": history.stopped_early,
        "train_seconds": round(seconds, 3),
        "train_rows_per_s": round(sum(e.rows for e in history.epochs) / max(seconds, 1e-9), 1),
        "reference_score_mean": float(ref_scores.mean()),
        "reference_score_p50": float(np.quantile(ref_scores, 0.5)),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    return trained


def train(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: str | duckdb.DuckDBPyRelation,
    features: list[str] | None = None,
    *,
    family: str = "vanilla",
    params: dict[str, Any] | None = None,
    train_config: TrainConfig | dict[str, Any] | None = None,
    key: str | None = None,
    promote: bool = True,
    reuse: bool = True,
    callbacks: list[Callback] | None = None,
) -> TrainResult:
    """Fit and register ``name``, unless the same data and config were already registered.

    ``promote``: point ``production`` at the new version. A reused version never moves the
    alias, so a rollback made by a person survives a re-run with nothing changed.
    """
    check_name(name)
    cfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config)
    params = dict(params or {})
    sql = source_sql(source)
    features = list(features) if features else infer_features(con, sql, [key] if key else [])
    if reuse:
        src = FeatureSource(con, sql, features, key=key, val_fraction=cfg.val_fraction,
                            split_seed=cfg.seed)
        _, fingerprint = src.fingerprint()
        existing = registry.find_matching(
            con, name, fingerprint, config_hash(family, params, cfg.to_dict(), features)
        )
        if existing is not None:
            production = _production(con, name)
            if production is None and promote:
                production = registry.promote(con, name, existing)
            log.info("%s@%d was trained on the same data with the same config; not retraining",
                     name, existing)
            return TrainResult(name, existing, False, production)
    trained = fit(con, sql, features, family=family, params=params, train_config=cfg, key=key,
                  callbacks=callbacks)
    version = registry.register(con, name, trained, promote=promote)
    return TrainResult(name, version, True, _production(con, name), trained)


def _production(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    try:
        return registry.resolve(con, f"{name}@{registry.PRODUCTION}")[1]
    except registry.RegistryError:
        return None
