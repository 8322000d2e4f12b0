"""A family-agnostic trainer: minibatch Adam on ``model.loss``, validation, early stopping.

It knows four things about a model: ``loss(x)``, ``train()``/``eval()``, ``parameters()`` and
the ``on_epoch_start`` hook. Data arrive as callables returning fresh iterators of raw float32
chunks (one pass each), so a table streamed out of DuckDB and an in-memory array look the same.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch

from training.base import Autoencoder
from training.config import TrainConfig
from training.data import shuffled_batches

log = logging.getLogger(__name__)

Chunks = Callable[[], Iterator[np.ndarray]]
Transform = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float
    rows: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


@dataclasses.dataclass
class History:
    epochs: list[EpochStats] = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "train_loss": [e.train_loss for e in self.epochs],
            "val_loss": [e.val_loss for e in self.epochs],
            "epoch_seconds": [round(e.seconds, 4) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
            "seconds": round(self.seconds, 3),
        }


class Callback(Protocol):
    def on_train_start(self, epochs: int, steps_per_epoch: int | None) -> None: ...
    def on_step(self, epoch: int, loss: float) -> None: ...
    def on_epoch_end(self, stats: EpochStats) -> None: ...
    def on_train_end(self, history: History) -> None: ...


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch threads inside the block (None: every core), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n or os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def batch_loss(model: Autoencoder, chunks: Chunks, transform: Transform, batch_size: int) -> float:
    """Row-weighted mean of ``model.loss`` over every row of ``chunks`` (eval mode, no grad)."""
    total, rows = 0.0, 0
    model.eval()
    with torch.no_grad():
        for chunk in chunks():
            for i in range(0, len(chunk), max(batch_size, 4096)):
                x = torch.from_numpy(transform(chunk[i : i + max(batch_size, 4096)]))
                total += float(model.loss(x)) * len(x)
                rows += len(x)
    return total / rows if rows else math.nan


class Trainer:
    def __init__(self, config: TrainConfig, callbacks: list[Callback] | None = None) -> None:
        self.config = config
        self.callbacks = list(callbacks or [])

    def fit(
        self,
        model: Autoencoder,
        train_chunks: Chunks,
        val_chunks: Chunks,
        transform: Transform,
        steps_per_epoch: int | None = None,
    ) -> History:
        cfg = self.config
        history = History()
        start = time.perf_counter()
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best_state = copy.deepcopy(model.state_dict())
        bad_epochs = 0
        for cb in self.callbacks:
            cb.on_train_start(cfg.epochs, steps_per_epoch)
        with torch_threads(cfg.torch_threads):
            for epoch in range(1, cfg.epochs + 1):
                t0 = time.perf_counter()
                model.on_epoch_start(epoch)
                model.train()
                rng = np.random.default_rng([cfg.seed, epoch])
                total, rows = 0.0, 0
                # standardize whole chunks as they stream in (one numpy pass per 64k rows, not
                # per minibatch), then shuffle and cut minibatches
                chunks = (transform(c) for c in train_chunks())
                batches = shuffled_batches(chunks, cfg.batch_size, cfg.shuffle_buffer, rng)
                for steps, xb in enumerate(batches, start=1):
                    x = torch.from_numpy(xb)  # (batch, d), standardized
                    loss = model.loss(x)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"training loss became {float(loss)} at epoch {epoch}, step {steps}; "
                            f"lower the learning rate (lr={cfg.lr}) or check the features for "
                            "extreme values"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    value = loss.item()
                    total += value * len(x)
                    rows += len(x)
                    for cb in self.callbacks:
                        cb.on_step(epoch, value)
                    if cfg.max_steps_per_epoch and steps >= cfg.max_steps_per_epoch:
                        break
                if rows == 0:
                    raise ValueError("the training split is empty: there are no rows to train on")
                val = batch_loss(model, val_chunks, transform, cfg.batch_size)
                stats = EpochStats(epoch, total / rows, val, time.perf_counter() - t0, rows)
                history.epochs.append(stats)
                log.info(
                    "epoch %d/%d  train_loss=%.5f  val_loss=%.5f  %.1fs  %.0f rows/s",
                    epoch, cfg.epochs, stats.train_loss, val, stats.seconds, stats.rows_per_s,
                )
                for cb in self.callbacks:
                    cb.on_epoch_end(stats)
                # No validation rows (tiny tables): keep the last epoch, never stop early.
                monitored = val if not math.isnan(val) else stats.train_loss
                if monitored < history.best_val_loss - cfg.min_delta:
                    history.best_val_loss = monitored
                    history.best_epoch = epoch
                    best_state = copy.deepcopy(model.state_dict())
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                    if bad_epochs >= cfg.patience:
                        history.stopped_early = True
                        log.info("early stop at epoch %d (best epoch %d)", epoch, history.best_epoch)
                        break
        model.load_state_dict(best_state)
        model.eval()
        history.seconds = time.perf_counter() - start
        for cb in self.callbacks:
            cb.on_train_end(history)
        return history
