"""Each family does what it is for, with assertions that can fail (issue: six families)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_swiss_roll
from sklearn.metrics import roc_auc_score

import udfs
from training import registry
from training.artifact import TrainedModel
from training.base import FAMILIES
from training.evaluate import fit_matrix, model_heldout_mse, pca_heldout_mse, standardized
from udfs import kernels


def train_on(con, x, family, params, **train) -> TrainedModel:
    return fit_matrix(con, x, family, params, **({"torch_threads": 1} | train))


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return (load_digits().data / 16.0).astype(np.float32)


def test_vanilla_beats_pca_on_a_nonlinear_manifold(con):
    x, _ = make_swiss_roll(3000, noise=0.3, random_state=0)
    x = x.astype(np.float32)
    train, test = x[:2400], x[2400:]
    m = train_on(con, train, "vanilla", {"hidden": [64, 64], "latent_dim": 2}, epochs=60,
                 normalize_errors=False, latent_clip_quantile=0)
    ae, pca = model_heldout_mse(m, test), pca_heldout_mse(train, test, 2)
    assert ae < 0.6 * pca, (ae, pca)


def test_denoising_halves_the_distance_to_the_clean_digits(con, digits):
    rng = np.random.default_rng(0)
    train, test = digits[:1500], digits[1500:]
    m = train_on(con, train, "denoising", {"hidden": [128, 64], "latent_dim": 16, "noise_std": 0.7},
                 epochs=60, scaling="global")
    noisy = test + rng.normal(0, 0.25, test.shape).astype(np.float32)
    cleaned = kernels.reconstruct(m, noisy)
    before = float(((noisy - test) ** 2).mean())
    after = float(((cleaned - test) ** 2).mean())
    assert after <= 0.5 * before, (before, after)


@pytest.mark.parametrize("penalty, extra, ceiling", [
    ("kl", {"target_rate": 0.05, "kl_weight": 0.5}, 0.05),  # the configured target
    ("l1", {"l1_weight": 2.0}, 0.10),  # L1 has no target: a sparse code at this weight
])
def test_sparse_code_is_mostly_inactive(con, digits, penalty, extra, ceiling):
    m = train_on(con, digits, "sparse", {"hidden": [64], "latent_dim": 64, "penalty": penalty, **extra},
                 epochs=40, scaling="global")
    frac = m.model.active_fraction(standardized(m, digits))
    assert 0.01 < frac <= ceiling, frac  # sparse, and not a dead code
    assert m.latent_dim == digits.shape[1]  # as wide as the input
    assert model_heldout_mse(m, digits) < 0.5  # it still reconstructs (a dead code gives ~0.9)


def test_contractive_encoder_is_less_sensitive_than_vanilla(con, digits):
    params = {"hidden": [64], "latent_dim": 8, "activation": "tanh"}
    van = train_on(con, digits, "vanilla", params, epochs=30, scaling="global")
    cae = train_on(con, digits, "contractive", params | {"contractive_weight": 0.1}, epochs=30,
                   scaling="global")
    z = standardized(van, digits[:500])
    with torch.no_grad():
        j_van = float(cae.model.__class__.jacobian_norm(van.model, z).mean())
        j_cae = float(cae.model.jacobian_norm(z).mean())
    assert j_cae < 0.5 * j_van, (j_cae, j_van)
    # the price: reconstruction error, reported and bounded
    assert model_heldout_mse(cae, digits) < 3 * model_heldout_mse(van, digits)


def test_contractive_penalty_is_the_exact_jacobian():
    torch.manual_seed(0)
    from training.base import build_model

    m = build_model("contractive", {"hidden": [7], "latent_dim": 3}, 5)
    x = torch.randn(4, 5)
    exact = torch.stack([
        torch.autograd.functional.jacobian(lambda v: m.encoder(v[None])[0], row).pow(2).sum()
        for row in x
    ])
    assert torch.allclose(m.jacobian_norm(x), exact, atol=1e-6)


def test_variational_no_collapse_samples_match_and_sql_sample_is_seeded(con, digits):
    m = train_on(con, digits, "variational", {"hidden": [128, 64], "latent_dim": 6,
                                              "warmup_epochs": 10}, epochs=60, scaling="global")
    z = standardized(m, digits)
    with torch.no_grad():
        kl = m.model.kl_per_dim(z)
    assert (kl > 0.05).all(), kl  # every latent dimension carries information
    samples = kernels.sample(m, np.arange(2000))
    mean_gap = np.abs(samples.mean(0) - digits.mean(0)).mean()
    std_gap = np.abs(samples.std(0) - digits.std(0)).mean()
    assert mean_gap < 0.05 and std_gap < 0.08, (mean_gap, std_gap)
    registry.register(con, "vae", m)
    udfs.register(con)
    a = con.execute("SELECT ae_sample('vae', 7), ae_sample('vae', 8)").fetchall()[0]
    b = con.execute("SELECT ae_sample('vae', s) FROM range(5, 10) t(s) ORDER BY s").fetchall()
    assert a[0] == b[2][0] and a[1] == b[3][0] and a[0] != a[1]
    decoded = con.execute("SELECT ae_decode('vae', ae_encode('vae', x)) FROM data LIMIT 3").fetchall()
    assert len(decoded[0][0]) == 64
    with pytest.raises(duckdb.Error, match="decodes latent codes of length 6, got a code of length 2"):
        con.execute("SELECT ae_decode('vae', [1.0, 2.0]::FLOAT[])").fetchall()


def test_sample_needs_a_generative_family(con, registered):
    udfs.register(con)
    with pytest.raises(duckdb.Error, match="demo@1 is a vanilla autoencoder and cannot generate"):
        con.execute("SELECT ae_sample('demo', 1)").fetchall()


def test_conv1d_finds_the_sensor_faults(con):
    from training.demo_sensors import CHANNELS, WINDOW, SensorConfig, generate

    readings, labels = generate(SensorConfig(n_machines=20, windows_per_machine=100, seed=3))
    r = readings.assign(w=(readings.groupby("machine_id").cumcount() // WINDOW))
    windows = np.stack([
        np.concatenate([g[c].to_numpy() for c in CHANNELS]) for _, g in r.groupby(["machine_id", "w"])
    ])
    m = train_on(con, windows, "convolutional",
                 {"input_shape": [4, WINDOW], "channels": [16, 32], "kernel_size": 5, "latent_dim": 12},
                 epochs=40, contamination=0.05, latent_density=False)  # as the demo's sensor model
    s = kernels.score(m, windows.astype(np.float32))
    auc = roc_auc_score(labels["is_fault"].to_numpy(), s)
    assert auc >= 0.95, auc


def test_conv2d_beats_a_dense_model_of_the_same_size(con, digits):
    train, test = digits[:1500], digits[1500:]
    conv = train_on(con, train, "convolutional",
                    {"input_shape": [1, 8, 8], "channels": [16, 32], "latent_dim": 10}, epochs=60)
    n_conv = sum(p.numel() for p in conv.model.parameters())
    dense = train_on(con, train, "vanilla", {"hidden": [96], "latent_dim": 10}, epochs=60,
                     scaling="global")
    n_dense = sum(p.numel() for p in dense.model.parameters())
    assert 0.8 < n_conv / n_dense < 1.25, (n_conv, n_dense)
    err_conv = float(((kernels.reconstruct(conv, test) - test) ** 2).mean())
    err_dense = float(((kernels.reconstruct(dense, test) - test) ** 2).mean())
    assert err_conv < err_dense, (err_conv, err_dense)


FAMILY_PARAMS = {
    "vanilla": {},
    "denoising": {"noise": "both"},
    "sparse": {"latent_dim": 16},
    "contractive": {},
    "variational": {"score_by": "elbo"},
    "convolutional": {"input_shape": [1, 8, 8], "channels": [8, 16]},
}


@pytest.mark.parametrize("family", sorted(FAMILY_PARAMS))
def test_every_family_round_trips_through_the_registry(con, digits, family):
    assert set(FAMILY_PARAMS) <= set(FAMILIES)
    m = train_on(con, digits[:600], family, FAMILY_PARAMS[family], epochs=3)
    registry.register(con, family, m)
    loaded = registry.load(con, family)
    x = digits[600:700]
    for fn in (kernels.score, kernels.encode, kernels.reconstruct, kernels.feature_errors):
        assert np.array_equal(fn(m, x), fn(loaded, x)), fn.__name__
    assert loaded.input_shape == FAMILY_PARAMS[family].get("input_shape")
    udfs.register(con)
    got = con.execute(f"SELECT ae_score('{family}', x) FROM data ORDER BY id LIMIT 5").fetchall()
    assert np.allclose([g[0] for g in got], kernels.score(m, digits[:5]))


def test_pca_family_matches_numpy_pca_and_round_trips(con, digits):
    train, test = digits[:1500], digits[1500:]
    m = train_on(con, train, "pca", {"latent_dim": 10}, normalize_errors=False, latent_clip_quantile=0,
                 val_fraction=0.01)
    ours = model_heldout_mse(m, test)
    ref = pca_heldout_mse(train, test, 10)
    assert abs(ours - ref) < 0.02 * ref, (ours, ref)
    axes = m.model.axes.detach().numpy()
    assert np.allclose(axes.T @ axes, np.eye(10), atol=1e-4)  # orthonormal
    registry.register(con, "p", m)
    assert np.array_equal(kernels.encode(registry.load(con, "p"), test), kernels.encode(m, test))


def test_impute_fills_only_the_gaps_and_beats_the_mean(con, digits):
    m = train_on(con, digits[:1500], "vanilla", {"hidden": [64], "latent_dim": 12}, epochs=40,
                 scaling="global")
    test = digits[1500:].copy()
    rng = np.random.default_rng(0)
    gaps = rng.random(test.shape) < 0.15
    filled = kernels.impute(m, np.where(gaps, np.nan, test))
    assert np.array_equal(filled[~gaps], test[~gaps])  # given values kept exactly
    mean_fill = np.nanmean(np.where(gaps, np.nan, test), axis=0)
    err_model = float(((filled - test)[gaps] ** 2).mean())
    err_mean = float(((np.broadcast_to(mean_fill, test.shape) - test)[gaps] ** 2).mean())
    assert err_model < 0.7 * err_mean, (err_model, err_mean)
