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

from training import registry, review, thresholds
from training.artifact import TrainedModel, config_hash
from training.base import build_model, family_class
from training.config import TrainConfig
from training.data import NUMERIC_TYPES, FeatureSource, arrow_to_matrix, source_sql, vector_sql
from training.preprocessing import Preprocessor, reason_groups
from training.refs import check_name, first, quote_ident
from training.trainer import Callback, EpochStats, History, Trainer, batch_loss, torch_threads

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
    review_queue: str | None = None,
    threshold: dict[str, Any] | None = None,
    review_source: str | duckdb.DuckDBPyRelation | None = None,
    feature_groups: dict[str, list[str]] | None = None,
) -> TrainedModel:
    """Fit a model of ``family`` on the rows of ``source`` (a table name or a relation).

    ``review_queue``: analyst decisions of that queue feed back (needs ``key``): rows confirmed
    as anomalies are left out of training, and the threshold is calibrated on reviewed rows.
    ``threshold``: ``{"method": "contamination"}`` (the default without decisions; the rate is
    ``contamination`` in the training config), ``{"method": "explicit", "value": 3.2}``,
    ``{"method": "max_f1"}`` (the default with a review queue) or
    ``{"method": "target_precision", "target_precision": 0.9}``. Calibration from decisions
    falls back to the contamination rate when there are too few decisions, and says so in the
    version's ``threshold_params``. ``review_source``: where reviewed rows are looked up for
    calibration when ``source`` holds only the training window (default: ``source``).
    ``feature_groups``: features attributed together in reasons, e.g. ``{"amount": [features
    derived from the amount column]}``; others stand alone.
    """
    cfg = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config)
    params = dict(params or {})
    cls = family_class(family)  # fail early on an unknown family
    sql = source_sql(source)
    features = list(features) if features else infer_features(con, sql, [key] if key else [])
    feedback = _feedback(con, sql, key, review_queue)
    src = FeatureSource(con, feedback.get("train_sql", sql), features, key=key,
                        val_fraction=cfg.val_fraction, split_seed=cfg.seed,
                        ordered=cfg.ordered_reads)
    n_rows, fingerprint = src.fingerprint()
    if n_rows == 0:
        raise ValueError(f"cannot train on an empty source: {sql} has no rows")
    n_train, n_val = src.count("train"), src.count("val")
    if n_train == 0:
        raise ValueError(f"the training split of {sql} is empty ({n_rows} rows, all in validation); "
                         "lower val_fraction")
    scaling = cfg.scaling or cls.default_scaling
    shape = params.get("input_shape")
    channels = int(shape[0]) if shape else None
    pre = Preprocessor.fit_sql(con, src.part_sql("train"), src.inputs, scaling, channels=channels)
    pre.feature_groups = reason_groups(src.inputs, feature_groups, channels)
    torch.manual_seed(cfg.seed)
    model = build_model(family, params, pre.dim)
    log.info("training %s autoencoder on %d rows (%d validation), %d features",
             family, n_train, n_val, pre.dim)
    t0 = time.perf_counter()
    steps = -(-n_train // cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    closed_form = getattr(model, "fit_closed_form", None)
    if closed_form is not None:  # e.g. PCA: exact, one pass, no gradient descent
        with torch_threads(cfg.torch_threads):
            summary = closed_form(lambda: src.read("train", cfg.read_batch_rows), pre.transform)
            val = batch_loss(model, lambda: src.read("val", cfg.read_batch_rows), pre.transform,
                             cfg.batch_size)
        history = History(best_val_loss=val, seconds=0.0)
        history.epochs.append(EpochStats(1, val, val, 0.0, int(summary["rows"])))
        log.info("fitted %s in closed form: %s", family, summary)
    else:
        history = Trainer(cfg, callbacks).fit(
            model,
            lambda: src.read("train", cfg.read_batch_rows),
            lambda: src.read("val", cfg.read_batch_rows),
            pre.transform,
            steps_per_epoch=steps,
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
        source_key=key,
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
        if cfg.latent_density:
            both = _stream(trained, src, "train", cfg.read_batch_rows, lambda x: torch.column_stack(
                model.score_terms(x)), 1_000_000)  # (n, k + 1): codes, reconstruction term
            model.calibrate_density(both[:, :-1], both[:, -1])
        ref_scores = _stream(trained, src, reference, cfg.read_batch_rows,
                             model.score).double().numpy()
    trained.reference_quantiles = np.quantile(ref_scores, np.linspace(0, 1, N_QUANTILES)).tolist()
    review_sql = source_sql(review_source) if review_source is not None else sql
    chosen = _choose_threshold(con, trained, review_sql, key, review_queue, threshold,
                               cfg.contamination)
    chosen.params |= {
        "reference": "validation" if reference == "val" else "training",
        "reference_rows": int(len(ref_scores)),
    }
    trained.threshold, trained.threshold_method, trained.threshold_params = (
        chosen.value, chosen.method, chosen.params)
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
    if review_queue:
        trained.metrics["feedback"] = {
            "review_queue": review_queue,
            "excluded_confirmed_rows": feedback["excluded"],
            "threshold_from_decisions": chosen.method in ("max_f1", "target_precision"),
        }
    return trained


def _feedback(con: duckdb.DuckDBPyConnection, sql: str, key: str | None,
              queue: str | None) -> dict[str, Any]:
    """The training SQL without rows confirmed as anomalies in ``queue``, and how many left."""
    if not queue:
        return {}
    if key is None:
        raise ValueError(f"feedback from review queue {queue!r} needs the key column (key=...)")
    review.ensure_tables(con)
    confirmed = f"SELECT item_id FROM ({review.latest_sql(queue)}) WHERE decision = 'confirmed'"
    k = quote_ident(key, "key column")
    row = first(con.execute(
        f"SELECT count(*) FROM ({sql}) AS s WHERE TRY_CAST({k} AS BIGINT) IN ({confirmed})"))
    return {
        "train_sql": f"SELECT * FROM ({sql}) AS s WHERE TRY_CAST({k} AS BIGINT) IS NULL "
                     f"OR TRY_CAST({k} AS BIGINT) NOT IN ({confirmed})",
        "excluded": int(row[0]) if row else 0,
    }


def reviewed_scores(con: duckdb.DuckDBPyConnection, model: TrainedModel, sql: str, key: str,
                    queue: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores under ``model`` of the rows of ``sql`` reviewed in ``queue``, and confirmed flags."""
    review.ensure_tables(con)
    vec = vector_sql(model.preprocessor.inputs)
    k = quote_ident(key, "key column")
    res = con.sql(
        f"SELECT {vec} AS x, d.decision = 'confirmed' AS confirmed FROM ({sql}) AS s "
        f"JOIN ({review.latest_sql(queue)}) AS d ON d.item_id = TRY_CAST(s.{k} AS BIGINT)"
    ).to_arrow_table()
    if res.num_rows == 0:
        return np.empty(0), np.empty(0, dtype=bool)
    x = arrow_to_matrix(res.column("x"), model.input_dim)
    return model.score_raw(x), np.asarray(res.column("confirmed").to_pylist(), dtype=bool)


def _choose_threshold(con: duckdb.DuckDBPyConnection, trained: TrainedModel, sql: str,
                      key: str | None, queue: str | None, spec: dict[str, Any] | None,
                      contamination: float) -> thresholds.Threshold:
    spec = dict(spec or {})
    method = spec.pop("method", "max_f1" if queue else "contamination")
    if method not in thresholds.METHODS:
        raise ValueError(f"unknown threshold method {method!r}; expected one of {list(thresholds.METHODS)}")
    if method == "explicit":
        return thresholds.explicit(float(spec["value"]))
    fallback = thresholds.from_quantiles(trained.reference_quantiles, contamination)
    if method == "contamination":
        return fallback
    if not queue or key is None:
        raise ValueError(f"threshold method {method!r} calibrates on analyst decisions: give "
                         "review_queue=... and key=...")
    scores, confirmed = reviewed_scores(con, trained, sql, key, queue)
    try:
        return thresholds.from_decisions(scores, confirmed, method,
                                         float(spec.get("target_precision", 0.9)))
    except ValueError as e:
        log.warning("threshold stays at the contamination quantile: %s", e)
        fallback.params["calibration_skipped"] = str(e)
        fallback.params["requested_method"] = method
        return fallback


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
    review_queue: str | None = None,
    threshold: dict[str, Any] | None = None,
    review_source: str | duckdb.DuckDBPyRelation | None = None,
    feature_groups: dict[str, list[str]] | None = None,
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
        src = FeatureSource(con, _feedback(con, sql, key, review_queue).get("train_sql", sql),
                            features, key=key, val_fraction=cfg.val_fraction, split_seed=cfg.seed)
        _, fingerprint = src.fingerprint()
        existing = registry.find_matching(
            con, name, fingerprint,
            config_hash(family, params, cfg.to_dict(), features,
                        _extra(con, review_queue, threshold, feature_groups)),
        )
        if existing is not None:
            production = _production(con, name)
            if production is None and promote:
                production = registry.promote(con, name, existing)
            log.info("%s@%d was trained on the same data with the same config; not retraining",
                     name, existing)
            return TrainResult(name, existing, False, production)
    trained = fit(con, sql, features, family=family, params=params, train_config=cfg, key=key,
                  callbacks=callbacks, review_queue=review_queue, threshold=threshold,
                  review_source=review_source, feature_groups=feature_groups)
    trained.config_hash = config_hash(family, params, cfg.to_dict(), features,
                                      _extra(con, review_queue, threshold, feature_groups))
    version = registry.register(con, name, trained, promote=promote)
    return TrainResult(name, version, True, _production(con, name), trained)


def _extra(con: duckdb.DuckDBPyConnection, queue: str | None, threshold: dict[str, Any] | None,
           feature_groups: dict[str, list[str]] | None) -> dict[str, Any]:
    """What else a version depends on: the threshold spec and the queue's decisions."""
    extra: dict[str, Any] = {}
    if feature_groups:
        extra["feature_groups"] = feature_groups
    if threshold:
        extra["threshold"] = threshold
    if queue:
        extra["review"] = [queue, review.fingerprint(con, queue)]
    return extra


def _production(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    try:
        return registry.resolve(con, f"{name}@{registry.PRODUCTION}")[1]
    except registry.RegistryError:
        return None


def recalibrate(con: duckdb.DuckDBPyConnection, ref: str, method: str, *,
                contamination: float | None = None, value: float | None = None,
                review_queue: str | None = None, target_precision: float = 0.9) -> thresholds.Threshold:
    """Set a registered version's threshold by ``method`` (see ``training.thresholds``)."""
    model = registry.load(con, ref)
    if method == "explicit":
        if value is None:
            raise ValueError("an explicit threshold needs a value")
        chosen = thresholds.explicit(value)
    elif method == "contamination":
        if contamination is None:
            raise ValueError("the contamination method needs a rate, e.g. 0.01")
        chosen = thresholds.from_quantiles(model.reference_quantiles, contamination)
    elif method in ("max_f1", "target_precision"):
        if not review_queue or not model.source_key:
            raise ValueError(f"{method} calibrates on decisions of a review queue; give the queue "
                             f"(the version's key column is {model.source_key!r})")
        scores, confirmed = reviewed_scores(con, model, model.source, model.source_key, review_queue)
        chosen = thresholds.from_decisions(scores, confirmed, method, target_precision)
        chosen.params["review_queue"] = review_queue
    else:
        raise ValueError(f"unknown threshold method {method!r}; expected one of {list(thresholds.METHODS)}")
    registry.set_threshold(con, model.ref, chosen.value, chosen.method, chosen.params)
    return chosen
