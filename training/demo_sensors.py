"""A seeded machine-sensor table: four channels sampled every second, with injected faults.

Each machine runs a slow load cycle. Vibration oscillates at the machine's own frequency (with a
third harmonic) scaled by load; motor current follows load with a ripple at the same
frequency; temperature and pressure follow load slowly. Readings are cut downstream (dbt) into
non-overlapping 64-second windows; about 5% of windows carry one fault:

- ``spike``: 1-3 samples of one channel jump by 8 standard deviations;
- ``drift``: one channel ramps away linearly, to 4 standard deviations by the window's end;
- ``stuck``: the vibration or current sensor repeats its first value for the whole window;
- ``waveform``: the vibration waveform changes (a square wave at 2.5x the frequency).

Labels go to ``raw.sensor_labels`` (one row per machine window), never used for training.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

CHANNELS = ["temperature", "vibration", "pressure", "current"]
FAULTS = ["spike", "drift", "stuck", "waveform"]
WINDOW = 64
START = np.datetime64("2026-09-01T00:00:00")


@dataclasses.dataclass
class SensorConfig:
    n_machines: int = 20
    windows_per_machine: int = 200
    fault_rate: float = 0.05
    seed: int = 7


def generate(cfg: SensorConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(readings, labels); deterministic for a seed."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.windows_per_machine * WINDOW
    t = np.arange(n, dtype=np.float64)
    frames, labels = [], []
    for m in range(1, cfg.n_machines + 1):
        period = rng.uniform(600, 1500)
        freq = rng.uniform(0.05, 0.12)
        amp = rng.uniform(0.8, 1.5)
        load = 0.6 + 0.3 * np.sin(2 * np.pi * t / period + rng.uniform(0, 6.3)) \
            + 0.02 * np.cumsum(rng.normal(0, 0.05, n)) / np.sqrt(np.arange(1, n + 1))
        phase = 2 * np.pi * freq * t + rng.uniform(0, 6.3)
        sig = {
            "temperature": rng.uniform(40, 60) + 15 * load + rng.normal(0, 0.3, n),
            "vibration": amp * load * np.sin(phase) + 0.3 * amp * np.sin(3 * phase)
            + rng.normal(0, 0.1 * amp, n),
            "pressure": rng.uniform(4, 6) + 2 * load + rng.normal(0, 0.05, n),
            "current": rng.uniform(8, 12) * load * (1 + 0.1 * np.sin(phase)) + rng.normal(0, 0.02, n),
        }
        std = {c: float(np.std(v)) for c, v in sig.items()}
        for w in range(cfg.windows_per_machine):
            kind = None
            if rng.random() < cfg.fault_rate:
                kind = FAULTS[int(rng.integers(0, len(FAULTS)))]
                s = slice(w * WINDOW, (w + 1) * WINDOW)
                if kind == "spike":
                    ch = CHANNELS[int(rng.integers(0, 4))]
                    at = w * WINDOW + rng.choice(WINDOW, size=int(rng.integers(1, 4)), replace=False)
                    sig[ch][at] += rng.choice([-1, 1]) * 8 * std[ch]
                elif kind == "drift":
                    ch = CHANNELS[int(rng.integers(0, 4))]
                    sig[ch][s] += rng.choice([-1, 1]) * np.linspace(0, 4 * std[ch], WINDOW)
                elif kind == "stuck":
                    ch = ["vibration", "current"][int(rng.integers(0, 2))]
                    sig[ch][s] = sig[ch][w * WINDOW]
                else:
                    square = np.sign(np.sin(2.5 * phase[s]))
                    sig["vibration"][s] = amp * load[s] * square + rng.normal(0, 0.1 * amp, WINDOW)
            labels.append((m, w, kind is not None, kind))
        frames.append(pd.DataFrame({
            "machine_id": m,
            "reading_at": START + t.astype("timedelta64[s]"),
            **{c: np.round(v, 4) for c, v in sig.items()},
        }))
    readings = pd.concat(frames, ignore_index=True)
    label_df = pd.DataFrame(labels, columns=["machine_id", "window_index", "is_fault", "fault_kind"])
    return readings, label_df
