"""Imports every built-in family so that it registers itself in ``training.base.FAMILIES``."""

from training import (  # noqa: F401
    contractive,
    convolutional,
    denoising,
    pca,
    sparse,
    vanilla,
    variational,
)
