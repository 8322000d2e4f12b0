import duckdb
import numpy as np
import pandas as pd
import pytest

import udfs
from tests.conftest import FEATURES
from training import registry
from udfs import kernels

VEC = "[" + ", ".join(FEATURES) + "]::FLOAT[8]"


def _x(con):
    res = con.execute(f"SELECT {', '.join(FEATURES)} FROM features ORDER BY id").fetchnumpy()
    return np.column_stack([res[f] for f in FEATURES]).astype(np.float32)


def test_sql_functions_match_the_kernels(con, registered):
    udfs.register(con)
    got = con.execute(
        f"SELECT ae_score('demo', {VEC}) AS s, ae_encode('demo@1', {VEC}) AS z, "
        f"ae_is_anomaly('demo', {VEC}) AS a, ae_percentile('demo', {VEC}) AS p, "
        f"ae_feature_errors('demo', {VEC}) AS e, ae_reconstruct('demo', {VEC}) AS r "
        "FROM features ORDER BY id"
    ).df()
    x = _x(con)
    assert len(got) == 3000  # more than one 2048-row call
    assert np.allclose(got["s"].to_numpy(), kernels.score(registered, x), rtol=1e-6)
    assert np.allclose(np.stack(got["z"].to_numpy()), kernels.encode(registered, x), atol=1e-6)
    assert got["a"].sum() == kernels.is_anomaly(registered, x).sum()
    assert np.allclose(np.stack(got["e"].to_numpy()).sum(axis=1), 1.0, atol=1e-4)
    assert np.stack(got["r"].to_numpy()).shape == (3000, 8)
    # about `contamination` of rows pass the threshold calibrated on held-out rows
    assert 0.002 < got["a"].mean() < 0.05


def test_array_columns_and_list_columns_both_work(con, registered):
    udfs.register(con)
    a = con.execute(f"SELECT sum(ae_score('demo', {VEC})) FROM features").fetchall()[0][0]
    b = con.execute(
        f"SELECT sum(ae_score('demo', {VEC}::FLOAT[])) FROM features"
    ).fetchall()[0][0]
    assert a == pytest.approx(b)


def test_null_vector_gives_null_and_null_element_is_imputed(con, registered):
    udfs.register(con)
    rows = con.execute(
        "SELECT ae_score('demo', NULL::FLOAT[]), "
        "ae_score('demo', [0.1, NULL, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]::FLOAT[])"
    ).fetchall()
    assert rows[0][0] is None and np.isfinite(rows[0][1])


def test_errors_name_what_was_given_and_what_was_expected(con, registered):
    udfs.register(con)
    with pytest.raises(duckdb.Error, match=r"unknown model 'nope'.*\['demo'\]"):
        con.execute("SELECT ae_score('nope', [1.0]::FLOAT[])").fetchall()
    with pytest.raises(duckdb.Error, match=r"unknown version 4 of model 'demo'; it has versions \[1\]"):
        con.execute("SELECT ae_score('demo@4', [1.0]::FLOAT[])").fetchall()
    with pytest.raises(duckdb.Error, match=r"demo@1 expects feature vectors of length 8 \[f0, .*got a vector of length 3"):
        con.execute("SELECT ae_score('demo', [1.0, 2.0, 3.0]::FLOAT[])").fetchall()
    with pytest.raises(duckdb.Error, match="invalid model reference 'demo@-1'"):
        con.execute("SELECT ae_encode('demo@-1', [1.0]::FLOAT[])").fetchall()
    with pytest.raises(duckdb.Error, match="model 'demo' has no alias 'x'.*production"):
        con.execute("SELECT ae_encode('demo@x', [1.0]::FLOAT[])").fetchall()


def test_nothing_is_written_when_scoring_fails(con, registered):
    udfs.register(con)
    con.execute("CREATE TABLE scores AS SELECT id, ae_score('demo', " + VEC + ") AS s FROM features")
    before = con.execute("SELECT sum(s) FROM scores").fetchall()
    bad = "CASE WHEN id = 2500 THEN [1.0]::FLOAT[] ELSE " + VEC + "::FLOAT[] END"
    with pytest.raises(duckdb.Error, match="length 8"):
        con.execute(f"CREATE TABLE scores2 AS SELECT id, ae_score('demo', {bad}) FROM features")
    with pytest.raises(duckdb.Error, match="length 8"):
        con.execute(f"INSERT INTO scores SELECT id, ae_score('demo', {bad}) FROM features")
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scores2'").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM scores").fetchall() == [(3000,)]
    assert con.execute("SELECT sum(s) FROM scores").fetchall() == before


def test_models_are_cached_per_version_and_aliases_follow_promotion(con, registered):
    store = udfs.register(con)
    for _ in range(3):
        con.execute(f"SELECT sum(ae_score('demo', {VEC})) FROM features").fetchall()
    assert store.loads == 1
    registry.register(con, "demo", registered)  # demo@2, not promoted
    one = con.execute(f"SELECT ae_score('demo', {VEC}) FROM features LIMIT 1").fetchall()
    registry.promote(con, "demo", 2)  # in-process promotion invalidates alias resolutions
    con.execute(f"SELECT ae_score('demo', {VEC}) FROM features LIMIT 1").fetchall()
    assert store.resolve("demo") == ("demo", 2) and store.loads == 2
    assert one  # same weights: same scores either way


def test_mixed_references_in_one_query_keep_row_order(con, registered):
    registry.register(con, "demo", registered)
    udfs.register(con)
    got = con.execute(
        f"SELECT id, ae_score(CASE WHEN id % 2 = 0 THEN 'demo@1' ELSE 'demo@2' END, {VEC}) AS s, "
        f"ae_score('demo@1', {VEC}) AS ref FROM features ORDER BY id"
    ).df()
    assert np.allclose(got["s"], got["ref"])


def test_register_twice_is_fine(con, registered):
    udfs.register(con)
    udfs.register(con)
    assert con.execute(f"SELECT count(ae_score('demo', {VEC})) FROM features").fetchall() == [(3000,)]


def test_sqlalchemy_engine_registers_on_every_connection(db_path, con, registered):
    con.close()
    from udfs.sqlalchemy import create_engine

    engine = create_engine(f"duckdb:///{db_path}")
    df = pd.read_sql(
        f"SELECT id, ae_score('demo', {VEC}) AS score, ae_encode('demo', {VEC}) AS z "
        "FROM features ORDER BY id LIMIT 5",
        engine,
    )
    assert len(df) == 5 and df["score"].notna().all() and len(df["z"][0]) == 2
    engine.dispose()
