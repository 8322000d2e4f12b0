"""PCA as a family: a linear autoencoder whose weights are the top principal axes.

It is fitted in closed form, not by gradient descent: one streaming pass accumulates the
covariance of the standardized training rows (``d x d``), and its top ``latent_dim``
eigenvectors become the encoder (projection) and decoder (reconstruction). Stored, scored and
compared exactly like the other families, which makes it the baseline for "does the
autoencoder beat PCA at the same code size?".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from training.base import Autoencoder, FamilyConfig, register_family


@dataclasses.dataclass
class PCAConfig(FamilyConfig):
    latent_dim: int | None = None  # None: default_latent_dim(input_dim)


@register_family
class PCAAutoencoder(Autoencoder):
    family = "pca"
    config_class = PCAConfig
    config: PCAConfig

    def __init__(self, config: PCAConfig) -> None:
        super().__init__(config)
        if not 1 <= self.latent_dim <= config.input_dim:
            raise ValueError(f"latent_dim must be in [1, {config.input_dim}] for PCA, got "
                             f"{self.latent_dim}")
        self.center = nn.Parameter(torch.zeros(config.input_dim), requires_grad=False)
        self.axes = nn.Parameter(torch.eye(config.input_dim)[:, : self.latent_dim],
                                 requires_grad=False)  # (d, k), orthonormal columns
        self.explained = nn.Parameter(torch.zeros(self.latent_dim), requires_grad=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, k)
        return (x - self.center) @ self.axes

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (n, k) -> (n, d)
        return z @ self.axes.T + self.center

    def fit_closed_form(self, chunks: Callable[[], Iterator[np.ndarray]],
                        transform: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        """Principal axes from one streaming pass; returns a summary for the history."""
        d = self.config.input_dim
        n, total, outer = 0, np.zeros(d), np.zeros((d, d))
        for chunk in chunks():
            z = transform(chunk).astype(np.float64)
            n += len(z)
            total += z.sum(axis=0)
            outer += z.T @ z
        if n == 0:
            raise ValueError("the training split is empty: there are no rows to fit PCA on")
        mean = total / n
        cov = outer / n - np.outer(mean, mean)
        values, vectors = np.linalg.eigh(cov)  # ascending
        order = np.argsort(values)[::-1][: self.latent_dim]
        with torch.no_grad():
            self.center.copy_(torch.from_numpy(mean).float())
            self.axes.copy_(torch.from_numpy(vectors[:, order]).float())
            self.explained.copy_(torch.from_numpy(values[order]).float())
        kept = float(values[order].sum() / max(values.sum(), 1e-12))
        return {"rows": n, "explained_variance_ratio": kept}
