"""The bad-input matrix: every case a clear error naming the value and what was expected, or a
documented defined result; never a crash of the process, never a partial write."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import udfs
from tests.conftest import FAST, FEATURES
from training import registry
from training.api import train
from udfs import kernels
from udfs.bulk import score_table
from udfs.kernels import FeatureVectorError

VEC = "[" + ", ".join(FEATURES) + "]::FLOAT[8]"
ROW = "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]"


def _one(con, sql):
    return con.execute(sql).fetchall()[0][0]


@pytest.fixture
def sql(con, registered):
    udfs.register(con)
    return con


def test_sql_defined_results(sql):
    assert _one(sql, "SELECT ae_score('demo', NULL::FLOAT[])") is None  # NULL vector: NULL
    a = _one(sql, f"SELECT ae_score('demo', {ROW}::FLOAT[])")
    nul = _one(sql, "SELECT ae_score('demo', [0.1, NULL, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[])")
    nan = _one(sql, "SELECT ae_score('demo', [0.1, 'nan'::FLOAT, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[])")
    assert np.isfinite(a) and nul == pytest.approx(nan)  # NULL and NaN: missing, imputed alike
    huge = _one(sql, "SELECT ae_score('demo', [1e30, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[])")
    assert np.isfinite(huge) and huge > 1e3 * a  # huge but finite
    assert _one(sql, "SELECT ae_is_anomaly('demo', [1e30, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[])")


@pytest.mark.parametrize("expr, message", [
    ("['inf'::FLOAT, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[]", "feature 'f0' is inf in row 0"),
    ("[0.1, '-inf'::FLOAT, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[]", "feature 'f1' is -inf in row 0"),
    ("[1.0, 2.0]::FLOAT[]", "expects feature vectors of length 8 .* got a vector of length 2"),
    ("[]::FLOAT[]", "expects feature vectors of length 8 .* got a vector of length 0"),
    ("['a', 'b']", r"(?s)No function matches .*ae_score\(STRING_LITERAL, VARCHAR\[\]\).*Candidate functions:\s+ae_score\(VARCHAR, FLOAT\[\]\)"),
    ("42", r"ae_score\(VARCHAR, FLOAT\[\]\)"),
])
def test_sql_bad_vectors_are_clear_errors(sql, expr, message):
    with pytest.raises(duckdb.Error, match=message):
        sql.execute(f"SELECT ae_score('demo', {expr})").fetchall()


@pytest.mark.parametrize("ref, message", [
    ("nope", r"unknown model 'nope'.*\['demo'\]"),
    ("demo@7", r"unknown version 7 of model 'demo'; it has versions \[1\]"),
    ("demo@x", r"model 'demo' has no alias 'x'"),
    ("demo@-1", "invalid model reference 'demo@-1'"),
    ("m@", "invalid model reference 'm@'"),
    ("x''; drop table features; --", "invalid model reference"),
])
def test_sql_bad_references_are_clear_errors_and_run_nothing(sql, ref, message):
    with pytest.raises(duckdb.Error, match=message):
        sql.execute(f"SELECT ae_score('{ref}', {ROW}::FLOAT[])").fetchall()
    assert _one(sql, "SELECT count(*) FROM features") == 3000  # the 'drop table' never ran


def test_training_with_more_features_than_rows(con):
    con.execute("CREATE TABLE tiny AS SELECT i AS id, " + ", ".join(
        f"random() AS c{j}" for j in range(12)) + " FROM range(5) t(i)")
    r = train(con, "tiny", "tiny", [f"c{j}" for j in range(12)], key="id", train_config=FAST)
    assert r.trained and registry.metadata(con, "tiny")["row_count"] == 5


def test_scoring_a_table_whose_columns_changed_names_them(sql):
    sql.execute("CREATE TABLE renamed AS SELECT * EXCLUDE (f5) RENAME (f2 AS f2_old) FROM features")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['f2', 'f5'\] that demo@1 was trained on"):
        score_table(sql, "demo", "renamed", "id", "out", progress=False)
    with pytest.raises(duckdb.Error, match='"f2" not found'):
        sql.execute(f"SELECT ae_score('demo', {VEC}) FROM renamed").fetchall()


def test_bulk_scoring_failure_leaves_the_previous_output(sql):
    score_table(sql, "demo", "features", "id", "out", progress=False)
    before = sql.execute("SELECT sum(score), count(*) FROM out").fetchall()
    sql.execute("CREATE TABLE poisoned AS SELECT * REPLACE (CASE WHEN id = 2999 THEN 'inf'::DOUBLE ELSE f0 END AS f0) FROM features")
    with pytest.raises(FeatureVectorError, match="is inf"):
        score_table(sql, "demo", "poisoned", "id", "out", batch_rows=500, progress=False)
    assert sql.execute("SELECT sum(score), count(*) FROM out").fetchall() == before
    assert not sql.execute("SELECT * FROM duckdb_tables() WHERE table_name LIKE '%staging%'").fetchall()


finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)
anything = st.one_of(finite, st.just(np.nan), st.just(np.inf), st.just(-np.inf),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(0, 40), st.just(8)), elements=anything))
def test_kernels_on_arbitrary_batches(trained_session, x):
    """Any batch either scores to finite numbers of the right shape or fails with a clear error
    (only for infinities); NaN means missing."""
    if np.isinf(x).any():
        with pytest.raises(FeatureVectorError, match="infinite values cannot be scored"):
            kernels.score(trained_session, x)
        return
    s = kernels.score(trained_session, x)
    assert s.shape == (len(x),) and np.isfinite(s).all() and (s >= 0).all()
    z = kernels.encode(trained_session, x)
    assert z.shape == (len(x), 2) and np.isfinite(z).all()
    shares = kernels.feature_errors(trained_session, x)
    assert shares.shape == (len(x), 8)
    assert np.allclose(shares.sum(axis=1), 1.0, atol=1e-4) if len(x) else True
    p = kernels.percentile(trained_session, x)
    assert ((p >= 0) & (p <= 1)).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(width=st.integers(0, 20).filter(lambda w: w != 8))
def test_kernels_reject_any_other_width(trained_session, width):
    with pytest.raises(FeatureVectorError, match=f"got shape \\(3, {width}\\)"):
        kernels.score(trained_session, np.zeros((3, width), dtype=np.float32))
