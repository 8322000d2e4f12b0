"""The model registry: tables in the same DuckDB file as the data.

``duckae.model_versions`` holds one row per version (config, feature list, preprocessing,
threshold, reference score quantiles, metrics, fingerprint, library versions, weights as
safetensors bytes). ``duckae.model_aliases`` maps aliases (``production``) to versions and
``duckae.alias_events`` records every move, so a rollback knows where to go back to.

Every write runs on its own cursor inside one transaction: a crash leaves the whole version or
nothing, and the caller's own transaction (dbt's, for instance) is never touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import platform
import weakref
from collections.abc import Callable
from typing import Any

import duckdb

from training.artifact import WEIGHTS_FORMAT, TrainedModel, UnsafeWeightsError
from training.preprocessing import Preprocessor
from training.refs import ModelRef, ModelRefError, check_name, first, parse_ref

log = logging.getLogger(__name__)

SCHEMA = "duckae"
PRODUCTION = "production"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.model_versions (
    name              VARCHAR   NOT NULL,
    version           INTEGER   NOT NULL,
    family            VARCHAR   NOT NULL,
    params            VARCHAR   NOT NULL,  -- JSON: the family config
    train_config      VARCHAR   NOT NULL,  -- JSON
    feature_names     VARCHAR[] NOT NULL,  -- the order of the model's input vector
    input_shape       INTEGER[],           -- e.g. [8, 8] for images; NULL for flat vectors
    latent_dim        INTEGER   NOT NULL,
    preprocessing     VARCHAR   NOT NULL,  -- JSON: means, scales, imputation
    threshold         DOUBLE,
    threshold_method  VARCHAR   NOT NULL,
    threshold_params  VARCHAR   NOT NULL,  -- JSON
    reference_quantiles DOUBLE[],          -- held-out score quantiles, for ae_percentile
    metrics           VARCHAR   NOT NULL,  -- JSON
    history           VARCHAR   NOT NULL,  -- JSON: loss curves
    source            VARCHAR,
    source_key        VARCHAR,
    data_fingerprint  VARCHAR   NOT NULL,
    row_count         BIGINT    NOT NULL,
    config_hash       VARCHAR   NOT NULL,
    library_versions  VARCHAR   NOT NULL,  -- JSON
    created_at        TIMESTAMP NOT NULL,
    weights_format    VARCHAR   NOT NULL,
    weights_sha256    VARCHAR   NOT NULL,
    weights           BLOB      NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.model_aliases (
    name        VARCHAR   NOT NULL,
    alias       VARCHAR   NOT NULL,
    version     INTEGER   NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.threshold_events (
    name        VARCHAR   NOT NULL,
    version     INTEGER   NOT NULL,
    threshold   DOUBLE    NOT NULL,
    method      VARCHAR   NOT NULL,
    params      VARCHAR   NOT NULL,  -- JSON
    previous    DOUBLE,
    changed_at  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.alias_events (
    name        VARCHAR   NOT NULL,
    alias       VARCHAR   NOT NULL,
    action      VARCHAR   NOT NULL,  -- 'promote' | 'rollback'
    version     INTEGER   NOT NULL,
    previous    INTEGER,
    changed_at  TIMESTAMP NOT NULL,
    seq         BIGINT    NOT NULL
);
"""

# Everything but the weights: what listings and the SQL macros read.
META_COLUMNS = [
    "name", "version", "family", "params", "train_config", "feature_names", "input_shape",
    "latent_dim", "preprocessing", "threshold", "threshold_method", "threshold_params",
    "reference_quantiles", "metrics", "history", "source", "source_key", "data_fingerprint", "row_count",
    "config_hash", "library_versions", "created_at", "weights_format", "weights_sha256",
]  # fmt: skip


class RegistryError(LookupError):
    """A model or version that is not in the registry."""


# Called after an alias moves or a threshold changes in this process (model caches listen).
_alias_listeners: list[weakref.WeakMethod[Callable[[], None]]] = []


def on_change(method: Callable[[], None]) -> None:
    """Call the bound ``method`` when an alias moves or a threshold changes here (held weakly)."""
    _alias_listeners.append(weakref.WeakMethod(method))


def _notify_change() -> None:
    for ref in list(_alias_listeners):
        fn = ref()
        if fn is None:
            _alias_listeners.remove(ref)
        else:
            fn()


