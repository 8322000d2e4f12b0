"""Detection quality against peers on the ADBench "Classical" datasets.

    python bench/adbench.py [--data ../shared/data] [--seeds 0 1 2] [--jobs 2]
                            [--methods ...] [--datasets ...] [--out bench/results]

Protocol (ADBench-like): for each seed, a stratified 70/30 split; every method is fitted
without labels on the training part (which contains the anomalies) and scores the test part;
ROC-AUC on the test part; the table reports the median over the seeds, per dataset, and the
median across datasets. All methods run in the same harness on the same splits:

- duckae: the default configuration of each family (``fit`` with no params and the default
  ``TrainConfig`` but the seed), through DuckDB as in production; the convolutional family
  reads the row as a 1-channel sequence ``[1, d]`` with per-feature scaling, because tabular
  features have no spatial order to share a scale over;
- PyOD (benchmark-only extra): AutoEncoder and VAE with their defaults, IsolationForest, PCA
  and ECOD (``random_state`` = the seed where the model takes one).

Columns constant on a split's training part are dropped for every method. Results are cached per (method, dataset, seed) in ``<out>/adbench.json``; ``--fresh`` ignores
the cache. Writes ``<out>/adbench.png`` (ROC-AUC per dataset and method).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.adbench")

DUCKAE = ["vanilla", "denoising", "sparse", "contractive", "variational", "convolutional", "pca"]
PEERS = ["pyod_ae", "pyod_vae", "iforest", "pyod_pca", "ecod"]
# What `duckae train` fits when no family is named.
DEFAULT = "duckae_vanilla"


def _duckae(family: str, variant: dict) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    def run(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        import duckdb

        from training import base
        from training.api import fit
        from training.evaluate import load_matrix
        from udfs import kernels

        if variant.get("latent_rule"):  # tuning only: a code-size rule in terms of d
            rule = variant["latent_rule"]
            base.default_latent_dim = lambda d: max(1, int(eval(rule, {"math": math, "d": d})))
        con = duckdb.connect(config={"threads": 1})
        load_matrix(con, "data", train)
        params: dict[str, object] = dict(variant.get("params", {}))
        cfg: dict[str, object] = {"seed": seed, "torch_threads": 1} | variant.get("train", {})
        if family == "convolutional":
            params["input_shape"] = [1, train.shape[1]]
            cfg["scaling"] = "feature"
        model = fit(con, "data", ["x"], key="id", family=family, params=params,
                    train_config=cfg)
        con.close()
        return kernels.score(model, test.astype(np.float32))

    return run


def _pyod(name: str) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    def run(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        if name == "pyod_ae":
            from pyod.models.auto_encoder import AutoEncoder

            model = AutoEncoder(random_state=seed, verbose=0)
        elif name == "pyod_vae":
            from pyod.models.vae import VAE

            model = VAE(random_state=seed, verbose=0)
        elif name == "iforest":
            from pyod.models.iforest import IForest

            model = IForest(random_state=seed)
        elif name == "pyod_pca":
            from pyod.models.pca import PCA

            model = PCA(random_state=seed)
        elif name == "ecod":
            from pyod.models.ecod import ECOD

            model = ECOD()
        else:
            raise ValueError(f"unknown peer {name!r}; expected one of {PEERS}")
        model.fit(train)
        return np.asarray(model.decision_function(test), dtype=np.float64)

    return run


def method(name: str, variant: dict) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    if name.startswith("duckae_"):
        return _duckae(name.removeprefix("duckae_").split("@")[0], variant)
    return _pyod(name)


def split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed))


def one(name: str, path: str, seed: int, variant: dict) -> dict[str, object]:
    """Fit ``name`` on the training part of ``path``'s split ``seed``; its test ROC-AUC."""
    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(1)
    logging.getLogger("training").setLevel(logging.WARNING)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["X"].astype(np.float64), f["y"].astype(int)
    x_tr, x_te, _, y_te = split(x, y, seed)
    # Columns constant on the training part carry nothing and make some peers divide by a zero
    # spread (PyOD's PCA on optdigits); every method gets the same columns.
    keep = x_tr.std(axis=0) > 0
    x_tr, x_te = x_tr[:, keep], x_te[:, keep]
    t0 = time.perf_counter()
    scores = method(name, variant)(x_tr, x_te, seed)
    seconds = time.perf_counter() - t0
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} gave non-finite scores on {Path(path).stem} seed {seed}")
    return {"method": name, "dataset": Path(path).stem, "seed": seed,
            "roc_auc": float(roc_auc_score(y_te, scores)), "seconds": round(seconds, 2)}


