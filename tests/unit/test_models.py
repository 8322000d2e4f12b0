import dataclasses

import pytest
import torch

from training.base import FAMILIES, Autoencoder, build_model, family_class
from training.vanilla import VanillaAutoencoder, VanillaConfig


def test_vanilla_contract_shapes():
    torch.manual_seed(0)
    m = build_model("vanilla", {"hidden": [16], "latent_dim": 3}, input_dim=7)
    x = torch.randn(11, 7)
    assert m.encode(x).shape == (11, 3)
    assert m.reconstruct(x).shape == (11, 7)
    assert m.feature_errors(x).shape == (11, 7)
    assert m.score(x).shape == (11,)
    loss = m.loss(x)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert m.latent_dim == 3


def test_build_model_rejects_unknown_family_and_parameter():
    with pytest.raises(ValueError, match="unknown autoencoder family 'nope'.*vanilla"):
        build_model("nope", {}, 4)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['latnet_dim'\].*latent_dim"):
        build_model("vanilla", {"latnet_dim": 2}, 4)
    with pytest.raises(ValueError, match="latent_dim must be at least 1"):
        build_model("vanilla", {"latent_dim": 0}, 4)


def test_families_are_registered_by_name():
    assert family_class("vanilla") is VanillaAutoencoder
    assert all(issubclass(c, Autoencoder) for c in FAMILIES.values())


def test_latent_box_clamps_only_in_eval_mode():
    torch.manual_seed(0)
    m = build_model("vanilla", {"hidden": [8], "latent_dim": 2}, input_dim=4)
    codes = torch.randn(1000, 2)
    m.calibrate_latent(codes, 0.01)
    assert torch.all(m.latent_low > -4) and torch.all(m.latent_high < 4)
    z = torch.tensor([[100.0, -100.0]])
    m.eval()
    assert torch.equal(m.clamp_latent(z), torch.stack([m.latent_high[0], m.latent_low[1]])[None])
    m.train()
    assert torch.equal(m.clamp_latent(z), z)
    m.calibrate_latent(codes, 0.0)
    assert torch.isinf(m.latent_high).all()


def test_error_weights_follow_typical_held_out_error():
    m = build_model("vanilla", {"hidden": [8], "latent_dim": 2}, input_dim=3)
    gen = torch.Generator().manual_seed(0)
    errors = torch.rand(5000, 3, generator=gen) * torch.tensor([1.0, 0.1, 0.01])
    errors[:10, 1] = 1e6  # a few anomalies must not set the scale
    m.calibrate_errors(errors)
    w = m.error_weight
    # weights ~ 1 / mean error: ratios 10x and 100x, unaffected by the outliers
    assert 8 < float(w[1] / w[0]) < 12
    assert 80 < float(w[2] / w[0]) < 120


def test_config_roundtrip_keeps_values():
    cfg = VanillaConfig(input_dim=5, hidden=[4, 3], latent_dim=2, activation="tanh")
    again = VanillaConfig.from_dict(cfg.to_dict())
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)
