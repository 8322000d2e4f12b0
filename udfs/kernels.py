"""Batch kernels: plain typed functions from a float32 batch to outputs, free of DuckDB.

Each takes a :class:`~training.artifact.TrainedModel` and a raw ``(n, d)`` float32 matrix in the
model's feature order (NaN = missing, imputed like in training) and returns NumPy arrays. The
same functions back the SQL functions, the bulk scorer and any other engine (a Spark pandas
UDF, a Ray ``map_batches`` step).
"""

from __future__ import annotations

import numpy as np
import torch

from training.artifact import TrainedModel

# torch over slices of this many rows beats one call on the whole matrix (DESIGN.md).
SLICE_ROWS = 2048


class FeatureVectorError(ValueError):
    """A feature vector that does not fit the model (wrong length, non-finite values)."""


def check_matrix(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """Validate a raw batch: shape ``(n, d)`` and no ±inf (NaN/NULL mean "missing")."""
    d = model.input_dim
    if x.ndim != 2 or x.shape[1] != d:
        raise FeatureVectorError(
            f"{model.ref} expects feature vectors of length {d} "
            f"({', '.join(model.feature_names)}), got shape {tuple(x.shape)}"
        )
    inf = np.isinf(x)
    if inf.any():
        row, col = (int(v[0]) for v in np.nonzero(inf))
        raise FeatureVectorError(
            f"{model.ref}: feature {model.feature_names[col]!r} is {x[row, col]} in row {row} of "
            "the batch; infinite values cannot be scored (NULL or NaN are imputed; cap or "
            "filter infinities first)"
        )
    return x


def _forward(model: TrainedModel, x: np.ndarray, fn: str) -> np.ndarray:
    """Run ``model.model.<fn>`` on standardized slices; returns float32 or float64 arrays."""
    check_matrix(model, x)
    z = model.preprocessor.transform(x)
    method = getattr(model.model, fn)
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for i in range(0, len(z), SLICE_ROWS):
            out.append(method(torch.from_numpy(z[i : i + SLICE_ROWS])).numpy())
    if not out:
        return np.empty((0,), dtype=np.float32)
    return np.concatenate(out)


def score(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n,)`` float64 anomaly scores; higher is more anomalous."""
    return _forward(model, x, "score").astype(np.float64, copy=False).reshape(len(x))


def encode(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n, k)`` float32 latent codes."""
    return _forward(model, x, "encode").reshape(len(x), model.latent_dim)


def reconstruct(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n, d)`` float32 reconstructions in the input's own units."""
    z = _forward(model, x, "reconstruct").reshape(len(x), model.input_dim)
    return model.preprocessor.inverse_transform(z).astype(np.float32, copy=False)


def impute(model: TrainedModel, x: np.ndarray, iterations: int = 5) -> np.ndarray:
    """``(n, d)`` float32: ``x`` with its missing entries (NULL/NaN) filled by the model, others
    kept as given. Missing entries start at the training mean and are replaced by the
    reconstruction, ``iterations`` times, so each pass sees a better guess (a model trained on
    complete rows treats a mean-imputed gap as a real value; iterating corrects that)."""
    check_matrix(model, x)
    missing = np.isnan(x)
    z = model.preprocessor.transform(x)
    if missing.any():
        with torch.inference_mode():
            for i in range(0, len(z), SLICE_ROWS):
                zs = torch.from_numpy(z[i : i + SLICE_ROWS])
                gaps = torch.from_numpy(missing[i : i + SLICE_ROWS])
                for _ in range(iterations):
                    zs = torch.where(gaps, model.model.reconstruct(zs), zs)
                z[i : i + SLICE_ROWS] = zs.numpy()
    out = model.preprocessor.inverse_transform(z).astype(np.float32)
    return np.where(missing, out, x).astype(np.float32)


def reconstruction_error(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n,)`` float64: plain mean squared reconstruction error in standardized units (no
    per-feature weights), the quantity to compare across families and with PCA."""
    e = _forward(model, x, "feature_errors").reshape(len(x), model.input_dim)
    return e.mean(axis=1, dtype=np.float64)


def feature_errors(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n, d)`` float32: each feature's share of the row's score (rows sum to 1)."""
    e = _forward(model, x, "weighted_errors").reshape(len(x), model.input_dim).astype(np.float64)
    total = e.sum(axis=1, keepdims=True)
    shares = np.divide(e, total, out=np.full_like(e, 1.0 / max(1, e.shape[1])), where=total > 0)
    return shares.astype(np.float32)


def attributions(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n, G)`` float32: each reason group's share of the row's score (rows sum to 1, or 0).

    A group's attribution is how far the score falls when that group alone is made ordinary,
    the larger of two ways: its features treated as missing (the training mean), or replaced
    by what the model expected for this row (its reconstruction). The reason a row is anomalous
    is the part that, were it ordinary, would make the row ordinary. Unlike each feature's
    share of the reconstruction error, this does not blame the features the model bends to
    explain an outlier (a huge amount "explained" as a travel purchase); the mean catches an
    extreme group, the expectation catches a group that is ordinary alone but not with the rest
    (fuel bought online); derived features of one source column, declared as a group, count
    together.
    """
    check_matrix(model, x)
    z = model.preprocessor.transform(x)
    groups = model.preprocessor.group_index()
    out = np.zeros((len(z), len(groups)), dtype=np.float64)
    with torch.inference_mode():
        for i in range(0, len(z), SLICE_ROWS):
            zs = torch.from_numpy(z[i : i + SLICE_ROWS])
            base = model.model.score(zs)
            expected = model.model.reconstruct(zs)
            for g, cols in enumerate(groups):
                drops = []
                for fill in (torch.zeros_like(zs[:, cols]), expected[:, cols]):
                    ordinary = zs.clone()
                    ordinary[:, cols] = fill
                    drops.append(base - model.model.score(ordinary))
                out[i : i + len(zs), g] = torch.maximum(*drops).clamp(min=0).numpy()
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0).astype(np.float32)


def is_anomaly(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: score above the version's threshold."""
    return score(model, x) > model.threshold


def percentile(model: TrainedModel, x: np.ndarray) -> np.ndarray:
    """``(n,)`` float64 in [0, 1]: the share of the version's reference scores below each score."""
    return model.percentile(score(model, x))


def score_percentile(model: TrainedModel, scores: np.ndarray) -> np.ndarray:
    """Percentile (0..1) of already computed scores in the version's reference scores; no
    forward pass, so a scores table can carry percentiles for the cost of a lookup."""
    return model.percentile(np.asarray(scores, dtype=np.float64))


def decode(model: TrainedModel, z: np.ndarray) -> np.ndarray:
    """``(n, k)`` latent codes -> ``(n, d)`` float32 decoded rows in the input's units."""
    z = np.array(z, dtype=np.float32)  # a writable copy: Arrow buffers are read-only
    if not np.isfinite(z).all():
        raise FeatureVectorError(f"{model.ref}: latent codes must be finite (no NULL, NaN or inf)")
    out = []
    with torch.inference_mode():
        for i in range(0, len(z), SLICE_ROWS):
            out.append(model.model.decode(torch.from_numpy(z[i : i + SLICE_ROWS])).numpy())
    dec = np.concatenate(out) if out else np.empty((0, model.input_dim), dtype=np.float32)
    return model.preprocessor.inverse_transform(dec).astype(np.float32, copy=False)


def sample(model: TrainedModel, seeds: np.ndarray) -> np.ndarray:
    """One generated row per seed, ``(n, d)`` float32 in the input's units.

    The same seed always gives the same row (a generator seeded per row, independent of the
    batch it arrives in). Only generative families (the variational one) can sample.
    """
    sampler = getattr(model.model, "sample", None)
    if sampler is None:
        raise FeatureVectorError(
            f"{model.ref} is a {model.family} autoencoder and cannot generate; ae_sample needs "
            "a variational model (family 'variational')"
        )
    rows = []
    gen = torch.Generator()
    with torch.inference_mode():
        for seed in seeds.tolist():
            gen.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
            rows.append(sampler(1, gen))
    out = torch.cat(rows).numpy() if rows else np.empty((0, model.input_dim), dtype=np.float32)
    return model.preprocessor.inverse_transform(out).astype(np.float32, copy=False)
