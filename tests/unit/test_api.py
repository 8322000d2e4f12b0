import numpy as np
import pytest

from tests.conftest import FAST, FEATURES, load_manifold
from training import registry
from training.api import train


def test_train_registers_promotes_and_reuses(con):
    load_manifold(con, n=1500)
    a = train(con, "m", "features", FEATURES, key="id", train_config=FAST)
    assert a.trained and a.version == 1 and a.production_version == 1
    b = train(con, "m", "features", FEATURES, key="id", train_config=FAST)
    assert not b.trained and b.version == 1  # nothing changed: no retrain
    c = train(con, "m", "features", FEATURES, key="id", train_config=FAST | {"epochs": 3})
    assert c.trained and c.version == 2 and c.production_version == 2  # config changed
    con.execute("UPDATE features SET f0 = f0 * 1.01 WHERE id < 10")
    d = train(con, "m", "features", FEATURES, key="id", train_config=FAST | {"epochs": 3})
    assert d.trained and d.version == 3  # data changed


def test_reuse_respects_a_rollback(con):
    load_manifold(con, n=1500)
    train(con, "m", "features", FEATURES, key="id", train_config=FAST)
    train(con, "m", "features", FEATURES, key="id", train_config=FAST | {"epochs": 3})
    registry.rollback(con, "m")
    again = train(con, "m", "features", FEATURES, key="id", train_config=FAST | {"epochs": 3})
    assert not again.trained and again.production_version == 1


def test_metadata_records_what_a_reviewer_needs(con):
    load_manifold(con, n=1500)
    train(con, "m", "features", FEATURES, key="id", train_config=FAST)
    meta = registry.metadata(con, "m")
    assert meta["threshold_method"] == "contamination"
    assert meta["threshold_params"]["contamination"] == 0.01
    assert len(meta["reference_quantiles"]) == 1001
    assert meta["row_count"] == 1500 and meta["feature_names"] == FEATURES
    assert len(meta["history"]["val_loss"]) == meta["metrics"]["epochs_run"]
    assert meta["metrics"]["train_rows"] + meta["metrics"]["val_rows"] == 1500


@pytest.mark.parametrize(
    "sql, features, message",
    [
        ("SELECT * FROM features WHERE false", FEATURES, "empty source"),
        ("SELECT * FROM features", ["f0", "missing"], r"\['missing'\] are not in the source"),
        ("SELECT *, NULL::DOUBLE AS n FROM features", ["f0", "n"], r"\['n'\] are NULL in every"),
        ("SELECT *, 'a' AS s FROM features", ["f0", "s"], "must be numeric"),
    ],
)
def test_bad_training_input_is_a_clear_error(con, sql, features, message):
    load_manifold(con, n=200)
    with pytest.raises(ValueError, match=message):
        train(con, "bad", sql, features, train_config=FAST)
    assert registry.list_versions(con, "bad") == []


def test_one_row_and_constant_columns_train(con):
    con.execute("CREATE TABLE one AS SELECT 1.0 AS a, 2.0 AS b")
    r = train(con, "one", "one", ["a", "b"], train_config=FAST)
    assert r.trained
    con.execute("CREATE TABLE c AS SELECT i::DOUBLE AS a, 5.0 AS b FROM range(300) t(i)")
    r = train(con, "c", "c", ["a", "b"], train_config=FAST)
    assert registry.metadata(con, "c")["preprocessing"]["constant_features"] == ["b"]
    assert np.isfinite(registry.metadata(con, "c")["threshold"])
