import duckdb
import numpy as np
import pytest

from training.preprocessing import CLIP, Preprocessor


@pytest.fixture
def mem():
    c = duckdb.connect()
    c.execute("""CREATE TABLE t AS SELECT * FROM (VALUES
        (1.0, 10.0, 5.0, NULL::DOUBLE), (3.0, NULL, 5.0, NULL), (5.0, 30.0, 5.0, NULL),
        ('nan'::DOUBLE, 20.0, 5.0, NULL)) v(a, b, c, d)""")
    yield c
    c.close()


def test_fit_sql_standardizes_and_imputes(mem):
    p = Preprocessor.fit_sql(mem, "SELECT * FROM t", ["a", "b", "c"])
    assert p.means == pytest.approx([3.0, 20.0, 5.0])
    assert p.scales[0] == pytest.approx(np.std([1.0, 3.0, 5.0]))
    assert p.constant_features == ["c"] and p.scales[2] == 1.0
    assert p.missing_rate == pytest.approx([0.25, 0.25, 0.0])
    z = p.transform(np.array([[np.nan, np.nan, 5.0], [5.0, 30.0, 6.0]], dtype=np.float32))
    assert z[0].tolist() == [0.0, 0.0, 0.0]  # missing -> training mean -> 0
    assert z[1, 2] == pytest.approx(1.0)
    assert z.dtype == np.float32


def test_all_null_column_is_a_clear_error(mem):
    with pytest.raises(ValueError, match=r"\['d'\] are NULL in every training row"):
        Preprocessor.fit_sql(mem, "SELECT * FROM t", ["a", "d"])


def test_empty_rows_are_a_clear_error(mem):
    with pytest.raises(ValueError, match="training rows are empty"):
        Preprocessor.fit_sql(mem, "SELECT * FROM t WHERE false", ["a"])


def test_extreme_values_are_clipped_not_overflowed(mem):
    p = Preprocessor.fit_sql(mem, "SELECT * FROM t", ["a", "b"])
    z = p.transform(np.array([[1e30, -1e30]], dtype=np.float32))
    assert np.isfinite(z).all() and z[0, 0] == CLIP and z[0, 1] == -CLIP


def test_roundtrip_and_inverse(mem):
    p = Preprocessor.fit_sql(mem, "SELECT * FROM t", ["a", "b"])
    q = Preprocessor.from_dict(p.to_dict())
    x = np.array([[2.0, 15.0]], dtype=np.float32)
    assert np.allclose(q.inverse_transform(q.transform(x)), x)
    with pytest.raises(ValueError, match="expected a matrix with 2 columns"):
        q.transform(np.zeros((1, 3), dtype=np.float32))
