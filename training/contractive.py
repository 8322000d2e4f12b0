"""Contractive autoencoder: penalize the encoder's sensitivity to its input.

The penalty is the squared Frobenius norm of the encoder's Jacobian dz/dx, computed exactly per
row with ``torch.func`` (vmap over jacrev), not by finite differences. Cost grows with the code
size k: one vector-Jacobian product per latent unit.
"""

from __future__ import annotations

import dataclasses

import torch

from training.base import register_family
from training.vanilla import VanillaAutoencoder, VanillaConfig


@dataclasses.dataclass
class ContractiveConfig(VanillaConfig):
    contractive_weight: float = 0.1
    activation: str = "tanh"


@register_family
class ContractiveAutoencoder(VanillaAutoencoder):
    family = "contractive"
    config_class = ContractiveConfig
    config: ContractiveConfig

    def jacobian_norm(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n,)
        """Exact squared Frobenius norm of d encode(x) / dx for each row."""

        def one(v: torch.Tensor) -> torch.Tensor:  # (d,) -> (k,)
            return self.encoder(v.unsqueeze(0)).squeeze(0)

        jac = torch.func.vmap(torch.func.jacrev(one))(x)  # (n, k, d)
        return jac.pow(2).sum(dim=(1, 2))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        recon = (self.decode(self.encode(x)) - x).pow(2).mean()
        return recon + self.config.contractive_weight * self.jacobian_norm(x).mean()
