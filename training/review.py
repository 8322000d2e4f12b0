"""Analyst decisions: a table dbt never writes.

``review.decisions`` is an append-only log: each row says that a reviewer confirmed or dismissed
one flagged item of a queue (``transactions``, ``sensors``...). The latest decision per item is
its status; earlier ones stay as history. Nothing in duckae or the dbt project updates or
deletes it, so rebuilds, full refreshes, retrains and rollbacks cannot lose a decision.

Record one in SQL::

    INSERT INTO review.decisions (queue, item_id, decision, reviewer, note)
    VALUES ('transactions', 123456, 'confirmed', 'ana', 'card testing, customer called');
"""

from __future__ import annotations

import duckdb

from training.refs import check_name, first

SCHEMA = "review"
DECISIONS = f"{SCHEMA}.decisions"
CHOICES = ("confirmed", "dismissed")

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.decision_seq;
CREATE TABLE IF NOT EXISTS {DECISIONS} (
    decision_id BIGINT    NOT NULL DEFAULT nextval('{SCHEMA}.decision_seq') PRIMARY KEY,
    queue       VARCHAR   NOT NULL,
    item_id     BIGINT    NOT NULL,
    decision    VARCHAR   NOT NULL CHECK (decision IN ('confirmed', 'dismissed')),
    reviewer    VARCHAR   NOT NULL,
    note        VARCHAR,
    decided_at  TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the decisions log if it is missing (never touches existing rows)."""
    cur = con.cursor()
    try:
        got = first(cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'decisions' "
            "AND database_name = current_database()", [SCHEMA]))
        if not (got and got[0]):
            cur.execute(DDL)
    finally:
        cur.close()


def latest_sql(queue: str) -> str:
    """SQL of the latest decision per item of ``queue``: (item_id, decision, reviewer, ...)."""
    check_name(queue, "review queue name")
    return (
        f"SELECT * FROM {DECISIONS} WHERE queue = '{queue}' "
        "QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY decided_at DESC, decision_id DESC) = 1"
    )


def record(con: duckdb.DuckDBPyConnection, queue: str, item_id: int, decision: str,
           reviewer: str, note: str | None = None) -> None:
    """Append a decision (the latest one per item is its status)."""
    check_name(queue, "review queue name")
    if decision not in CHOICES:
        raise ValueError(f"decision must be one of {list(CHOICES)}, got {decision!r}")
    if not reviewer:
        raise ValueError("a decision needs a reviewer name")
    ensure_tables(con)
    cur = con.cursor()
    try:
        cur.execute(
            f"INSERT INTO {DECISIONS} (queue, item_id, decision, reviewer, note) VALUES (?, ?, ?, ?, ?)",
            [queue, int(item_id), decision, reviewer, note],
        )
    finally:
        cur.close()


def fingerprint(con: duckdb.DuckDBPyConnection, queue: str) -> str:
    """A hash of the queue's current decisions (changes when any status changes)."""
    ensure_tables(con)
    row = first(con.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(item_id, decision)), 0) FROM ({latest_sql(queue)})"
    ))
    return f"{row[0]}:{row[1]}" if row else "0:0"
