import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import FEATURES, load_manifold
from training.data import FeatureSource, arrow_to_matrix, shuffled_batches, source_sql


@pytest.fixture
def src(con):
    load_manifold(con, n=2000)
    return FeatureSource(con, source_sql("features"), FEATURES, key="id", val_fraction=0.2)


def test_split_is_disjoint_complete_and_deterministic(src, con):
    train_ids = {r[0] for r in con.execute(f"SELECT id FROM ({src.part_sql('train')})").fetchall()}
    val_ids = {r[0] for r in con.execute(f"SELECT id FROM ({src.part_sql('val')})").fetchall()}
    assert not train_ids & val_ids
    assert len(train_ids | val_ids) == 2000
    assert 0.15 < len(val_ids) / 2000 < 0.25
    again = FeatureSource(con, src.sql, FEATURES, key="id", val_fraction=0.2)
    assert {r[0] for r in con.execute(f"SELECT id FROM ({again.part_sql('val')})").fetchall()} == val_ids


def test_read_streams_the_whole_part_in_feature_order(src, con):
    chunks = list(src.read("all", batch_rows=300))
    assert len(chunks) >= 2 and all(c.dtype == np.float32 for c in chunks)
    x = np.concatenate(chunks)
    ref = con.execute(f"SELECT {', '.join(FEATURES)} FROM features").fetchnumpy()
    expected = np.column_stack([ref[f] for f in FEATURES]).astype(np.float32)
    assert x.shape == (2000, 8)
    assert np.allclose(np.sort(x, axis=0), np.sort(expected, axis=0))


def test_fingerprint_changes_with_the_data(src, con):
    n, fp = src.fingerprint()
    assert n == 2000 and fp == src.fingerprint()[1]
    con.execute("UPDATE features SET f3 = f3 + 1 WHERE id = 7")
    assert src.fingerprint()[1] != fp


def test_shuffled_batches_yield_every_row_once():
    chunks = [np.arange(i, i + 100, dtype=np.float32)[:, None] for i in range(0, 1000, 100)]
    rng = np.random.default_rng(0)
    out = list(shuffled_batches(iter(chunks), batch_size=64, buffer_rows=250, rng=rng))
    rows = np.concatenate(out)[:, 0]
    assert sorted(rows.tolist()) == list(range(1000))
    assert rows.tolist() != list(range(1000))  # shuffled
    assert all(len(b) == 64 for b in out[:-1])


def test_missing_and_non_numeric_columns_are_named(con):
    con.execute("CREATE TABLE t AS SELECT 1 AS id, 2.0 AS a, 'x' AS s")
    with pytest.raises(ValueError, match=r"\['nope'\] are not in the source; it has \['a', 'id', 's'\]"):
        FeatureSource(con, source_sql("t"), ["a", "nope"])
    with pytest.raises(ValueError, match=r"must be numeric or numeric arrays, got \{'s': 'VARCHAR'\}"):
        FeatureSource(con, source_sql("t"), ["a", "s"])


def test_source_sql_quotes_names_and_rejects_injection():
    assert source_sql("main.features") == 'SELECT * FROM "main"."features"'
    with pytest.raises(ValueError, match="invalid table"):
        source_sql("x; drop table y")


def test_arrow_to_matrix_handles_nulls_and_slices():
    arr = pa.array([[1.0, None], [3.0, 4.0], [5.0, 6.0]], type=pa.list_(pa.float32()))
    m = arrow_to_matrix(arr.slice(1), 2)
    assert m.tolist() == [[3.0, 4.0], [5.0, 6.0]]
    m = arrow_to_matrix(arr, 2)
    assert np.isnan(m[0, 1]) and m[0, 0] == 1.0
    fixed = pa.FixedSizeListArray.from_arrays(pa.array([1, 2, 3, 4], pa.float32()), 2)
    assert arrow_to_matrix(fixed.slice(1), 2).tolist() == [[3.0, 4.0]]


def test_relation_sources_work(con):
    load_manifold(con, n=100)
    rel = con.table("features")
    src = FeatureSource(con, source_sql(rel), FEATURES)
    assert src.count() == 100
    assert isinstance(rel, duckdb.DuckDBPyRelation)
