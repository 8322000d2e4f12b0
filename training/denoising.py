"""Denoising autoencoder: corrupt the input while training, reconstruct the clean input.

Corruption (training only; scoring sees the input as it is):
- ``gaussian``: add N(0, noise_std^2) in standardized units;
- ``mask``: set each input to its mean (0 after standardization) with probability ``mask_prob``;
- ``both``: mask, then add noise.
"""

from __future__ import annotations

import dataclasses

import torch

from training.base import register_family
from training.vanilla import VanillaAutoencoder, VanillaConfig

NOISES = ("gaussian", "mask", "both")


@dataclasses.dataclass
class DenoisingConfig(VanillaConfig):
    noise: str = "gaussian"
    noise_std: float = 0.5
    mask_prob: float = 0.25


@register_family
class DenoisingAutoencoder(VanillaAutoencoder):
    family = "denoising"
    config_class = DenoisingConfig
    config: DenoisingConfig

    def __init__(self, config: DenoisingConfig) -> None:
        super().__init__(config)
        if config.noise not in NOISES:
            raise ValueError(f"unknown noise {config.noise!r}; expected one of {list(NOISES)}")
        if config.noise_std < 0 or not 0 <= config.mask_prob < 1:
            raise ValueError(
                f"noise_std must be >= 0 and mask_prob in [0, 1); got {config.noise_std}, "
                f"{config.mask_prob}"
            )

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, d)
        cfg = self.config
        out = x
        if cfg.noise in ("mask", "both"):
            keep = torch.rand_like(x) >= cfg.mask_prob
            out = out * keep
        if cfg.noise in ("gaussian", "both"):
            out = out + cfg.noise_std * torch.randn_like(x)
        return out

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().loss(x)
        # The target is the clean input.
        return (self.decode(self.encode(self.corrupt(x))) - x).pow(2).mean()
