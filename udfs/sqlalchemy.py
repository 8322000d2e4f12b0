"""Register duckae's SQL functions on every connection of a duckdb-engine SQLAlchemy engine.

    from udfs.sqlalchemy import create_engine
    engine = create_engine("duckdb:///warehouse.duckdb")
    pandas.read_sql("select ae_score('transactions', ...) ...", engine)

or, for an engine you already have, ``udfs.sqlalchemy.install(engine)``.
"""

from __future__ import annotations

from typing import Any

import duckdb
import sqlalchemy
from sqlalchemy import event

import udfs


def _raw(dbapi_connection: Any) -> duckdb.DuckDBPyConnection:
    # duckdb_engine wraps the DuckDB connection; unwrap it (or take it as it is).
    for attr in ("_ConnectionWrapper__c", "driver_connection", "dbapi_connection"):
        inner = getattr(dbapi_connection, attr, None)
        if isinstance(inner, duckdb.DuckDBPyConnection):
            return inner
    if isinstance(dbapi_connection, duckdb.DuckDBPyConnection):
        return dbapi_connection
    raise TypeError(f"not a DuckDB connection: {type(dbapi_connection).__name__}")


def install(engine: sqlalchemy.Engine, **register_kwargs: Any) -> sqlalchemy.Engine:
    """Add a connect hook that registers the ``ae_*`` functions; returns the engine."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        udfs.register(_raw(dbapi_connection), **register_kwargs)

    return engine


def create_engine(url: str, **kwargs: Any) -> sqlalchemy.Engine:
    """``sqlalchemy.create_engine`` for a ``duckdb:///`` URL, with the functions installed."""
    return install(sqlalchemy.create_engine(url, **kwargs))
