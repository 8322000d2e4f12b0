"""Dimensionality reduction against PCA on real MNIST (the 10,000-image test set).

    python bench/mnist.py [--data ../shared/data] [--epochs 40] [--out bench/results]

Train on 8,000 images, evaluate on the other 2,000, code size 30, metric the summed squared
error per image with pixels in [0, 1] (Hinton & Salakhutdinov 2006: deep autoencoder 3.00,
PCA 13.87 with 60,000 training images). PCA is fitted in the same run. Target: <= 0.4x PCA.
Writes bench/results/mnist.png (originals, PCA and autoencoder reconstructions).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import struct
import time
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from training.evaluate import fit_matrix  # noqa: E402
from udfs import kernels  # noqa: E402


def load_images(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"{path} is not an MNIST image file (magic {magic})")
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    x = load_images(args.data / "mnist" / "t10k-images-idx3-ubyte.gz").astype(np.float32)
    train, test = x[:8000], x[8000:]

    t0 = time.perf_counter()
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    v = vt[:30].T
    pca_rec = (test - mean) @ v @ v.T + mean
    pca_err = float(((pca_rec - test) ** 2).sum(axis=1).mean())
    pca_s = time.perf_counter() - t0

    con = duckdb.connect()
    t0 = time.perf_counter()
    model = fit_matrix(
        con, train, "convolutional",
        {"input_shape": [1, 28, 28], "channels": [32, 64], "kernel_size": 3, "latent_dim": 30},
        epochs=args.epochs, batch_size=64, lr=2e-3, patience=6, scaling="global",
        latent_clip_quantile=0, normalize_errors=False, val_fraction=0.1,
    )
    ae_s = time.perf_counter() - t0
    ae_rec = kernels.reconstruct(model, test)
    ae_err = float(((ae_rec - test) ** 2).sum(axis=1).mean())

    print("| method | code size | train images | summed squared error per test image | x PCA | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| PCA | 30 | 8,000 | {pca_err:.2f} | 1.00 | {pca_s:.1f} |")
    print(f"| duckae convolutional (2 conv layers, 32/64 channels) | 30 | 8,000 | {ae_err:.2f} | "
          f"{ae_err / pca_err:.2f} | {ae_s:.0f} |")
    print(f"(epochs run: {model.metrics['epochs_run']}, best epoch {model.metrics['best_epoch']}; "
          "Hinton & Salakhutdinov 2006 with 60,000 images: deep AE 3.00, PCA 13.87)")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
    for i in range(10):
        for row, img in enumerate((test[i], pca_rec[i], ae_rec[i])):
            axes[row, i].imshow(np.clip(img, 0, 1).reshape(28, 28), cmap="gray")
            axes[row, i].axis("off")
    for row, label in enumerate(("test image", f"PCA ({pca_err:.1f})", f"duckae ({ae_err:.1f})")):
        axes[row, 0].set_title(label, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(args.out / "mnist.png", dpi=100)


if __name__ == "__main__":
    main()
