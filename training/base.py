"""The contract every autoencoder family implements, and the table of families.

Every family is a small ``nn.Module`` built from a dataclass config. The trainer and the scorer
only ever call the four methods below, so neither names a family:

- ``loss(x) -> scalar``: the training objective for a batch ``x`` of shape ``(n, d)``.
- ``encode(x) -> (n, k)``: the latent code (for a VAE, the posterior mean).
- ``reconstruct(x) -> (n, d)``: the reconstruction of ``x`` (deterministic in eval mode).
- ``score(x) -> (n,)``: the anomaly score; **higher is more anomalous** (said once, here).

Inputs are always the *standardized* feature matrix; the preprocessor that maps raw units to it
is stored next to the model, never inside it, so the weights stay a plain tensor dictionary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn


@dataclasses.dataclass
class FamilyConfig:
    """Fields every family config has. ``input_dim`` is set by the trainer from the data."""

    input_dim: int = 0

    def __post_init__(self) -> None:
        # ``latent_dim = None`` means "chosen from the data's width" (see default_latent_dim);
        # the chosen number is what the registry records.
        if getattr(self, "latent_dim", 0) is None and self.input_dim > 0:
            setattr(self, "latent_dim", default_latent_dim(self.input_dim))  # noqa: B010

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FamilyConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for {cls.__name__}; "
                f"expected some of {sorted(known)}"
            )
        # JSON turns tuples into lists; keep the declared container types.
        return cls(**values)


def default_latent_dim(input_dim: int) -> int:
    """Code size when none is given: the input's width, at most 8.

    Chosen on the ADBench harness (bench/adbench.py, median ROC-AUC over 9 datasets): with the
    latent density term, a code as wide as a narrow input (d <= 8) beat ceil(d/2) (median 0.854
    vs 0.846, annthyroid 0.78 vs 0.76), and min(16, d) or min(32, 2d) gained nothing on the
    wide ones. Give ``latent_dim`` for reduction work: there the code size is the point.
    """
    return max(1, min(8, input_dim))


class Autoencoder(nn.Module):
    """Base class: subclasses define ``encode``/``decode`` and may override ``loss``/``score``."""

    family: ClassVar[str] = ""
    config_class: ClassVar[type[FamilyConfig]] = FamilyConfig
    # How inputs are standardized unless the training config says otherwise.
    default_scaling: ClassVar[str] = "feature"
    # buffers (saved with the weights)
    latent_low: torch.Tensor
    latent_high: torch.Tensor
    error_weight: torch.Tensor
    density_center: torch.Tensor
    density_whiten: torch.Tensor
    score_weight: torch.Tensor

    def __init__(self, config: FamilyConfig) -> None:
        super().__init__()
        if config.input_dim < 1:
            raise ValueError(f"input_dim must be at least 1, got {config.input_dim}")
        self.config = config
        # The box of latent codes seen on normal data (set after training by calibrate_latent).
        # reconstruct() decodes the code clamped to it, so the decoder never extrapolates: a row
        # that is extreme along a direction the model learned (10x the usual amount) is not
        # reconstructed by stretching that direction, and keeps a large error. +-inf = off.
        shape = self.latent_shape
        self.register_buffer("latent_low", torch.full(shape, -math.inf))
        self.register_buffer("latent_high", torch.full(shape, math.inf))
        # Per-feature weights of the squared error in the score: 1 / the feature's typical
        # held-out error (set by calibrate_errors). A feature the model normally reconstructs
        # to 0.01 counts 100x more per unit of error than one it cannot predict at all, so
        # anomalies in predictable features are not drowned by noisy ones. Ones = plain MSE.
        self.register_buffer("error_weight", torch.ones(config.input_dim))
        # Latent density term (set by calibrate_density): the squared Mahalanobis distance of
        # the row's code from the codes of normal training rows. A row the decoder rebuilds
        # well can still sit where normal codes are rare (each value ordinary, the combination
        # not); reconstruction alone misses it. score = reconstruction / its median on the
        # training rows + distance / its median: each term is about 1 for a typical row.
        # score_weight [1, 0] (the state before calibration) = reconstruction only.
        k = math.prod(self.latent_shape)
        self.register_buffer("density_center", torch.zeros(k))
        self.register_buffer("density_whiten", torch.zeros(k, k))
        self.register_buffer("score_weight", torch.tensor([1.0, 0.0]))

    # -- the contract -----------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, k)
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (n, k) -> (n, d)
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, d)
        return self.decode(self.clamp_latent(self.encode(x)))

    def clamp_latent(self, z: torch.Tensor) -> torch.Tensor:  # (n, *latent_shape)
        if self.training:
            return z
        return torch.maximum(torch.minimum(z, self.latent_high), self.latent_low)

    @torch.no_grad()
    def calibrate_latent(self, codes: torch.Tensor, quantile: float) -> None:
        """Set the latent box to the [q, 1-q] quantiles of ``codes`` (n, *latent_shape)."""
        if quantile <= 0 or codes.numel() == 0:
            self.latent_low.fill_(-math.inf)
            self.latent_high.fill_(math.inf)
            return
        flat = codes.reshape(len(codes), -1).double()
        lo = torch.quantile(flat, quantile, dim=0).reshape(self.latent_shape)
        hi = torch.quantile(flat, 1 - quantile, dim=0).reshape(self.latent_shape)
        self.latent_low.copy_(lo)
        self.latent_high.copy_(hi)

    def feature_errors(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, d)
        """Squared reconstruction error of each feature, in standardized units."""
        return self._errors_from_code(x, self.encode(x))

    def _errors_from_code(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # -> (n, d)
        """``feature_errors`` of ``x`` given its code ``z`` (so one encode serves two terms)."""
        return (self.decode(self.clamp_latent(z)) - x).pow(2)

    def weighted_errors(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n, d)
        """Squared errors scaled by each feature's typical held-out error; the score's terms."""
        return self.feature_errors(x) * self.error_weight

    def score_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codes (n, k) flat, reconstruction term (n,))``: what ``score`` combines."""
        z = self.encode(x)
        reconstruction = (self._errors_from_code(x, z) * self.error_weight).mean(dim=1)
        return z.reshape(len(z), -1), reconstruction

    def score(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> (n,)
        """Mean weighted squared reconstruction error per row, plus the latent density term
        when calibrated (see ``score_weight``); higher is more anomalous."""
        z, reconstruction = self.score_terms(x)
        s = reconstruction * self.score_weight[0]
        if self.density_on:
            s = s + self.latent_distance(z) * self.score_weight[1]
        return s

    @property
    def density_on(self) -> bool:
        return bool(self.score_weight[1] > 0)

    def latent_distance(self, z: torch.Tensor) -> torch.Tensor:  # (n, *latent_shape) -> (n,)
        """Squared Mahalanobis distance of codes from the calibrated centre."""
        return _mahalanobis(z.reshape(len(z), -1), self.density_center, self.density_whiten)

    def loss(self, x: torch.Tensor) -> torch.Tensor:  # (n, d) -> ()
        return self.feature_errors(x).mean()

    # -- bookkeeping --------------------------------------------------------------------------
    @torch.no_grad()
    def calibrate_errors(self, errors: torch.Tensor, trim: float = 0.99, floor: float = 0.01) -> None:
        """Set ``error_weight`` from held-out squared errors ``(n, d)`` (unweighted).

        A feature's typical error is its mean error over rows below its ``trim`` quantile (the
        held-out rows hold anomalies too; their errors must not set the scale), floored at
        ``floor`` x the mean over features so a perfectly reconstructed feature cannot get an
        unbounded weight.
        """
        if len(errors) == 0:
            self.error_weight.fill_(1.0)
            return
        e = errors.double()
        cut = torch.quantile(e, trim, dim=0) if len(e) > 1 else e.max(dim=0).values
        typical = torch.where(e <= cut, e, torch.zeros_like(e)).sum(0) / (e <= cut).sum(0).clamp(min=1)
        typical = typical.clamp(min=floor * float(typical.mean()) + 1e-12)
        self.error_weight.copy_((1.0 / typical).float())

    @torch.no_grad()
    def calibrate_density(self, codes: torch.Tensor, recon: torch.Tensor, trim: float = 0.1) -> None:
        """Fit the latent density term on training rows: ``codes`` (n, *latent_shape) from
        ``encode`` and ``recon`` (n,) their reconstruction terms (mean weighted error).

        The centre and covariance are robust to the anomalies a training table contains: a
        first fit, then a refit without the ``trim`` most distant codes. A small ridge (0.1% of
        the mean variance) keeps dead or constant code units from dividing by zero.
        """
        z = codes.reshape(len(codes), -1).double()
        if len(z) < 2:
            self.score_weight.copy_(torch.tensor([1.0, 0.0]))
            return
        center, whiten = _whitening(z)
        dist = _mahalanobis(z, center, whiten)
        keep = dist <= torch.quantile(dist, 1 - trim)
        if int(keep.sum()) >= 2:
            center, whiten = _whitening(z[keep])
            dist = _mahalanobis(z, center, whiten)
        self.density_center.copy_(center.float())
        self.density_whiten.copy_(whiten.float())
        typical = (float(recon.double().median()), float(dist.median()))
        self.score_weight.copy_(torch.tensor([1.0 / max(t, 1e-12) for t in typical]))

    @property
    def latent_dim(self) -> int:
        """Width of the flat code ``encode`` returns."""
        return int(getattr(self.config, "latent_dim", 0))

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def on_epoch_start(self, epoch: int) -> None:
        """Hook for schedules (e.g. KL warm-up); the trainer calls it, knowing nothing more."""


FAMILIES: dict[str, type[Autoencoder]] = {}


def _mahalanobis(z: torch.Tensor, center: torch.Tensor, whiten: torch.Tensor) -> torch.Tensor:
    """Squared Mahalanobis distances (n,) of flat codes ``z`` (n, k); see ``_whitening``."""
    return ((z - center) @ whiten).pow(2).sum(1)


def _whitening(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (k,) and W (k, k) with ||(z - centre) @ W||^2 the Mahalanobis distance."""
    center = z.mean(0)
    cov = torch.cov(z.T).reshape(z.shape[1], z.shape[1])
    values, vectors = torch.linalg.eigh(cov)
    ridge = 1e-3 * float(values.clamp(min=0).mean()) + 1e-12
    return center, vectors / values.clamp(min=0).add(ridge).sqrt()


def register_family(cls: type[Autoencoder]) -> type[Autoencoder]:
    if not cls.family:
        raise ValueError(f"{cls.__name__} has no family name")
    FAMILIES[cls.family] = cls
    return cls


def family_class(family: str) -> type[Autoencoder]:
    # Importing the package registers the built-in families.
    import training.families  # noqa: F401

    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(
            f"unknown autoencoder family {family!r}; expected one of {sorted(FAMILIES)}"
        ) from None


def build_model(family: str, params: dict[str, Any], input_dim: int) -> Autoencoder:
    """Build an untrained model of ``family`` from user parameters and the data's width."""
    cls = family_class(family)
    values = dict(params)
    values["input_dim"] = input_dim
    config = cls.config_class.from_dict(values)
    return cls(config)


def mlp(sizes: list[int], activation: Callable[[], nn.Module], last_activation: bool) -> nn.Sequential:
    """A stack of Linear layers ``sizes[0] -> ... -> sizes[-1]`` with activations between."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def activation(name: str) -> Callable[[], nn.Module]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
