import duckdb
import numpy as np
import pytest

import udfs
from tests.conftest import FAST, FEATURES, load_manifold
from training import registry, review, thresholds
from training.api import recalibrate, train

VEC = "[" + ", ".join(FEATURES) + "]::FLOAT[8]"


def test_threshold_from_quantiles_and_explicit():
    q = np.linspace(0, 10, 1001).tolist()  # uniform reference scores on [0, 10]
    t = thresholds.from_quantiles(q, 0.05)
    assert t.value == pytest.approx(9.5) and t.method == "contamination"
    assert t.params == {"contamination": 0.05}
    assert thresholds.explicit(3.0).params == {"value": 3.0}
    with pytest.raises(ValueError, match="finite"):
        thresholds.explicit(float("nan"))


def test_threshold_from_decisions_max_f1_and_target_precision():
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5], dtype=float)
    confirmed = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    best = thresholds.from_decisions(scores, confirmed, "max_f1")
    # flagging the top 5 catches all 4 confirmed with one false alarm: F1 = 8/9
    assert 4 < best.value < 5 and best.params["f1"] == pytest.approx(8 / 9, abs=1e-4)
    strict = thresholds.from_decisions(scores, confirmed, "target_precision", 1.0)
    assert 6 < strict.value < 7 and strict.params["precision"] == 1.0
    assert strict.params["recall"] == 0.75
    with pytest.raises(ValueError, match="got 0 confirmed and 10 dismissed"):
        thresholds.from_decisions(scores, np.zeros(10, dtype=bool))


def test_decisions_log_latest_wins_and_history_stays(con):
    review.ensure_tables(con)
    review.record(con, "q", 1, "confirmed", "ana")
    review.record(con, "q", 1, "dismissed", "bo", "false alarm after all")
    review.record(con, "q", 2, "confirmed", "ana")
    rows = con.execute(f"SELECT item_id, decision, reviewer FROM ({review.latest_sql('q')}) ORDER BY 1").fetchall()
    assert rows == [(1, "dismissed", "bo"), (2, "confirmed", "ana")]
    assert con.execute("SELECT count(*) FROM review.decisions").fetchall() == [(3,)]
    with pytest.raises(ValueError, match="decision must be one of"):
        review.record(con, "q", 3, "maybe", "ana")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO review.decisions (queue, item_id, decision, reviewer) VALUES ('q', 4, 'ok', 'x')")
    review.ensure_tables(con)  # idempotent, never touches rows
    assert con.execute("SELECT count(*) FROM review.decisions").fetchall() == [(3,)]


def _decide(con, labels, n_confirmed, n_dismissed):
    """Confirm true anomalies and dismiss normal rows among the highest-id rows."""
    ids_anom = (np.nonzero(labels)[0] + 1)[:n_confirmed]
    ids_norm = (np.nonzero(~labels)[0] + 1)[:n_dismissed]
    for i in ids_anom:
        review.record(con, "demo", int(i), "confirmed", "ana")
    for i in ids_norm:
        review.record(con, "demo", int(i), "dismissed", "ana")
    return ids_anom


def test_feedback_excludes_confirmed_rows_and_calibrates_on_decisions(con):
    labels = load_manifold(con, n=1500, n_anomalies=30)
    first = train(con, "m", "features", FEATURES, key="id", train_config=FAST, review_queue="demo")
    meta = registry.metadata(con, "m@1")
    assert meta["threshold_method"] == "contamination"  # no decisions yet
    assert "calibration_skipped" in meta["threshold_params"]
    assert meta["metrics"]["feedback"]["excluded_confirmed_rows"] == 0
    _decide(con, labels, 12, 8)
    second = train(con, "m", "features", FEATURES, key="id", train_config=FAST, review_queue="demo")
    assert second.trained and second.version == 2  # new decisions: a new version
    meta = registry.metadata(con, "m@2")
    assert meta["metrics"]["feedback"]["excluded_confirmed_rows"] == 12
    assert meta["row_count"] == 1500 - 12  # confirmed anomalies left out of training
    assert meta["threshold_method"] == "max_f1"
    assert meta["threshold_params"]["confirmed"] == 12 and meta["threshold_params"]["dismissed"] == 8
    again = train(con, "m", "features", FEATURES, key="id", train_config=FAST, review_queue="demo")
    assert not again.trained and first.version == 1


def test_recalibrating_a_version_is_logged_and_seen_by_sql(con, registered):
    store = udfs.register(con)
    flagged = con.execute(f"SELECT count(*) FILTER (WHERE ae_is_anomaly('demo', {VEC})) FROM features").fetchall()[0][0]
    recalibrate(con, "demo", "contamination", contamination=0.2)
    assert registry.metadata(con, "demo")["threshold_params"] == {"contamination": 0.2}
    more = con.execute(f"SELECT count(*) FILTER (WHERE ae_is_anomaly('demo', {VEC})) FROM features").fetchall()[0][0]
    assert more > 5 * flagged  # the cached model was dropped: the new threshold is in force
    recalibrate(con, "demo@1", "explicit", value=1e9)
    events = con.execute("SELECT method, threshold, previous FROM duckae.threshold_events ORDER BY changed_at").fetchall()
    assert [e[0] for e in events] == ["contamination", "explicit"]
    assert events[1][2] == pytest.approx(events[0][1])
    assert store.loads >= 2
    with pytest.raises(ValueError, match="needs a rate"):
        recalibrate(con, "demo", "contamination")
