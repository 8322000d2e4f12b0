"""The dbt-duckdb plugin: list ``module: udfs.plugin`` under ``plugins`` in ``profiles.yml``.

It registers the SQL functions and makes sure the registry and the analysts' decisions table
exist (creating them when missing, never touching their rows), so models can read them as
sources. The functions live in ``udfs.functions`` and the math in ``udfs.kernels``.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

import udfs
from training import registry, review


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.alias_ttl_s = float(plugin_config.get("alias_ttl_s", 5.0))

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        registry.ensure_schema(conn)
        review.ensure_tables(conn)
        udfs.register(conn, alias_ttl_s=self.alias_ttl_s)