def _table(results: list[dict], methods: list[str], datasets: list[str]) -> tuple[str, dict]:
    med: dict[str, dict[str, float]] = {m: {} for m in methods}
    for m in methods:
        for d in datasets:
            vals = [r["roc_auc"] for r in results if r["method"] == m and r["dataset"] == d]
            if vals:
                med[m][d] = statistics.median(vals)
    head = "| dataset | " + " | ".join(m.removeprefix("duckae_") for m in methods) + " |"
    lines = [head, "|---|" + "---:|" * len(methods)]
    for d in datasets:
        row = [f"{med[m][d]:.3f}" if d in med[m] else "—" for m in methods]
        best = max(med[m].get(d, -1) for m in methods)
        row = [f"**{v}**" if d in med[m] and med[m][d] == best else v for m, v in zip(methods, row, strict=True)]
        lines.append(f"| {d} | " + " | ".join(row) + " |")
    overall = {m: statistics.median(med[m].values()) for m in methods if med[m]}
    lines.append("| **median** | " + " | ".join(
        f"{overall[m]:.3f}" if m in overall else "—" for m in methods) + " |")
    secs = {m: sum(r["seconds"] for r in results if r["method"] == m) for m in methods}
    lines.append("| fit+score s (all runs) | " + " | ".join(f"{secs[m]:.0f}" for m in methods) + " |")
    return "\n".join(lines), med


def _plot(med: dict[str, dict[str, float]], methods: list[str], datasets: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(13, 5))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals = [med[m].get(d, np.nan) for d in datasets]
        xs = np.arange(len(datasets)) + i * width
        ax.bar(xs, vals, width, label=m.removeprefix("duckae_") if m.startswith("duckae_")
               else m, color=plt.cm.tab20(i), edgecolor="black" if m == DEFAULT else None)
    ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2)
    ax.set_xticklabels([d.split("_", 1)[1] for d in datasets])
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("test ROC-AUC (median of 3 seeds)")
    ax.set_title("ADBench Classical: duckae families vs PyOD peers")
    ax.legend(ncol=len(methods), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+",
                    default=[f"duckae_{f}" for f in DUCKAE] + PEERS)
    ap.add_argument("--datasets", nargs="+", default=None,
                    help="file stems, e.g. 38_thyroid (default: every .npz in <data>/adbench)")
    ap.add_argument("--jobs", type=int, default=2, help="processes, one torch thread each")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--fresh", action="store_true", help="ignore cached results")
    ap.add_argument("--variant", default="", help="tuning: name of a non-default duckae setting "
                    "(results are cached as duckae_<family>@<variant>)")
    ap.add_argument("--params", default="{}", help="tuning: JSON family params for --variant")
    ap.add_argument("--train", default="{}", help="tuning: JSON training options for --variant")
    ap.add_argument("--latent-rule", default="", help="tuning: code size as an expression in d")
    args = ap.parse_args()
    variant = {"params": json.loads(args.params), "train": json.loads(args.train),
               "latent_rule": args.latent_rule}
    if args.variant:
        args.methods = [f"{m}@{args.variant}" if m.startswith("duckae_") else m
                        for m in args.methods]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = args.data / "adbench"
    if not folder.is_dir():
        raise SystemExit(f"no ADBench data at {folder}; pass --data pointing at shared/data")
    paths = {p.stem: p for p in sorted(folder.glob("*.npz"))}
    datasets = args.datasets or sorted(paths, key=lambda s: int(s.split("_")[0]))
    missing = [d for d in datasets if d not in paths]
    if missing:
        raise SystemExit(f"unknown dataset(s) {missing}; {folder} has {sorted(paths)}")
    args.out.mkdir(parents=True, exist_ok=True)
    cache_path = args.out / "adbench.json"
    cache = [] if args.fresh or not cache_path.exists() else json.loads(cache_path.read_text())
    done = {(r["method"], r["dataset"], r["seed"]) for r in cache}
    todo = [(m, d, s) for m in args.methods for d in datasets for s in args.seeds
            if (m, d, s) not in done]
    log.info("%d runs to do (%d cached)", len(todo), len(done))
    results = list(cache)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one, m, str(paths[d]), s, variant) for m, d, s in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            results.append(r)
            log.info("[%d/%d] %-20s %-16s seed %d  ROC-AUC %.3f  %.1fs", i, len(todo),
                     r["method"], r["dataset"], r["seed"], r["roc_auc"], r["seconds"])
            cache_path.write_text(json.dumps(results, indent=1))
    methods = args.methods
    table, med = _table([r for r in results if r["seed"] in args.seeds], methods, datasets)
    print(table)
    if DEFAULT in methods and "pyod_ae" in methods:
        wins = sum(med[DEFAULT][d] >= med["pyod_ae"][d] for d in datasets
                   if d in med[DEFAULT] and d in med["pyod_ae"])
        print(f"\nduckae default ({DEFAULT.removeprefix('duckae_')}) >= PyOD AutoEncoder on "
              f"{wins}/{len(datasets)} datasets (target >= 7/9)")
    _plot(med, methods, datasets, args.out / "adbench.png")


if __name__ == "__main__":
    main()
