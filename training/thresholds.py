"""Choosing a version's anomaly threshold.

Three ways, each recorded with the version (``threshold_method`` and ``threshold_params``):

- ``contamination``: the (1 - rate) quantile of the version's reference scores (held-out rows);
- ``explicit``: a value a person chose;
- ``max_f1`` / ``target_precision``: calibrated on rows analysts reviewed (confirmed = anomaly,
  dismissed = normal): the threshold with the best F1, or the lowest threshold whose precision
  on reviewed rows reaches the target (so recall is as high as the target allows).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

METHODS = ("contamination", "explicit", "max_f1", "target_precision")
# Fewer reviewed rows than this (or no row of one class) cannot calibrate a threshold.
MIN_REVIEWED = 10


@dataclasses.dataclass
class Threshold:
    value: float
    method: str
    params: dict[str, Any]


def from_quantiles(quantiles: list[float], contamination: float) -> Threshold:
    """The (1 - contamination) quantile, read off evenly spaced reference quantiles."""
    if not 0 < contamination < 0.5:
        raise ValueError(f"contamination must be in (0, 0.5), got {contamination}")
    q = np.asarray(quantiles, dtype=np.float64)
    if q.size < 2:
        raise ValueError("this version has no reference scores; set an explicit threshold")
    value = float(np.interp(1.0 - contamination, np.linspace(0, 1, q.size), q))
    return Threshold(value, "contamination", {"contamination": contamination})


def explicit(value: float) -> Threshold:
    if not np.isfinite(value):
        raise ValueError(f"an explicit threshold must be a finite number, got {value}")
    return Threshold(float(value), "explicit", {"value": float(value)})


def from_decisions(scores: np.ndarray, confirmed: np.ndarray, method: str = "max_f1",
                   target_precision: float = 0.9) -> Threshold:
    """Calibrate on reviewed rows: ``scores`` (n,), ``confirmed`` (n,) bool (False = dismissed).

    A row is flagged when its score is strictly above the threshold; the threshold is placed
    halfway between the lowest flagged score and the next score below it.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(confirmed, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if len(s) < MIN_REVIEWED or n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"calibrating from decisions needs at least {MIN_REVIEWED} reviewed rows with both "
            f"confirmed and dismissed ones; got {n_pos} confirmed and {n_neg} dismissed"
        )
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # Candidate cuts: flag the top i rows (i = 1..n), only where the score changes.
    tp = np.cumsum(y)
    flagged = np.arange(1, len(s) + 1)
    last_of_tie = np.append(s[1:] < s[:-1], True)
    precision = tp / flagged
    recall = tp / n_pos
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    ok = last_of_tie.copy()
    if method == "max_f1":
        i = int(np.argmax(np.where(ok, f1, -1.0)))
    elif method == "target_precision":
        if not 0 < target_precision <= 1:
            raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
        meets = ok & (precision >= target_precision)
        if not meets.any():
            raise ValueError(
                f"no threshold reaches precision {target_precision} on the {len(s)} reviewed "
                f"rows (best: {precision[ok].max():.3f}); lower the target or review more rows"
            )
        i = int(np.nonzero(meets)[0].max())  # the most rows flagged at that precision
    else:
        raise ValueError(f"unknown calibration method {method!r}; expected 'max_f1' or "
                         "'target_precision'")
    below = s[i + 1] if i + 1 < len(s) else s[i] - max(abs(s[i]) * 1e-6, 1e-12)
    value = float((s[i] + below) / 2)
    params: dict[str, Any] = {
        "reviewed": len(s), "confirmed": n_pos, "dismissed": n_neg,
        "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
        "f1": round(float(f1[i]), 4),
    }
    if method == "target_precision":
        params["target_precision"] = target_precision
    return Threshold(value, method, params)
