"""The training report of a registered version: PNG plots and one HTML page linking them.

Written next to the DuckDB file, in ``reports/<name>@<version>/``:

- ``loss.png``: training and validation loss per epoch;
- ``scores.png``: the score histogram of a sample of the training source, threshold marked;
- ``latent.png``: a 2-D map of the latent codes (their first two principal axes), coloured by
  label when labels are given;
- ``reasons.png``: the reason shares of the sample's highest-scoring rows;
- ``index.html``: the plots and the version's metadata. ``reports/index.html`` lists versions.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training import registry  # noqa: E402
from training.artifact import TrainedModel  # noqa: E402
from training.data import arrow_to_matrix, vector_sql  # noqa: E402
from training.refs import quote_ident  # noqa: E402

log = logging.getLogger(__name__)


def report_dir(db_path: str | Path) -> Path:
    return Path(db_path).resolve().parent / "reports"


def _sample(con: duckdb.DuckDBPyConnection, model: TrainedModel, rows: int,
            labels_sql: str | None) -> tuple[np.ndarray, list[str] | None]:
    vec = vector_sql(model.preprocessor.inputs)
    key = model.source_key
    label = "NULL"
    join = ""
    if labels_sql and key:
        join = (f"LEFT JOIN ({labels_sql}) AS lab(label_key, label) "
                f"ON lab.label_key = s.{quote_ident(key)}")
        label = "CAST(lab.label AS VARCHAR)"
    table = con.sql(
        f"SELECT {vec} AS x, {label} AS label FROM ({model.source}) AS s {join} "
        f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE (7)"
    ).to_arrow_table()
    x = arrow_to_matrix(table.column("x"), model.input_dim)
    labels = table.column("label").to_pylist() if labels_sql and key else None
    return x, labels


def write_report(con: duckdb.DuckDBPyConnection, ref: str, out_root: Path,
                 labels_sql: str | None = None, sample_rows: int = 20_000) -> Path:
    """Write the report of ``ref`` under ``out_root``; returns the path of its index.html."""
    from udfs import kernels

    model = registry.load(con, ref)
    meta = registry.metadata(con, model.ref)
    out = out_root / model.ref
    out.mkdir(parents=True, exist_ok=True)
    x, labels = _sample(con, model, sample_rows, labels_sql)
    scores = kernels.score(model, x)
    plots = {}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    hist = model.history
    epochs = np.arange(1, len(hist.get("train_loss", [])) + 1)
    ax.plot(epochs, hist.get("train_loss", []), label="train")
    ax.plot(epochs, hist.get("val_loss", []), label="validation")
    if hist.get("best_epoch"):
        ax.axvline(hist["best_epoch"], color="grey", ls=":", label="best epoch")
    ax.set(xlabel="epoch", ylabel="loss", title=f"{model.ref}: loss", yscale="log")
    ax.legend()
    plots["loss.png"] = fig

    fig, ax = plt.subplots(figsize=(6, 3.6))
    positive = np.clip(scores, 1e-6, None)
    bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()) + 1e-9, 60).tolist()
    if labels is not None:
        normal = np.array([lab in (None, "normal", "False", "false", "0") for lab in labels])
        ax.hist(positive[normal], bins=bins, alpha=0.7, label="normal / unlabelled")
        ax.hist(positive[~normal], bins=bins, alpha=0.7, label="labelled anomaly")
    else:
        ax.hist(positive, bins=bins, alpha=0.8, label="sample")
    if np.isfinite(model.threshold):
        ax.axvline(model.threshold, color="red", label=f"threshold {model.threshold:.3g} "
                   f"({model.threshold_method})")
    ax.set(xscale="log", yscale="log", xlabel="score", ylabel="rows",
           title=f"{model.ref}: scores of {len(scores):,} sampled rows")
    ax.legend(fontsize=8)
    plots["scores.png"] = fig

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    z = kernels.encode(model, x)
    z = z - z.mean(axis=0)
    if z.shape[1] > 2:
        _, _, vt = np.linalg.svd(z[:5000], full_matrices=False)
        z = z @ vt[:2].T
    elif z.shape[1] == 1:
        z = np.column_stack([z[:, 0], np.zeros(len(z))])
    if labels is not None:
        for lab in sorted({str(v) for v in labels}):
            m = np.array([str(v) == lab for v in labels])
            ax.scatter(z[m, 0], z[m, 1], s=4 if m.sum() > 200 else 12, alpha=0.6, label=lab)
        ax.legend(fontsize=7, markerscale=2)
    else:
        sc = ax.scatter(z[:, 0], z[:, 1], s=4, c=np.log10(positive), cmap="viridis", alpha=0.6)
        fig.colorbar(sc, label="log10 score")
    ax.set(title=f"{model.ref}: latent map", xlabel="axis 1", ylabel="axis 2")
    plots["latent.png"] = fig

    top = np.argsort(-scores)[:12]
    shares = kernels.attributions(model, x[top])
    groups = list(model.preprocessor.groups())
    keep = np.argsort(-shares.sum(axis=0))[:8]
    fig, ax = plt.subplots(figsize=(7, 4))
    left = np.zeros(len(top))
    for g in keep:
        ax.barh(np.arange(len(top)), shares[:, g], left=left, label=groups[g])
        left += shares[:, g]
    ax.set_yticks(np.arange(len(top)), [f"score {scores[i]:.3g}" for i in top], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="share of the score", title=f"{model.ref}: reasons of the top anomalies")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    plots["reasons.png"] = fig

    for name, f in plots.items():
        f.tight_layout()
        f.savefig(out / name, dpi=100)
        plt.close(f)

    rows = {
        "family": meta["family"], "params": json.dumps(meta["params"]),
        "features": len(meta["feature_names"]), "latent size": meta["latent_dim"],
        "threshold": f"{meta['threshold']} ({meta['threshold_method']}: "
                     f"{json.dumps(meta['threshold_params'])})",
        "training rows": meta["metrics"].get("train_rows"),
        "validation rows": meta["metrics"].get("val_rows"),
        "best validation loss": meta["metrics"].get("best_val_loss"),
        "training seconds": meta["metrics"].get("train_seconds"),
        "data fingerprint": meta["data_fingerprint"], "created at": meta["created_at"],
        "libraries": json.dumps(meta["library_versions"]),
    }
    table = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                      for k, v in rows.items())
    images = "\n".join(f'<figure><img src="{n}" alt="{n}"><figcaption>{n}</figcaption></figure>'
                       for n in plots)
    (out / "index.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{model.ref}</title>"
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:46vw}figure{display:inline-block}"
        "th{text-align:left;padding-right:1em}</style></head><body>"
        f"<h1>duckae report: {html.escape(model.ref)}</h1><table>{table}</table>{images}"
        "<p><a href='../index.html'>all reports</a></p></body></html>\n")
    _write_index(out_root)
    log.info("wrote the report of %s to %s", model.ref, out / "index.html")
    return out / "index.html"


def _write_index(root: Path) -> None:
    items = sorted(p.parent.name for p in root.glob("*/index.html"))
    links = "\n".join(f"<li><a href='{html.escape(i)}/index.html'>{html.escape(i)}</a></li>"
                      for i in items)
    (root / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>duckae reports</title></head>"
        f"<body><h1>duckae reports</h1><ul>{links}</ul></body></html>\n")
