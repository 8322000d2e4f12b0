"""Training configuration: every default lives here, once."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    # Early stopping on the validation loss.
    patience: int = 5
    min_delta: float = 1e-4
    val_fraction: float = 0.1
    seed: int = 0
    # Rows read from DuckDB per Arrow batch, and rows shuffled together.
    read_batch_rows: int = 65_536
    shuffle_buffer: int = 262_144
    # Threshold: the (1 - contamination) quantile of held-out reference scores.
    contamination: float = 0.01
    # Reconstructions decode the latent code clamped to the [q, 1-q] quantiles of held-out
    # codes, so extremes along learned directions are not reconstructed by extrapolation.
    # 0 turns it off.
    latent_clip_quantile: float = 0.005
    # Score = mean of squared errors weighted by 1 / each feature's typical held-out error.
    # False: plain mean squared error in standardized units.
    normalize_errors: bool = True
    # Score += the squared Mahalanobis distance of the row's latent code from the training
    # codes (robust centre and covariance), each term in units of its median on training rows.
    # False: reconstruction only. See Autoencoder.calibrate_density.
    latent_density: bool = True
    # Input standardization: "feature", "channel" or "global"; None: the family's default
    # (per feature; per channel for convolutional models).
    scaling: str | None = None
    # None: all cores while training (DuckDB idles while torch steps).
    torch_threads: int | None = None
    # Read rows in a deterministic order (key order, else by value hash) so a rebuilt table
    # gives identical weights; False streams in storage order (no sort: for huge tables).
    ordered_reads: bool = True
    # Cap on training steps per epoch (None: the whole training split each epoch).
    max_steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "patience": self.patience >= 1,
            "val_fraction": 0.0 < self.val_fraction < 1.0,
            "contamination": 0.0 < self.contamination < 0.5,
            "read_batch_rows": self.read_batch_rows >= 1,
            "shuffle_buffer": self.shuffle_buffer >= 1,
            "latent_clip_quantile": 0.0 <= self.latent_clip_quantile < 0.5,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "invalid training config: "
                + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
                + " (epochs, batch_size, patience >= 1; lr > 0; 0 < val_fraction < 1; "
                "0 < contamination < 0.5)"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TrainConfig:
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown training option(s) {unknown}; expected some of {sorted(known)}"
            )
        # Values from dbt config or the CLI may arrive as strings.
        coerced: dict[str, Any] = {}
        for k, v in values.items():
            default = getattr(cls(), k)
            if v is None or isinstance(default, str) or default is None:
                coerced[k] = int(v) if (default is None and isinstance(v, str) and v.isdigit()) else v
            elif isinstance(default, bool):
                coerced[k] = v if isinstance(v, bool) else str(v).lower() in {"1", "true", "yes"}
            else:
                coerced[k] = type(default)(v)
        return cls(**coerced)
