"""Training throughput streaming from DuckDB against an in-memory shuffled tensor, and peak
memory training on 10,000,000 rows against 1,000,000.

    python bench/train_throughput.py [--rows 1000000] [--big 10000000] [--out bench/results]

Throughput: the same model, batch size and steps, fed by duckae's stream (Arrow batches out of
DuckDB, a bounded shuffle buffer) and by a tensor already in memory, shuffled each epoch.
Memory: each size trains one epoch in a fresh process on a DuckDB file written beforehand
(DuckDB's memory_limit, 256 MB by default: DuckDB caches table blocks up to it, so without a
limit the cache, not duckae, grows with the table), and reports its peak RSS; with key-ordered reads (the default,
deterministic) and with storage-order streaming (ordered_reads=False).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import torch

D = 32

CHILD = """
import json, resource, sys, time, duckdb, torch
torch.set_num_threads(2)
from training.api import fit
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(f"SET memory_limit = '{sys.argv[3]}'")
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
m = fit(con, "t", ["x"], key="id", params={"hidden": [64, 32], "latent_dim": 8},
        train_config={"epochs": 1, "batch_size": 1024, "ordered_reads": sys.argv[2] == "1",
                      "val_fraction": 0.01, "latent_clip_quantile": 0, "normalize_errors": False})
# VmHWM: this process image's own peak. ru_maxrss is kept across exec on Linux, so it would
# report the parent's peak (the parent built the 10M-row table) when that is higher.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT", json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": peak,
                  "rows": m.metrics["train_rows"]}), flush=True)
"""


def make_table(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"""CREATE TABLE t AS SELECT i AS id,
        list_transform(range({D}), lambda j: (random() * 2 - 1)::FLOAT)::FLOAT[{D}] AS x
        FROM range({rows}) r(i)""")
    # written to the file, not left in the WAL (a read-only open would replay it into memory)
    con.execute("CHECKPOINT")
    con.close()


def throughput(rows: int) -> tuple[float, float]:
    from training.base import build_model
    from training.config import TrainConfig
    from training.data import FeatureSource, source_sql
    from training.preprocessing import Preprocessor
    from training.trainer import Trainer

    con = duckdb.connect()
    con.execute(f"""CREATE TABLE t AS SELECT i AS id,
        list_transform(range({D}), lambda j: (random() * 2 - 1)::FLOAT)::FLOAT[{D}] AS x
        FROM range({rows}) r(i)""")
    src = FeatureSource(con, source_sql("t"), ["x"], key="id", val_fraction=0.01)
    pre = Preprocessor.fit_sql(con, src.part_sql("train"), src.inputs)
    cfg = TrainConfig(epochs=2, batch_size=256, torch_threads=2, val_fraction=0.01)
    # in memory: the whole split as one standardized tensor, shuffled each epoch
    x = torch.from_numpy(pre.transform(np.concatenate(list(src.read("train")))))
    val = torch.from_numpy(pre.transform(np.concatenate(list(src.read("val")))))

    def streamed_run() -> None:
        torch.manual_seed(0)
        m = build_model("vanilla", {"hidden": [64, 32], "latent_dim": 8}, D)
        Trainer(cfg).fit(m, lambda: src.read("train"), lambda: src.read("val"), pre.transform)

    def in_memory_run() -> None:
        torch.manual_seed(0)
        m = build_model("vanilla", {"hidden": [64, 32], "latent_dim": 8}, D)
        opt = torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        torch.set_num_threads(2)
        for _ in range(cfg.epochs):
            m.train()
            for idx in torch.randperm(len(x)).split(cfg.batch_size):
                loss = m.loss(x[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            m.eval()
            with torch.no_grad():
                m.loss(val)

    # alternate the two, three times each, and keep each one's best: the machine is shared
    times: dict[str, list[float]] = {"streamed": [], "in_memory": []}
    for _ in range(3):
        for name, fn in (("streamed", streamed_run), ("in_memory", in_memory_run)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    streamed, in_memory = min(times["streamed"]), min(times["in_memory"])
    n = cfg.epochs * len(x)
    return n / streamed, n / in_memory


def plot(streamed: float, in_memory: float, results: dict, args: argparse.Namespace,
         out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.bar(["in-memory tensor", "streamed from DuckDB"], [in_memory, streamed], color=["grey", "C0"])
    a.set_ylabel("training samples/s")
    a.set_title(f"throughput: {streamed / in_memory:.2f}x in-memory")
    for i, ordered in enumerate(("1", "0")):
        peaks = [results[(rows, ordered)]["peak_rss_mb"] for rows in (args.rows, args.big)]
        b.bar([i - 0.2, i + 0.2], peaks, 0.38, color=["C1", "C3"],
              label=[f"{args.rows:,} rows", f"{args.big:,} rows"] if i == 0 else None)
        b.text(i + 0.2, peaks[1], f"{peaks[1] / peaks[0]:.2f}x", ha="center", va="bottom")
    b.set_xticks([0, 1], ["key order (default)", "storage order"])
    b.set_ylabel("peak RSS, MB (one epoch)")
    b.set_title("memory does not grow with the table")
    b.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-limit", default="256MB",
                    help="DuckDB's memory_limit in the training processes (its block cache)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    streamed, in_memory = throughput(min(args.rows, 500_000)) if not args.skip_throughput else (1.0, 1.0)
    print("| training input | samples/s | x in-memory |")
    print("|---|---:|---:|")
    print(f"| in-memory shuffled tensor | {in_memory:,.0f} | 1.00 |")
    print(f"| streamed from DuckDB (key order, shuffle buffer) | {streamed:,.0f} | {streamed / in_memory:.2f} |")
    results = {}
    if args.skip_memory:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (args.rows, args.big):
            path = Path(tmp) / f"t{rows}.duckdb"
            make_table(path, rows)
            for ordered in ("1", "0"):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path), ordered, args.memory_limit],
                                     capture_output=True, text=True, check=True).stdout
                line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
                results[(rows, ordered)] = json.loads(line[len("RESULT "):])
            path.unlink()
    print(f"\nDuckDB memory_limit {args.memory_limit} in the training processes")
    print("| rows | reads | peak RSS MB | train s (1 epoch) | RSS / 1M-row run |")
    print("|---:|---|---:|---:|---:|")
    for ordered, label in (("1", "key order (default)"), ("0", "storage order")):
        base = results[(args.rows, ordered)]["peak_rss_mb"]
        for rows in (args.rows, args.big):
            r = results[(rows, ordered)]
            print(f"| {rows:,} | {label} | {r['peak_rss_mb']:.0f} | {r['seconds']:.0f} | "
                  f"{r['peak_rss_mb'] / base:.2f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(streamed, in_memory, results, args, args.out / "training.png")
    (args.out / "training.json").write_text(json.dumps(
        {"streamed": streamed, "in_memory": in_memory,
         "memory": {f"{k[0]}:{k[1]}": v for k, v in results.items()},
         "self_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, indent=2))


if __name__ == "__main__":
    main()
