"""duckae's SQL functions: ``udfs.register(con)`` adds ``ae_encode``, ``ae_score`` and friends to
a DuckDB connection. See ``udfs.functions`` for the list and ``udfs.kernels`` for the math."""

from __future__ import annotations

import contextlib
import logging
import os

import duckdb
import torch

from training.refs import first
from udfs.functions import FUNCTIONS
from udfs.store import ModelStore

log = logging.getLogger(__name__)

__all__ = ["register", "ModelStore"]


def _set_threads(con: duckdb.DuckDBPyConnection, duckdb_threads: int | None) -> None:
    """Keep DuckDB threads x torch threads within the cores (oversubscription costs up to 1.7x)."""
    cores = os.cpu_count() or 1
    if duckdb_threads is None:
        got = first(con.execute("SELECT current_setting('threads')"))
        duckdb_threads = int(got[0]) if got else cores
    else:
        con.execute(f"SET threads = {int(duckdb_threads)}")
    torch_threads = max(1, cores // max(1, duckdb_threads))
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    duckdb_threads: int | None = None,
    alias_ttl_s: float = 5.0,
) -> ModelStore:
    """Register every ``ae_*`` function on ``con``; returns the model cache behind them.

    Safe to call again on the same connection (the functions are replaced).
    """
    _set_threads(con, duckdb_threads)
    store = ModelStore(con, alias_ttl_s=alias_ttl_s)
    for name, fn in FUNCTIONS.items():
        with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
            con.remove_function(name)
        con.create_function(  # type: ignore[call-overload]
            name,
            fn.udf(store),
            [duckdb.sqltype("VARCHAR"), fn.arg_type],
            fn.returns,
            type="arrow",
            side_effects=False,
        )
    log.debug("registered %s on %r", sorted(FUNCTIONS), con)
    return store
