"""Imports every built-in family so that it registers itself in ``training.base.FAMILIES``."""

from training import vanilla  # noqa: F401
