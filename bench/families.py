"""Each autoencoder family on the job it is for: training time and its headline number.

    python bench/families.py [--out bench/results]

Data: scikit-learn's swiss roll and 8x8 digits (bundled), and the demo's sensor windows.
Prints a markdown table and writes bench/results/families.png (the table as a bar chart of
each headline against its target).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits, make_swiss_roll  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from training.demo_sensors import CHANNELS, WINDOW, SensorConfig, generate  # noqa: E402
from training.evaluate import fit_matrix, model_heldout_mse, pca_heldout_mse, standardized  # noqa: E402
from udfs import kernels  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    con = duckdb.connect()
    digits = (load_digits().data / 16.0).astype(np.float32)
    rows = []

    x, _ = make_swiss_roll(3000, noise=0.3, random_state=0)
    train, test = x[:2400].astype(np.float32), x[2400:].astype(np.float32)
    m, s = timed(lambda: fit_matrix(con, train, "vanilla", {"hidden": [64, 64], "latent_dim": 2},
                                    epochs=60, normalize_errors=False, latent_clip_quantile=0))
    ratio = model_heldout_mse(m, test) / pca_heldout_mse(train, test, 2)
    rows.append(("vanilla", "swiss roll, k=2", s, "held-out MSE / PCA's", ratio, "< 1"))

    rng = np.random.default_rng(0)
    tr, te = digits[:1500], digits[1500:]
    m, s = timed(lambda: fit_matrix(con, tr, "denoising", {"hidden": [128, 64], "latent_dim": 16,
                                    "noise_std": 0.7}, epochs=60, scaling="global"))
    noisy = te + rng.normal(0, 0.25, te.shape).astype(np.float32)
    gain = 1 - ((kernels.reconstruct(m, noisy) - te) ** 2).mean() / ((noisy - te) ** 2).mean()
    rows.append(("denoising", "noisy digits (sd 0.25)", s, "closer to clean than the noisy input", gain, ">= 0.50"))

    for penalty, extra, target in (("kl", {"target_rate": 0.05}, "<= 0.05"),
                                   ("l1", {"l1_weight": 2.0}, "sparse, alive")):
        params = {"hidden": [64], "latent_dim": 64, "penalty": penalty, **extra}
        m, s = timed(lambda p=params: fit_matrix(con, digits, "sparse", p, epochs=40, scaling="global"))
        mse = model_heldout_mse(m, digits)
        rows.append((f"sparse ({penalty})", "digits, 64 units", s, f"active fraction (MSE {mse:.3f})",
                     m.model.active_fraction(standardized(m, digits)), target))

    p = {"hidden": [64], "latent_dim": 8, "activation": "tanh"}
    van, _ = timed(lambda: fit_matrix(con, digits, "vanilla", p, epochs=30, scaling="global"))
    cae, s = timed(lambda: fit_matrix(con, digits, "contractive", p | {"contractive_weight": 0.1},
                                      epochs=30, scaling="global"))
    z = standardized(van, digits[:500])
    with torch.no_grad():
        j = float(cae.model.jacobian_norm(z).mean()) / float(type(cae.model).jacobian_norm(van.model, z).mean())
    cost = model_heldout_mse(cae, digits) / model_heldout_mse(van, digits)
    rows.append(("contractive", "digits, k=8", s, f"Jacobian norm / vanilla's (recon cost x{cost:.2f})", j, "< 0.5"))

    m, s = timed(lambda: fit_matrix(con, digits, "variational", {"hidden": [128, 64], "latent_dim": 6},
                                    epochs=60, scaling="global"))
    with torch.no_grad():
        kl_min = float(m.model.kl_per_dim(standardized(m, digits)).min())
    samples = kernels.sample(m, np.arange(2000))
    gap = float(np.abs(samples.mean(0) - digits.mean(0)).mean())
    rows.append(("variational", "digits, k=6", s, f"min KL per dim (sample mean gap {gap:.3f})", kl_min, "> 0"))

    readings, labels = generate(SensorConfig(n_machines=20, windows_per_machine=100, seed=3))
    r = readings.assign(w=readings.groupby("machine_id").cumcount() // WINDOW)
    windows = np.stack([np.concatenate([g[c].to_numpy() for c in CHANNELS])
                        for _, g in r.groupby(["machine_id", "w"])]).astype(np.float32)
    m, s = timed(lambda: fit_matrix(con, windows, "convolutional", {"input_shape": [4, WINDOW],
                                    "channels": [16, 32], "kernel_size": 5, "latent_dim": 12},
                                    epochs=40, contamination=0.05, latent_density=False))
    auc = roc_auc_score(labels["is_fault"], kernels.score(m, windows))
    # Reconstruction-only score, as the demo's sensor model: faulty windows have typical codes,
    # so the default latent density term dilutes the signal (it gives about 0.93 here).
    rows.append(("convolutional 1-D", "sensor windows 4x64", s,
                 "fault ROC-AUC (reconstruction score)", auc, ">= 0.90"))

    conv, s = timed(lambda: fit_matrix(con, tr, "convolutional", {"input_shape": [1, 8, 8],
                                       "channels": [16, 32], "latent_dim": 10}, epochs=60))
    dense = fit_matrix(con, tr, "vanilla", {"hidden": [96], "latent_dim": 10}, epochs=60, scaling="global")
    ratio = ((kernels.reconstruct(conv, te) - te) ** 2).mean() / ((kernels.reconstruct(dense, te) - te) ** 2).mean()
    n_c = sum(q.numel() for q in conv.model.parameters())
    n_d = sum(q.numel() for q in dense.model.parameters())
    rows.append(("convolutional 2-D", f"digits ({n_c} vs {n_d} params)", s, "held-out MSE / dense's", ratio, "< 1"))

    print("| family | data | train s | headline | value | target |")
    print("|---|---|---:|---|---:|---|")
    for fam, data, sec, what, value, target in rows:
        print(f"| {fam} | {data} | {sec:.1f} | {what} | {value:.3f} | {target} |")
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh([r[0] for r in rows], [r[4] for r in rows], color="#4c72b0")
    for i, r in enumerate(rows):
        ax.text(r[4], i, f" {r[4]:.3f} ({r[5]})", va="center", fontsize=8)
    ax.set_xlabel("headline value (see table)")
    ax.set_xlim(0, max(1.3, max(r[4] for r in rows) * 1.4))
    fig.tight_layout()
    fig.savefig(args.out / "families.png", dpi=110)


if __name__ == "__main__":
    main()
