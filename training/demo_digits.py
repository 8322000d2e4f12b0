"""The 8x8 handwritten digits bundled with scikit-learn (1,797 images, no download), and a
seeded noisy copy of each image for the denoising workflow."""

from __future__ import annotations

import numpy as np
import pandas as pd

NOISE_STD = 4.0  # in pixel units (pixels run 0..16): a quarter of the range


def generate(seed: int = 11) -> pd.DataFrame:
    """One row per image: digit_id, label, pixels (0..16, 64 values), noisy_pixels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float32)
    rng = np.random.default_rng(seed)
    noisy = (x + rng.normal(0, NOISE_STD, x.shape)).astype(np.float32)
    return pd.DataFrame({
        "digit_id": np.arange(1, len(x) + 1, dtype=np.int64),
        "label": data.target.astype(np.int64),
        "pixels": list(x),
        "noisy_pixels": list(np.round(noisy, 3)),
    })
