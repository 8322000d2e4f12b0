"""Model references (``'name'``, ``'name@7'``, ``'name@latest'``, ``'name@production'``) and
validation of every identifier that reaches SQL text. Values are always bound as parameters."""

from __future__ import annotations

import dataclasses
import re

import duckdb

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ALIAS_RE = NAME_RE
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,127}$")


class ModelRefError(ValueError):
    """A model reference that cannot be parsed or names nothing in the registry."""


@dataclasses.dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None  # a pinned version; None means "resolve the alias"
    alias: str | None = None  # None with version None means: production, else the newest

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name

    @property
    def pinned(self) -> bool:
        return self.version is not None


def check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ModelRefError(
            f"invalid {what} {name!r}: use letters, digits and '_' (starting with a letter or "
            "'_', at most 63 characters)"
        )
    return name


def parse_ref(ref: str) -> ModelRef:
    """Parse ``name``, ``name@<version>``, ``name@latest`` or ``name@<alias>``."""
    if not isinstance(ref, str) or not ref:
        raise ModelRefError(f"invalid model reference {ref!r}: expected 'name' or 'name@version'")
    name, sep, tail = ref.partition("@")
    if not NAME_RE.match(name):
        raise ModelRefError(
            f"invalid model reference {ref!r}: the name part {name!r} must be letters, digits "
            "and '_' (expected 'name', 'name@7', 'name@latest' or 'name@production')"
        )
    if not sep:
        return ModelRef(name)
    if tail.isdigit():
        version = int(tail)
        if version < 1:
            raise ModelRefError(f"invalid model reference {ref!r}: versions start at 1")
        return ModelRef(name, version=version)
    if ALIAS_RE.match(tail):
        return ModelRef(name, alias=tail)
    raise ModelRefError(
        f"invalid model reference {ref!r}: after '@' expected a version number >= 1, "
        "'latest' or an alias name"
    )


def check_identifier(ident: str, what: str = "identifier") -> str:
    """A column/table name that must be spliced into SQL text: validate, then quote it."""
    if not isinstance(ident, str) or not IDENT_RE.match(ident):
        raise ValueError(
            f"invalid {what} {ident!r}: expected letters, digits, '_' or '$', starting with a "
            "letter or '_'"
        )
    return ident


def quote_ident(ident: str, what: str = "identifier") -> str:
    return '"' + check_identifier(ident, what) + '"'


def quote_qualified(name: str, what: str = "table") -> str:
    """Quote ``schema.table`` or ``catalog.schema.table`` after validating each part."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"invalid {what} name {name!r}: expected [catalog.][schema.]table")
    return ".".join(quote_ident(p, what) for p in parts)


def first(result: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation) -> tuple | None:
    """The first row of a result, draining it: DuckDB 2 refuses other work on a connection
    (``register``, ``create_function``) while an ``execute`` result is only partly fetched."""
    rows = result.fetchall()
    return rows[0] if rows else None
