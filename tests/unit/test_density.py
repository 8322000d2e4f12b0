"""The latent density term of the score and the default code size (issue: benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from training.artifact import OPTIONAL_BUFFERS, TrainedModel
from training.base import build_model, default_latent_dim
from training.evaluate import fit_matrix
from udfs import kernels

ADBENCH = Path(__file__).resolve().parents[3] / "shared" / "data" / "adbench"


def correlated(n: int, seed: int) -> np.ndarray:
    """(n, 6): x0 and x1 move together (r ~ 0.99), the rest is independent noise."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    x = rng.normal(size=(n, 6))
    x[:, 0], x[:, 1] = t, t + 0.1 * rng.normal(size=n)
    return x.astype(np.float32)


def broken(n: int, seed: int) -> np.ndarray:
    """Rows whose every value is ordinary (|x| <= 1.5 sd) but x0 and x1 disagree."""
    x = correlated(n, seed)
    x[:, 0], x[:, 1] = 1.2, -1.2
    return x


def test_default_code_size_follows_the_width_and_is_recorded():
    assert [default_latent_dim(d) for d in (1, 5, 8, 9, 166)] == [1, 5, 8, 8, 8]
    m = build_model("vanilla", {}, input_dim=5)
    assert m.latent_dim == 5 and m.config.to_dict()["latent_dim"] == 5
    assert build_model("pca", {}, input_dim=3).latent_dim == 3  # was an error below 8
    assert build_model("variational", {"latent_dim": 2}, input_dim=30).latent_dim == 2


def test_density_catches_rows_the_decoder_rebuilds_well(con):
    train = correlated(3000, 0)
    normal, odd = correlated(500, 1), broken(50, 2)
    y = np.r_[np.zeros(len(normal)), np.ones(len(odd))]
    test = np.vstack([normal, odd])
    # PCA with the default code size keeps all 6 axes: every row is rebuilt exactly, so the
    # reconstruction term alone cannot tell the broken rows apart (with the latent box off:
    # clamping codes to the box is the other guard against this, through reconstruction).
    with_density = fit_matrix(con, train, "pca", {}, torch_threads=1, latent_clip_quantile=0)
    without = fit_matrix(con, train, "pca", {}, torch_threads=1, latent_clip_quantile=0,
                         latent_density=False)
    auc_on = roc_auc_score(y, kernels.score(with_density, test))
    auc_off = roc_auc_score(y, kernels.score(without, test))
    assert auc_on > 0.99 and auc_off < 0.75, (auc_on, auc_off)
    # Each term is in units of its median on training rows: a typical row scores about 2.
    vanilla = fit_matrix(con, train, "vanilla", {}, torch_threads=1)
    assert roc_auc_score(y, kernels.score(vanilla, test)) > 0.99
    median = float(np.median(kernels.score(vanilla, train)))
    assert 1.5 < median < 2.5, median


def test_density_centre_ignores_the_anomalies_in_the_training_table(con):
    x = correlated(2000, 0)
    x[:100] += 25.0  # 5% far away, in the table the model trains on
    m = fit_matrix(con, x, "pca", {}, torch_threads=1, normalize_errors=False)
    clean = torch.from_numpy(m.preprocessor.transform(x[100:]))
    with torch.no_grad():
        codes = m.model.encode(clean)
    # The robust centre sits on the clean rows' codes, not pulled toward the far ones.
    assert torch.allclose(m.model.density_center, codes.mean(0), atol=0.05 * float(codes.std()))


def test_versions_saved_before_the_density_term_still_load(con):
    m = fit_matrix(con, correlated(500, 0), "vanilla", {"latent_dim": 2}, torch_threads=1,
                   epochs=3, latent_density=False)
    state = {k: v for k, v in m.model.state_dict().items() if k not in OPTIONAL_BUFFERS}
    from safetensors.torch import save

    old = TrainedModel.from_parts("vanilla", m.params, m.input_dim, save(state), "demo@1",
                                  preprocessor=m.preprocessor)
    x = correlated(50, 1)
    np.testing.assert_allclose(kernels.score(old, x), kernels.score(m, x), rtol=1e-6)


@pytest.mark.skipif(not ADBENCH.is_dir(), reason=f"ADBench data not found at {ADBENCH} "
                    "(the shared data folder is absent on this machine)")
def test_default_detects_thyroid_anomalies_better_with_density(con):
    from sklearn.model_selection import train_test_split

    with np.load(ADBENCH / "38_thyroid.npz", allow_pickle=False) as f:
        x, y = f["X"].astype(np.float32), f["y"].astype(int)
    x_tr, x_te, _, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    aucs = []
    for density in (True, False):
        m = fit_matrix(con, x_tr, "vanilla", {}, torch_threads=1, epochs=40, batch_size=256,
                       patience=5, latent_density=density)
        aucs.append(roc_auc_score(y_te, kernels.score(m, x_te)))
    assert aucs[0] >= 0.95 and aucs[0] > aucs[1], aucs
