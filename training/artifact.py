"""A trained model with everything needed to score it, and its safe (no-pickle) weight format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from typing import Any

import numpy as np
import safetensors.torch
import torch

from training.base import Autoencoder, build_model
from training.preprocessing import Preprocessor

WEIGHTS_FORMAT = "safetensors"


OPTIONAL_BUFFERS = ("density_center", "density_whiten", "score_weight")


class UnsafeWeightsError(ValueError):
    """Weight bytes that are not plain safetensors (for instance a pickle) are never loaded."""


def weights_to_bytes(model: Autoencoder) -> bytes:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return safetensors.torch.save(state)


def weights_from_bytes(data: bytes, what: str) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; refuse anything else before any parser that could run code."""
    data = bytes(data)
    head = data[:16]
    ok = len(data) >= 10
    if ok:
        (header_len,) = struct.unpack("<Q", data[:8])
        ok = 2 <= header_len <= len(data) - 8 and data[8:9] == b"{"
    if not ok:
        raise UnsafeWeightsError(
            f"weights of {what} are not safetensors bytes (they start with {head!r}); "
            "duckae never unpickles weights, so this version cannot be loaded. Retrain and "
            "register it again with duckae."
        )
    try:
        return safetensors.torch.load(data)
    except Exception as e:  # malformed header or truncated tensor data
        raise UnsafeWeightsError(f"weights of {what} are corrupt safetensors: {e}") from e


@dataclasses.dataclass
class TrainedModel:
    """The fitted model plus its preprocessing, threshold and provenance."""

    family: str
    params: dict[str, Any]
    model: Autoencoder
    preprocessor: Preprocessor
    train_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    threshold: float = float("inf")
    threshold_method: str = "none"
    threshold_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference_quantiles: list[float] = dataclasses.field(default_factory=list)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""
    data_fingerprint: str = ""
    row_count: int = 0
    config_hash: str = ""
    input_shape: list[int] | None = None
    source_key: str | None = None
    # Set once registered.
    name: str | None = None
    version: int | None = None

    @property
    def feature_names(self) -> list[str]:
        return self.preprocessor.feature_names

    @property
    def input_dim(self) -> int:
        return self.preprocessor.dim

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version is not None else str(self.name)

    # -- scoring helpers used by the SQL kernels and the notebook --------------------------------
    def score_raw(self, x: np.ndarray) -> np.ndarray:
        """Scores of raw rows ``(n, d)`` (NaN = missing) as float64 ``(n,)``."""
        with torch.no_grad():
            z = torch.from_numpy(self.preprocessor.transform(x))
            return self.model.score(z).double().numpy()

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Share (0..1) of the reference (held-out) scores below each score."""
        q = np.asarray(self.reference_quantiles, dtype=np.float64)
        if q.size == 0:
            return np.full(scores.shape, np.nan)
        # quantiles are evenly spaced in probability: interpolate the inverse CDF.
        probs = np.linspace(0.0, 1.0, q.size)
        return np.interp(scores, q, probs, left=0.0, right=1.0)

    def weights_bytes(self) -> bytes:
        return weights_to_bytes(self.model)

    @classmethod
    def from_parts(
        cls, family: str, params: dict[str, Any], input_dim: int, weights: bytes, what: str,
        **fields: Any,
    ) -> TrainedModel:
        model = build_model(family, params, input_dim)
        state = weights_from_bytes(weights, what)
        missing, unexpected = model.load_state_dict(state, strict=False)
        # Versions saved before the latent density term existed score by reconstruction only.
        missing = [m for m in missing if m not in OPTIONAL_BUFFERS]
        if missing or unexpected:
            raise UnsafeWeightsError(
                f"weights of {what} do not fit a {family} model with {params}: "
                f"missing {list(missing)}, unexpected {list(unexpected)}"
            )
        model.eval()
        return cls(family=family, params=params, model=model, **fields)


def config_hash(family: str, params: dict[str, Any], train: dict[str, Any], features: list[str],
                extra: dict[str, Any] | None = None) -> str:
    blob = json.dumps(
        {"family": family, "params": params, "train": train, "features": features,
         **({"extra": extra} if extra else {})},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
