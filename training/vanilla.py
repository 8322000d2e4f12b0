"""Vanilla autoencoder: an undercomplete MLP, ``d -> hidden... -> k -> ...hidden -> d``."""

from __future__ import annotations

import dataclasses

import torch

from training.base import Autoencoder, FamilyConfig, activation, mlp, register_family


@dataclasses.dataclass
class VanillaConfig(FamilyConfig):
    hidden: list[int] = dataclasses.field(default_factory=lambda: [64, 32])
    latent_dim: int | None = None  # None: default_latent_dim(input_dim)
    activation: str = "gelu"


@register_family
class VanillaAutoencoder(Autoencoder):
    family = "vanilla"
    config_class = VanillaConfig

    def __init__(self, config: VanillaConfig) -> None:
        super().__init__(config)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {self.latent_dim}")
        act = activation(config.activation)
        sizes = [config.input_dim, *config.hidden, self.latent_dim]
        # The code layer is linear: the latent is an unconstrained coordinate system.
        self.encoder = mlp(sizes, act, last_activation=False)
        self.decoder = mlp(sizes[::-1], act, last_activation=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
