import numpy as np
import pytest
import torch

from tests.conftest import FAST, FEATURES, load_manifold
from training.api import fit
from training.base import Autoencoder, FamilyConfig, register_family
from training.config import TrainConfig
from training.trainer import Trainer


def _chunks(x):
    return lambda: iter([x[i : i + 500] for i in range(0, len(x), 500)])


def test_loss_goes_down_and_best_epoch_is_restored():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(2000, 2)).astype(np.float32)
    x = np.column_stack([t, t @ rng.normal(size=(2, 4))]).astype(np.float32)
    torch.manual_seed(0)
    from training.base import build_model

    m = build_model("vanilla", {"hidden": [16], "latent_dim": 2}, 6)
    hist = Trainer(TrainConfig(epochs=10, torch_threads=1)).fit(
        m, _chunks(x[:1600]), _chunks(x[1600:]), lambda a: a
    )
    losses = [e.val_loss for e in hist.epochs]
    assert losses[-1] < losses[0] / 3
    assert hist.best_val_loss == min(losses)
    assert not m.training


def test_early_stopping_stops_when_validation_stalls():
    x = np.random.default_rng(0).normal(size=(600, 3)).astype(np.float32)  # pure noise
    from training.base import build_model

    m = build_model("vanilla", {"hidden": [4], "latent_dim": 1}, 3)
    cfg = TrainConfig(epochs=200, patience=2, min_delta=0.01, lr=1e-2, torch_threads=1)
    hist = Trainer(cfg).fit(m, _chunks(x[:500]), _chunks(x[500:]), lambda a: a)
    assert hist.stopped_early and len(hist.epochs) < 200


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": -1.0}, {"contamination": 0.7}])
def test_invalid_train_config_names_the_field(bad):
    key = next(iter(bad))
    with pytest.raises(ValueError, match=f"{key}="):
        TrainConfig(**bad)


def test_unknown_training_option_is_named():
    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})


@register_family
class _MeanFamily(Autoencoder):
    """A family the trainer has never heard of: predicts a learned constant."""

    family = "test_mean"
    config_class = FamilyConfig

    def __init__(self, config):
        super().__init__(config)
        self.center = torch.nn.Parameter(torch.zeros(config.input_dim))

    def encode(self, x):
        return x[:, :0]

    def decode(self, z):
        return self.center.expand(len(z), -1)


def test_trainer_and_fit_never_name_a_family(con):
    load_manifold(con, n=800)
    m = fit(con, "features", FEATURES, family="test_mean", train_config=FAST)
    # the learned constant is the (standardized) mean: close to zero
    assert m.model.center.abs().max() < 0.2
    assert m.family == "test_mean" and m.threshold > 0


def test_same_seed_same_weights(con):
    load_manifold(con, n=800)
    a = fit(con, "features", FEATURES, key="id", train_config=FAST)
    b = fit(con, "features", FEATURES, key="id", train_config=FAST)
    for (k, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k
    c = fit(con, "features", FEATURES, key="id", train_config=FAST | {"seed": 1})
    assert not torch.equal(next(iter(a.model.parameters())), next(iter(c.model.parameters())))
