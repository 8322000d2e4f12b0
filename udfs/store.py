"""Resolving model references to loaded models, with a cache per version.

Pinned references (``'name@7'``) are cached for the life of the store (a threshold change made
in this process clears the cache; one made by another process is seen by new connections). Moving
references (``'name'``, ``'name@production'``, ``'name@latest'``) are re-resolved at most every
``alias_ttl_s`` seconds, so an ad hoc query picks up a promotion soon after it happens; dbt
scoring models pin the version at compile time, so one model run never mixes versions.
"""

from __future__ import annotations

import threading
import time

import duckdb

from training import registry
from training.artifact import TrainedModel
from training.refs import parse_ref


class ModelStore:
    def __init__(self, con: duckdb.DuckDBPyConnection, alias_ttl_s: float = 5.0) -> None:
        # A cursor of its own: registry reads happen while the caller's query is running.
        self._con = con.cursor()
        self._lock = threading.RLock()
        self._models: dict[tuple[str, int], TrainedModel] = {}
        self._resolved: dict[str, tuple[tuple[str, int], float]] = {}
        self.alias_ttl_s = alias_ttl_s
        self.loads = 0
        # UDF calls and the rows they carried (DuckDB hands at most 2048 rows per call)
        self.calls = 0
        self.rows = 0
        registry.on_change(self.invalidate)

    def resolve(self, ref: str) -> tuple[str, int]:
        hit = self._resolved.get(ref)
        now = time.monotonic()
        if hit is not None and (hit[1] == float("inf") or now - hit[1] < self.alias_ttl_s):
            return hit[0]
        with self._lock:
            parsed = parse_ref(ref)
            key = registry.resolve(self._con, parsed)
            self._resolved[ref] = (key, float("inf") if parsed.pinned else now)
            return key

    def get(self, ref: str) -> TrainedModel:
        key = self.resolve(ref)
        model = self._models.get(key)
        if model is None:
            with self._lock:
                model = self._models.get(key)
                if model is None:
                    model = registry.load(self._con, f"{key[0]}@{key[1]}")
                    self._models[key] = model
                    self.loads += 1
        return model

    def count_call(self, rows: int) -> None:
        self.calls += 1
        self.rows += rows

    def invalidate(self) -> None:
        """Forget resolutions and loaded models (after a promote, rollback or threshold change
        in this process); the next call reloads from the registry."""
        with self._lock:
            self._resolved = {}
            self._models = {}

    def close(self) -> None:
        self._con.close()
