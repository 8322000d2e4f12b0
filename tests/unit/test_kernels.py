import numpy as np
import pytest

from tests.conftest import manifold_rows
from udfs import kernels
from udfs.kernels import FeatureVectorError


@pytest.fixture(scope="module")
def x():
    return manifold_rows(300, 0, seed=5)[0].astype(np.float32)


def test_shapes_and_types(trained_session, x):
    m = trained_session
    assert kernels.score(m, x).shape == (300,) and kernels.score(m, x).dtype == np.float64
    assert kernels.encode(m, x).shape == (300, 2)
    rec = kernels.reconstruct(m, x)
    assert rec.shape == (300, 8) and rec.dtype == np.float32
    # reconstructions are in the input's units: close to the input on normal rows
    assert np.mean((rec - x) ** 2) < np.var(x) * 0.2
    shares = kernels.feature_errors(m, x)
    assert np.allclose(shares.sum(axis=1), 1.0, atol=1e-5) and (shares >= 0).all()
    assert kernels.is_anomaly(m, x).dtype == bool
    p = kernels.percentile(m, x)
    assert ((p >= 0) & (p <= 1)).all()


def test_anomalies_score_higher(trained_session):
    x, y = manifold_rows(2000, 40, seed=9)
    s = kernels.score(trained_session, x.astype(np.float32))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, s) > 0.9


def test_slices_do_not_change_results(trained_session, x):
    big = np.concatenate([x] * 10)  # 3000 rows: two slices
    assert np.allclose(kernels.score(trained_session, big)[:300], kernels.score(trained_session, x))


def test_single_feature_anomaly_ranks_that_feature_first(trained_session, x):
    bad = x[:50].copy()
    bad[:, 4] += 3.0
    shares = kernels.feature_errors(trained_session, bad)
    assert (shares.argmax(axis=1) == 4).mean() > 0.9


def test_missing_values_are_imputed_and_infinities_refused(trained_session, x):
    row = x[:1].copy()
    row[0, 2] = np.nan
    assert np.isfinite(kernels.score(trained_session, row)).all()
    row[0, 2] = np.inf
    with pytest.raises(FeatureVectorError, match="feature 'f2' is inf in row 0"):
        kernels.score(trained_session, row)


def test_wrong_width_names_both_sides(trained_session):
    with pytest.raises(FeatureVectorError, match=r"expects feature vectors of length 8 \(f0, f1.*got shape \(2, 3\)"):
        kernels.score(trained_session, np.zeros((2, 3), dtype=np.float32))


def test_huge_values_give_finite_huge_scores(trained_session, x):
    row = x[:1].copy()
    row[0, 0] = 1e30
    s = kernels.score(trained_session, row)
    assert np.isfinite(s).all() and s[0] > 1e3 * kernels.score(trained_session, x[:1])[0]


def test_empty_batch(trained_session):
    assert kernels.score(trained_session, np.zeros((0, 8), dtype=np.float32)).shape == (0,)


def test_attributions_blame_the_group_that_was_changed(con, labels):
    from tests.conftest import FAST, FEATURES
    from training.api import fit

    groups = {"pair": ["f0", "f1"]}
    m = fit(con, "features", FEATURES, key="id", params={"hidden": [32, 16], "latent_dim": 2},
            train_config=FAST, feature_groups=groups)
    assert list(m.preprocessor.groups())[:2] == ["pair", "f2"]
    x = manifold_rows(200, 0, seed=3)[0].astype(np.float32)
    bad = x.copy()
    bad[:, 0] += 2.0  # both members of the group move together
    bad[:, 1] += 2.0
    shares = kernels.attributions(m, bad)
    assert shares.shape == (200, 7)
    assert np.allclose(shares.sum(axis=1), 1.0, atol=1e-5)
    assert (shares.argmax(axis=1) == 0).mean() > 0.9


def test_feature_groups_are_validated(con, labels):
    from tests.conftest import FAST, FEATURES
    from training.api import fit

    with pytest.raises(ValueError, match=r"names \['nope'\], which are not model features"):
        fit(con, "features", FEATURES, train_config=FAST, feature_groups={"g": ["f0", "nope"]})
    with pytest.raises(ValueError, match=r"\['f0'\] are in more than one feature group"):
        fit(con, "features", FEATURES, train_config=FAST, feature_groups={"a": ["f0"], "b": ["f0"]})