def _before_commit(name: str, version: int) -> None:
    """Runs inside the registration transaction, just before COMMIT (a seam for crash tests)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def library_versions() -> dict[str, str]:
    import numpy
    import torch

    from training import __version__

    return {
        "duckae": __version__,
        "torch": torch.__version__,
        "duckdb": duckdb.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    cur = con.cursor()
    try:
        exists = first(cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name IN "
            "('model_versions', 'model_aliases', 'alias_events', 'threshold_events') "
            "AND database_name = current_database()",
            [SCHEMA],
        ))
        if exists and exists[0] == 4:
            return
        cur.execute(DDL)
    finally:
        cur.close()


@dataclasses.dataclass
class _Tx:
    """``with _Tx(con) as cur:`` runs the block in one transaction on a fresh cursor."""

    con: duckdb.DuckDBPyConnection

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.cur = self.con.cursor()
        self.cur.execute("BEGIN TRANSACTION")
        return self.cur

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.cur.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.cur.close()


def register(
    con: duckdb.DuckDBPyConnection, name: str, trained: TrainedModel, promote: bool = False
) -> int:
    """Insert ``trained`` as the next version of ``name`` (and promote it) in one transaction."""
    check_name(name)
    ensure_schema(con)
    weights = trained.weights_bytes()
    sha = hashlib.sha256(weights).hexdigest()
    row = {
        "name": name,
        "family": trained.family,
        "params": json.dumps(trained.params),
        "train_config": json.dumps(trained.train_config),
        "feature_names": list(trained.feature_names),
        "input_shape": trained.input_shape,
        "latent_dim": trained.latent_dim,
        "preprocessing": json.dumps(trained.preprocessor.to_dict()),
        "threshold": trained.threshold if trained.threshold != float("inf") else None,
        "threshold_method": trained.threshold_method,
        "threshold_params": json.dumps(trained.threshold_params),
        "reference_quantiles": list(trained.reference_quantiles),
        "metrics": json.dumps(trained.metrics),
        "history": json.dumps(trained.history),
        "source": trained.source,
        "source_key": trained.source_key,
        "data_fingerprint": trained.data_fingerprint,
        "row_count": trained.row_count,
        "config_hash": trained.config_hash,
        "library_versions": json.dumps(library_versions()),
        "created_at": _now(),
        "weights_format": WEIGHTS_FORMAT,
        "weights_sha256": sha,
        "weights": weights,
    }
    with _Tx(con) as cur:
        got = first(cur.execute(
            f"SELECT coalesce(max(version), 0) + 1 FROM {SCHEMA}.model_versions WHERE name = ?",
            [name],
        ))
        assert got is not None
        version = int(got[0])
        cols = ["version", *row]
        cur.execute(
            f"INSERT INTO {SCHEMA}.model_versions ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [version, *row.values()],
        )
        if promote:
            _move_alias(cur, name, PRODUCTION, version, "promote")
        _before_commit(name, version)
    if promote:
        _notify_change()
    trained.name, trained.version = name, version
    log.info("registered %s@%d (%s, %d features)%s", name, version, trained.family,
             len(trained.feature_names), " and promoted it to production" if promote else "")
    return version


def _alias_version(cur: duckdb.DuckDBPyConnection, name: str, alias: str) -> int | None:
    got = first(cur.execute(
        f"SELECT version FROM {SCHEMA}.model_aliases WHERE name = ? AND alias = ?", [name, alias]
    ))
    return int(got[0]) if got else None


def _move_alias(cur: duckdb.DuckDBPyConnection, name: str, alias: str, version: int, action: str) -> None:
    previous = _alias_version(cur, name, alias)
    now = _now()
    cur.execute(
        f"INSERT INTO {SCHEMA}.model_aliases VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at",
        [name, alias, version, now],
    )
    cur.execute(
        f"INSERT INTO {SCHEMA}.alias_events SELECT ?, ?, ?, ?, ?, ?, "
        f"coalesce((SELECT max(seq) FROM {SCHEMA}.alias_events), 0) + 1",
        [name, alias, action, version, previous, now],
    )


def _versions(cur: duckdb.DuckDBPyConnection, name: str) -> list[int]:
    return [int(r[0]) for r in cur.execute(
        f"SELECT version FROM {SCHEMA}.model_versions WHERE name = ? ORDER BY version", [name]
    ).fetchall()]


def _known_names(cur: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in cur.execute(
        f"SELECT DISTINCT name FROM {SCHEMA}.model_versions ORDER BY name"
    ).fetchall()]


def resolve(con: duckdb.DuckDBPyConnection, ref: str | ModelRef) -> tuple[str, int]:
    """``'name'`` -> production else newest; ``'name@7'``; ``'name@latest'``; ``'name@alias'``."""
    r = parse_ref(ref) if isinstance(ref, str) else ref
    ensure_schema(con)
    cur = con.cursor()
    try:
        versions = _versions(cur, r.name)
        if not versions:
            known = _known_names(cur)
            raise RegistryError(
                f"unknown model {r.name!r} (from reference {str(r)!r}); the registry has "
                f"{known if known else 'no models yet: train one with `duckae train`'}"
            )
        if r.version is not None:
            if r.version not in versions:
                raise RegistryError(
                    f"unknown version {r.version} of model {r.name!r}; it has versions "
                    f"{versions}"
                )
            return r.name, r.version
        if r.alias == "latest":
            return r.name, versions[-1]
        v = _alias_version(cur, r.name, r.alias or PRODUCTION)
        if v is not None:
            return r.name, v
        if r.alias is not None:
            aliases = [a[0] for a in cur.execute(
                f"SELECT alias FROM {SCHEMA}.model_aliases WHERE name = ?", [r.name]
            ).fetchall()]
            raise RegistryError(
                f"model {r.name!r} has no alias {r.alias!r}; it has aliases "
                f"{sorted(aliases + ['latest'])} and versions {versions}"
            )
        return r.name, versions[-1]
    finally:
        cur.close()


def _row_dict(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    res = cur.execute(sql, params)
    cols = [d[0] for d in res.description]
    return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]


def metadata(con: duckdb.DuckDBPyConnection, ref: str | ModelRef) -> dict[str, Any]:
    """The version's row without the weights, JSON fields decoded."""
    name, version = resolve(con, ref)
    cur = con.cursor()
    try:
        (row,) = _row_dict(
            cur,
            f"SELECT {', '.join(META_COLUMNS)} FROM {SCHEMA}.model_versions "
            "WHERE name = ? AND version = ?",
            [name, version],
        )
    finally:
        cur.close()
    for k in ("params", "train_config", "preprocessing", "threshold_params", "metrics",
              "history", "library_versions"):
        row[k] = json.loads(row[k])
    return row


