"""Variational autoencoder with a calibrated Gaussian decoder.

- Encoder: x -> (mu, logvar) of q(z|x); the code ``encode`` returns is mu.
- Decoder: z -> mean of p(x|z), with one learned noise scale per feature (``learn_scale``),
  so the reconstruction term is a real Gaussian likelihood and samples carry the data's noise.
- Loss: negative ELBO per row, divided by the input width: NLL + beta_t x KL(q(z|x) || N(0, I)).
  beta_t warms up linearly over ``warmup_epochs`` so the posterior does not collapse early;
  validation always uses the full beta (the true objective), so early stopping is not fooled
  by the schedule.
- Score (``score_by``): ``reconstruction`` (the weighted squared error of the mean code, as
  every family) or ``elbo`` (the row's negative ELBO, deterministic: mean code, exact KL).
- Generation: ``sample(n, generator)`` draws z ~ N(0, I), decodes, and adds the decoder's noise.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from training.base import Autoencoder, FamilyConfig, activation, mlp, register_family

SCORES = ("reconstruction", "elbo")


@dataclasses.dataclass
class VariationalConfig(FamilyConfig):
    hidden: list[int] = dataclasses.field(default_factory=lambda: [64, 32])
    latent_dim: int | None = None  # None: default_latent_dim(input_dim)
    activation: str = "gelu"
    beta: float = 1.0
    warmup_epochs: int = 10
    score_by: str = "reconstruction"
    learn_scale: bool = True


@register_family
class VariationalAutoencoder(Autoencoder):
    family = "variational"
    config_class = VariationalConfig
    config: VariationalConfig

    def __init__(self, config: VariationalConfig) -> None:
        super().__init__(config)
        if config.score_by not in SCORES:
            raise ValueError(f"unknown score_by {config.score_by!r}; expected one of {list(SCORES)}")
        if config.beta < 0 or config.warmup_epochs < 0:
            raise ValueError(f"beta and warmup_epochs must be >= 0, got {config.beta}, "
                             f"{config.warmup_epochs}")
        act = activation(config.activation)
        trunk = [config.input_dim, *config.hidden]
        self.trunk = mlp(trunk, act, last_activation=True)
        self.mu = nn.Linear(trunk[-1], self.latent_dim)
        self.logvar = nn.Linear(trunk[-1], self.latent_dim)
        self.decoder = mlp([self.latent_dim, *config.hidden[::-1], config.input_dim], act,
                           last_activation=False)
        # log of the decoder's noise scale per feature (standardized units)
        self.log_scale = nn.Parameter(torch.zeros(config.input_dim),
                                      requires_grad=config.learn_scale)
        self.beta_now = config.beta if config.warmup_epochs == 0 else 0.0

    def on_epoch_start(self, epoch: int) -> None:
        w = self.config.warmup_epochs
        self.beta_now = self.config.beta * (1.0 if w == 0 else min(1.0, epoch / w))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)  # (n, k), (n, k)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @staticmethod
    def kl_terms(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:  # (n, k)
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)

    def nll(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:  # (n,)
        log_s = self.log_scale
        return (0.5 * ((x - mean) * torch.exp(-log_s)).pow(2) + log_s
                + 0.5 * math.log(2 * math.pi)).sum(dim=1)

    def negative_elbo(self, x: torch.Tensor, beta: float, sample: bool) -> torch.Tensor:  # (n,)
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.nll(x, self.decode(z)) + beta * self.kl_terms(mu, logvar).sum(dim=1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_now if self.training else self.config.beta
        return self.negative_elbo(x, beta, sample=self.training).mean() / self.config.input_dim

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.score_by == "elbo":
            return self.negative_elbo(x, self.config.beta, sample=False)
        return super().score(x)

    def kl_per_dim(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (k,)
        """Mean KL of each latent dimension over ``x``: near 0 means that dimension collapsed."""
        mu, logvar = self.posterior(x)
        return self.kl_terms(mu, logvar).mean(dim=0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` standardized samples from the generative model (decoder noise included)."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        mean = self.decode(z)
        noise = torch.randn(n, self.config.input_dim, generator=generator)
        return mean + noise * torch.exp(self.log_scale)
