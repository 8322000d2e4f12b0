"""Analyst decisions survive `dbt build --full-refresh`, a retrain and a rollback, and a decided
row is never re-opened (issue: anomaly workflow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_dbt_build import _duckae

pytestmark = pytest.mark.dbt

N_CONFIRMED, N_DISMISSED = 8, 6


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("review")
    db = tmp / "warehouse.duckdb"
    _duckae("demo", "--db", str(db), "--rows", "8000", "--sensor-windows", "20", "--epochs", "4",
            tmp=tmp)
    return db, tmp


def _state(db):
    con = duckdb.connect(str(db), read_only=True)
    decisions = con.execute("SELECT * FROM review.decisions ORDER BY decision_id").fetchall()
    statuses = dict(con.execute(
        "SELECT transaction_id, status FROM main.review_queue WHERE transaction_id IN "
        "(SELECT item_id FROM review.decisions)").fetchall())
    dup = con.execute("SELECT count(*) - count(DISTINCT transaction_id) FROM main.review_queue").fetchall()[0][0]
    production = con.execute(
        "SELECT version FROM duckae.model_aliases WHERE name = 'transactions' AND alias = 'production'"
    ).fetchall()[0][0]
    scored_by = con.execute("SELECT DISTINCT model_version FROM main.transaction_scores").fetchall()
    con.close()
    return decisions, statuses, dup, production, scored_by


def test_decisions_survive_full_refresh_retrain_and_rollback(warehouse):
    db, tmp = warehouse
    con = duckdb.connect(str(db))
    # An analyst works the open queue inside the training window, in SQL.
    open_rows = con.execute(
        "SELECT q.transaction_id, l.is_anomaly FROM main.review_queue q "
        "JOIN raw.transaction_labels l USING (transaction_id) "
        "WHERE q.status = 'open' AND q.transacted_at >= '2026-06-15' AND q.transacted_at < '2026-08-31' "
        "ORDER BY q.review_rank").fetchall()
    confirmed = [t for t, anomalous in open_rows if anomalous][:N_CONFIRMED]
    dismissed = [t for t, anomalous in open_rows if not anomalous][:N_DISMISSED]
    assert len(confirmed) == N_CONFIRMED and len(dismissed) == N_DISMISSED
    for t in confirmed:
        con.execute("INSERT INTO review.decisions (queue, item_id, decision, reviewer, note) "
                    "VALUES ('transactions', ?, 'confirmed', 'ana', 'card testing')", [t])
    for t in dismissed:
        con.execute("INSERT INTO review.decisions (queue, item_id, decision, reviewer) "
                    "VALUES ('transactions', ?, 'dismissed', 'bo')", [t])
    con.close()
    decisions, statuses, dup, production, _ = _state(db)
    assert len(decisions) == N_CONFIRMED + N_DISMISSED and dup == 0
    assert set(statuses.values()) == {"confirmed", "dismissed"}  # the view shows them decided
    before = decisions

    # 1. Full refresh: every dbt table rebuilt from scratch. The new decisions also retrain.
    _duckae("dbt", "--db", str(db), "build", "--full-refresh", tmp=tmp)
    decisions, statuses_1, dup, production, scored_by = _state(db)
    assert decisions == before and dup == 0
    assert all(statuses_1[t] == "confirmed" for t in confirmed if t in statuses_1)
    assert all(statuses_1[t] == "dismissed" for t in dismissed if t in statuses_1)
    assert production == 2 and scored_by == [(2,)]
    con = duckdb.connect(str(db), read_only=True)
    metrics, method, params = con.execute(
        "SELECT metrics, threshold_method, threshold_params FROM duckae.model_versions "
        "WHERE name = 'transactions' AND version = 2").fetchall()[0]
    con.close()
    assert json.loads(metrics)["feedback"]["excluded_confirmed_rows"] == N_CONFIRMED
    assert method == "max_f1" and json.loads(params)["reviewed"] == N_CONFIRMED + N_DISMISSED

    # 2. Retrain with another config.
    _duckae("dbt", "--db", str(db), "build", "--vars", '{"ae_epochs": 3}', tmp=tmp)
    decisions, statuses_2, dup, production, scored_by = _state(db)
    assert decisions == before and dup == 0 and production == 3 and scored_by == [(3,)]
    assert all(statuses_2[t] == statuses_1.get(t, statuses_2[t]) for t in statuses_2)
    assert "open" not in statuses_2.values()

    # 3. Roll production back and rebuild: version 2 scores again; nothing decided re-opens.
    assert "-> version 2" in _duckae("rollback", "--db", str(db), "transactions", tmp=tmp).stdout
    _duckae("dbt", "--db", str(db), "build", "--vars", '{"ae_epochs": 3}', tmp=tmp)
    decisions, statuses_3, dup, production, scored_by = _state(db)
    assert decisions == before and dup == 0 and production == 2 and scored_by == [(2,)]
    assert "open" not in statuses_3.values()
    con = duckdb.connect(str(db), read_only=True)
    events = con.execute("SELECT action, version FROM duckae.alias_events "
                         "WHERE name = 'transactions' ORDER BY seq").fetchall()
    con.close()
    assert events == [("promote", 1), ("promote", 2), ("promote", 3), ("rollback", 2)]


def _snapshot(db):
    """Scores, decisions and queue size: what a failed build must leave as it was."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [con.execute(q).fetchall() for q in (
        "SELECT count(*), sum(score), max(model_version) FROM main.transaction_scores",
        "SELECT * FROM review.decisions ORDER BY decision_id",
        "SELECT count(*) FROM main.review_queue_items",
    )]
    finally:
        con.close()


def test_a_build_failing_halfway_keeps_scores_and_decisions(warehouse):
    db, tmp = warehouse
    snapshot = _snapshot(db)
    # A bad var makes the training rows unreadable: the python model fails mid-build and
    # everything downstream is skipped.
    exe = shutil.which("duckae", path=str(Path(sys.executable).parent)) or "duckae"
    proc = subprocess.run(
        [exe, "dbt", "--db", str(db), "build", "--vars", '{"training_cutoff": "not a date"}'],
        capture_output=True, text=True,
        env=dict(os.environ, DBT_TARGET_PATH=str(tmp / "target"), DBT_LOG_PATH=str(tmp / "logs")))
    assert proc.returncode == 1 and "failed" in proc.stderr
    assert _snapshot(db) == snapshot