def load(con: duckdb.DuckDBPyConnection, ref: str | ModelRef) -> TrainedModel:
    """Load a version from the registry; the weights are parsed as safetensors, never unpickled."""
    meta = metadata(con, ref)
    what = f"{meta['name']}@{meta['version']}"
    cur = con.cursor()
    try:
        got = first(cur.execute(
            f"SELECT weights, weights_format FROM {SCHEMA}.model_versions "
            "WHERE name = ? AND version = ?",
            [meta["name"], meta["version"]],
        ))
    finally:
        cur.close()
    assert got is not None
    weights, fmt = got
    if fmt != WEIGHTS_FORMAT:
        raise UnsafeWeightsError(
            f"weights of {what} are stored as {fmt!r}; only {WEIGHTS_FORMAT!r} is ever loaded"
        )
    if hashlib.sha256(bytes(weights)).hexdigest() != meta["weights_sha256"]:
        raise UnsafeWeightsError(
            f"weights of {what} do not match their recorded sha256; the row was altered "
            "after registration, refusing to load it"
        )
    pre = Preprocessor.from_dict(meta["preprocessing"])
    threshold = meta["threshold"]
    return TrainedModel.from_parts(
        meta["family"], meta["params"], pre.dim, weights, what,
        preprocessor=pre,
        train_config=meta["train_config"],
        threshold=float("inf") if threshold is None else float(threshold),
        threshold_method=meta["threshold_method"],
        threshold_params=meta["threshold_params"],
        reference_quantiles=list(meta["reference_quantiles"] or []),
        metrics=meta["metrics"],
        history=meta["history"],
        source=meta["source"] or "",
        source_key=meta["source_key"],
        data_fingerprint=meta["data_fingerprint"],
        row_count=int(meta["row_count"]),
        config_hash=meta["config_hash"],
        input_shape=list(meta["input_shape"]) if meta["input_shape"] is not None else None,
        name=meta["name"],
        version=int(meta["version"]),
    )


