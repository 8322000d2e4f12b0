import pickle

import numpy as np
import pytest

from tests.conftest import FEATURES
from training import registry
from training.artifact import UnsafeWeightsError
from training.refs import ModelRefError, parse_ref


def _x(con):
    res = con.execute(f"SELECT {', '.join(FEATURES)} FROM features ORDER BY id").fetchnumpy()
    return np.column_stack([res[f] for f in FEATURES]).astype(np.float32)


def test_roundtrip_gives_identical_outputs(con, registered):
    loaded = registry.load(con, "demo")
    x = _x(con)
    assert loaded.ref == "demo@1" and loaded.family == "vanilla"
    assert loaded.feature_names == FEATURES
    assert np.array_equal(loaded.score_raw(x), registered.score_raw(x))
    assert loaded.threshold == registered.threshold
    assert loaded.reference_quantiles == registered.reference_quantiles
    meta = registry.metadata(con, "demo@1")
    assert meta["weights_format"] == "safetensors"
    assert set(meta["library_versions"]) >= {"torch", "duckdb", "duckae"}


def test_versions_aliases_promote_and_rollback(con, registered):
    assert registry.register(con, "demo", registered) == 2  # not promoted
    assert registry.resolve(con, "demo") == ("demo", 1)  # production wins over newest
    assert registry.resolve(con, "demo@latest") == ("demo", 2)
    assert registry.promote(con, "demo") == 2
    assert registry.resolve(con, "demo") == ("demo", 2)
    assert registry.register(con, "demo", registered, promote=True) == 3
    assert registry.rollback(con, "demo") == 2
    assert registry.rollback(con, "demo") == 1
    with pytest.raises(registry.RegistryError, match="no earlier version"):
        registry.rollback(con, "demo")
    assert registry.promote(con, "demo", 3) == 3
    rows = registry.list_versions(con, "demo")
    assert [r["version"] for r in rows] == [3, 2, 1]
    assert rows[0]["aliases"] == ["production"]


def test_unknown_model_and_version_name_what_exists(con, registered):
    with pytest.raises(registry.RegistryError, match=r"unknown model 'nope'.*\['demo'\]"):
        registry.resolve(con, "nope")
    with pytest.raises(registry.RegistryError, match=r"unknown version 9 of model 'demo'; it has versions \[1\]"):
        registry.resolve(con, "demo@9")
    with pytest.raises(registry.RegistryError, match="has no alias 'staging'"):
        registry.resolve(con, "demo@staging")


@pytest.mark.parametrize("bad", ["m@x-y", "m@-1", "m@0", "x'; drop table t; --", "", "a b"])
def test_malformed_references_are_refused(bad):
    with pytest.raises(ModelRefError, match="invalid model reference"):
        parse_ref(bad)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/duckae_pwned",))


def test_pickle_weights_are_refused_and_never_run(con, registered, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Boom()).replace(b"/tmp/duckae_pwned", str(marker).encode())
    import hashlib

    con.execute(
        "UPDATE duckae.model_versions SET weights = ?, weights_sha256 = ? WHERE name = 'demo'",
        [payload, hashlib.sha256(payload).hexdigest()],
    )
    with pytest.raises(UnsafeWeightsError, match="not safetensors bytes.*never unpickles"):
        registry.load(con, "demo")
    assert not marker.exists()


def test_altered_weights_fail_the_checksum(con, registered):
    con.execute("UPDATE duckae.model_versions SET weights_sha256 = 'x' WHERE name = 'demo'")
    with pytest.raises(UnsafeWeightsError, match="do not match their recorded sha256"):
        registry.load(con, "demo")


def test_register_is_all_or_nothing(con, registered, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("crash while moving the alias")

    monkeypatch.setattr(registry, "_move_alias", broken)
    with pytest.raises(RuntimeError):
        registry.register(con, "demo", registered, promote=True)
    assert [r["version"] for r in registry.list_versions(con, "demo")] == [1]
    assert registry.resolve(con, "demo") == ("demo", 1)


def test_register_leaves_the_callers_transaction_alone(con, registered):
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE TABLE mine AS SELECT 1 AS a")
    registry.register(con, "other", registered)
    con.execute("ROLLBACK")
    assert registry.resolve(con, "other") == ("other", 1)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchall() == [(0,)]
