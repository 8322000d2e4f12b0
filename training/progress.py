"""Progress display for long work: training epochs and batch scoring, on stderr.

On a terminal the bar redraws in place; elsewhere (CI logs, captured output) only one line per
epoch or per 10% of the rows is written, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from training.trainer import EpochStats, History


def _bar(fraction: float, width: int = 24) -> str:
    done = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * done + "." * (width - done) + "]"


class TrainingProgress:
    """A trainer callback: a bar per epoch with the running loss, then the epoch's summary."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.epochs = 0
        self.steps: int | None = None
        self.step = 0
        self.loss = 0.0
        self.last = 0.0

    def on_train_start(self, epochs: int, steps_per_epoch: int | None) -> None:
        self.epochs, self.steps = epochs, steps_per_epoch

    def on_step(self, epoch: int, loss: float) -> None:
        self.step += 1
        self.loss = loss if self.step == 1 else 0.95 * self.loss + 0.05 * loss
        now = time.monotonic()
        if self.tty and now - self.last > 0.1:
            self.last = now
            frac = self.step / self.steps if self.steps else 0.0
            self.stream.write(f"\repoch {epoch}/{self.epochs} {_bar(frac)} loss {self.loss:.4f}")
            self.stream.flush()

    def on_epoch_end(self, stats: EpochStats) -> None:
        self.step = 0
        end = "\r" if self.tty else ""
        self.stream.write(
            f"{end}epoch {stats.epoch}/{self.epochs} {_bar(1.0)} loss {stats.train_loss:.4f} "
            f"val {stats.val_loss:.4f}  {stats.seconds:.1f}s  {stats.rows_per_s:,.0f} rows/s\n"
        )
        self.stream.flush()

    def on_train_end(self, history: History) -> None:
        self.stream.write(
            f"best epoch {history.best_epoch} (val {history.best_val_loss:.4f})"
            f"{', stopped early' if history.stopped_early else ''}; {history.seconds:.1f}s\n"
        )
        self.stream.flush()


class RowProgress:
    """``update(n)`` as rows are processed; a bar on a terminal, a line per 10% elsewhere."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = 0
        self.start = time.monotonic()
        self.next_line = 0.1

    def update(self, n: int) -> None:
        self.done += n
        frac = self.done / self.total
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        text = f"{self.label} {_bar(frac)} {self.done:,}/{self.total:,} rows  {rate:,.0f} rows/s"
        if self.tty:
            self.stream.write("\r" + text)
        elif frac >= self.next_line or self.done >= self.total:
            self.stream.write(text + "\n")
            while self.next_line <= frac:
                self.next_line += 0.1
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