def find_matching(
    con: duckdb.DuckDBPyConnection, name: str, data_fingerprint: str, cfg_hash: str
) -> int | None:
    """The newest version of ``name`` trained on the same data with the same config."""
    ensure_schema(con)
    cur = con.cursor()
    try:
        got = first(cur.execute(
            f"SELECT max(version) FROM {SCHEMA}.model_versions "
            "WHERE name = ? AND data_fingerprint = ? AND config_hash = ?",
            [name, data_fingerprint, cfg_hash],
        ))
    finally:
        cur.close()
    return int(got[0]) if got and got[0] is not None else None


def promote(con: duckdb.DuckDBPyConnection, name: str, version: int | None = None,
            alias: str = PRODUCTION) -> int:
    """Point ``alias`` at ``version`` (default: the newest)."""
    check_name(name)
    check_name(alias, "alias")
    if alias == "latest":
        raise ModelRefError("'latest' always means the newest version; it cannot be moved")
    ensure_schema(con)
    target = resolve(con, f"{name}@{version}" if version is not None else f"{name}@latest")[1]
    with _Tx(con) as cur:
        _move_alias(cur, name, alias, target, "promote")
    _notify_change()
    log.info("%s@%s -> version %d", name, alias, target)
    return target


def rollback(con: duckdb.DuckDBPyConnection, name: str, alias: str = PRODUCTION) -> int:
    """Move ``alias`` back to the version it pointed at before its last promotion."""
    check_name(name)
    ensure_schema(con)
    with _Tx(con) as cur:
        events = cur.execute(
            f"SELECT action, version FROM {SCHEMA}.alias_events "
            "WHERE name = ? AND alias = ? ORDER BY seq",
            [name, alias],
        ).fetchall()
        stack: list[int] = []
        for action, version in events:
            if action == "promote":
                stack.append(int(version))
            elif stack:
                stack.pop()
        if len(stack) < 2:
            raise RegistryError(
                f"cannot roll back {name}@{alias}: there is no earlier version to go back to "
                f"(promotion history: {stack or 'empty'}); use `duckae promote {name} <version>`"
            )
        target = stack[-2]
        _move_alias(cur, name, alias, target, "rollback")
    _notify_change()
    log.info("rolled back %s@%s to version %d", name, alias, target)
    return target


def set_threshold(con: duckdb.DuckDBPyConnection, ref: str, value: float, method: str,
                  params: dict[str, Any]) -> tuple[str, int]:
    """Recalibrate a version's threshold in place (the weights never change); the change and the
    previous value go to ``duckae.threshold_events`` in the same transaction."""
    name, version = resolve(con, ref)
    with _Tx(con) as cur:
        prev = first(cur.execute(
            f"SELECT threshold FROM {SCHEMA}.model_versions WHERE name = ? AND version = ?",
            [name, version]))
        cur.execute(
            f"UPDATE {SCHEMA}.model_versions SET threshold = ?, threshold_method = ?, "
            "threshold_params = ? WHERE name = ? AND version = ?",
            [value, method, json.dumps(params), name, version])
        cur.execute(
            f"INSERT INTO {SCHEMA}.threshold_events VALUES (?, ?, ?, ?, ?, ?, ?)",
            [name, version, value, method, json.dumps(params), prev[0] if prev else None, _now()])
    _notify_change()  # cached models carry the old threshold
    log.info("%s@%d threshold -> %.6g (%s)", name, version, value, method)
    return name, version


def list_versions(con: duckdb.DuckDBPyConnection, name: str | None = None) -> list[dict[str, Any]]:
    """One dict per version, newest first, with the aliases that point at it."""
    ensure_schema(con)
    cur = con.cursor()
    try:
        where = "WHERE v.name = ?" if name else ""
        return _row_dict(
            cur,
            f"""
            SELECT v.name, v.version, v.family, len(v.feature_names) AS n_features,
                   v.latent_dim, v.threshold, v.threshold_method, v.row_count, v.created_at,
                   v.metrics,
                   coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), [])
                       AS aliases
            FROM {SCHEMA}.model_versions v
            LEFT JOIN {SCHEMA}.model_aliases a ON a.name = v.name AND a.version = v.version
            {where}
            GROUP BY ALL
            ORDER BY v.name, v.version DESC
            """,
            [name] if name else [],
        )
    finally:
        cur.close()
