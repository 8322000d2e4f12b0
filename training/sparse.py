"""Sparse autoencoder: a code that is mostly inactive, which may be as wide as the input.

- ``penalty="l1"``: ReLU code, loss + ``l1_weight`` x mean |code|; a unit is active when its
  activation is > 0 (ReLU gives exact zeros).
- ``penalty="kl"``: sigmoid code read as firing probabilities, loss + ``kl_weight`` x sum over
  units of KL(rho || mean activation of the unit over the batch), with rho 10% under
  ``target_rate`` so that the achieved rate lands at or below the configured ceiling.

Both decode through a first layer with unit-norm columns: otherwise the decoder can undo any
sparsity penalty by shrinking the code and growing its weights.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from training.base import Autoencoder, FamilyConfig, activation, mlp, register_family

PENALTIES = ("l1", "kl")
KL_AIM = 0.9


@dataclasses.dataclass
class SparseConfig(FamilyConfig):
    hidden: list[int] = dataclasses.field(default_factory=lambda: [64])
    latent_dim: int = 32
    activation: str = "gelu"
    penalty: str = "kl"
    l1_weight: float = 1e-2
    target_rate: float = 0.05
    kl_weight: float = 0.5


class UnitColumnLinear(nn.Linear):
    """A linear layer whose weight columns (one per latent unit) have unit norm.

    Without it the decoder can undo any sparsity penalty by shrinking the code and growing its
    own weights; with it a unit that is used must be active for real.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.weight / self.weight.norm(dim=0, keepdim=True).clamp(min=1e-8)
        return nn.functional.linear(z, w, self.bias)


@register_family
class SparseAutoencoder(Autoencoder):
    family = "sparse"
    config_class = SparseConfig
    config: SparseConfig

    def __init__(self, config: SparseConfig) -> None:
        super().__init__(config)
        if config.penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {config.penalty!r}; expected one of {list(PENALTIES)}")
        if not 0 < config.target_rate < 1:
            raise ValueError(f"target_rate must be in (0, 1), got {config.target_rate}")
        act = activation(config.activation)
        sizes = [config.input_dim, *config.hidden, config.latent_dim]
        self.encoder_logits = mlp(sizes, act, last_activation=False)
        back = sizes[::-1]
        first = UnitColumnLinear(back[0], back[1])
        rest = mlp(back[1:], act, last_activation=False) if len(back) > 2 else nn.Identity()
        self.decoder = nn.Sequential(first, *( [act()] if len(back) > 2 else []), rest)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder_logits(x)  # (n, k)
        if self.config.penalty == "l1":
            return torch.relu(h)
        return torch.sigmoid(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def penalty(self, z: torch.Tensor) -> torch.Tensor:  # (n, k) -> ()
        cfg = self.config
        if cfg.penalty == "l1":
            return cfg.l1_weight * z.abs().mean()
        # target_rate is a ceiling: aim 10% under it so the achieved rate lands at or below it
        rho = torch.tensor(KL_AIM * cfg.target_rate, dtype=z.dtype)
        rho_hat = z.mean(dim=0).clamp(1e-6, 1 - 1e-6)  # (k,) firing rate of each unit
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return cfg.kl_weight * kl.sum()

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode(x)
        recon = (self.decode(z) - x).pow(2).mean()
        return recon + self.penalty(z)

    def activity(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, k) in [0, 1]
        """How active each unit is: 1/0 for a ReLU code (active iff > 0); for the sigmoid code
        its activation, read as the unit's firing probability (what the KL constrains)."""
        z = self.encode(x)
        return (z > 0).to(z.dtype) if self.config.penalty == "l1" else z

    @torch.no_grad()
    def active_fraction(self, x: torch.Tensor) -> float:
        """Mean fraction of latent units active per row."""
        return float(self.activity(x).mean())
