# %% [markdown]
# # duckae notebook job: two families against PCA, plots, promote the winner, score in SQL
#
# Runs top to bottom with `python training/notebook.py`, and opens as a notebook in editors that
# read the `# %%` cell format (VS Code, PyCharm, Jupytext). It works on the demo warehouse: run
# `make demo` first, or point `DUCKAE_DB` at another file holding the feature table.

# %%
import logging
import os
import sys
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # write PNGs; no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import udfs  # noqa: E402
from training import registry  # noqa: E402
from training.api import fit  # noqa: E402
from training.data import FeatureSource, source_sql, vector_sql  # noqa: E402
from training.evaluate import model_heldout_mse, pca_heldout_mse  # noqa: E402
from training.report import report_dir, write_report  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("notebook")

DB = Path(os.environ.get("DUCKAE_DB", "warehouse.duckdb"))
TRAINING_ROWS = "main.fct_transaction_training_rows"
ALL_ROWS = "main.fct_transaction_features"
MODEL = "transactions"
EPOCHS = int(os.environ.get("DUCKAE_NOTEBOOK_EPOCHS", "10"))
OUT = report_dir(DB)
LABELS = ("SELECT transaction_id, coalesce(anomaly_kind, 'normal') FROM raw.transaction_labels")

# %% Load: the features stay in DuckDB; only summaries and samples come into Python.
con = duckdb.connect(str(DB))
have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
if "fct_transaction_training_rows" not in have:
    sys.exit(f"{DB} has no {TRAINING_ROWS}: run `make demo` first (or set DUCKAE_DB)")
production = registry.metadata(con, MODEL)
features = production["feature_names"]
groups = production["preprocessing"].get("feature_groups")
log.info("production is %s@%d with %d features", MODEL, production["version"], len(features))
print(con.sql(f"SELECT count(*) AS rows, round(avg(log_amount), 3) AS avg_log_amount FROM {TRAINING_ROWS}"))

# %% Train two families on the same rows, streamed from DuckDB.
candidates = {
    "vanilla": fit(con, TRAINING_ROWS, features, key="transaction_id", family="vanilla",
                   params={"hidden": [64, 32], "latent_dim": 4}, feature_groups=groups,
                   train_config={"epochs": EPOCHS, "seed": 1}),
    "denoising": fit(con, TRAINING_ROWS, features, key="transaction_id", family="denoising",
                     params={"hidden": [64, 32], "latent_dim": 4, "noise": "mask", "mask_prob": 0.2},
                     feature_groups=groups, train_config={"epochs": EPOCHS, "seed": 1}),
}

# %% Compare with PCA at the same code size, on held-out rows (the validation split).
src = FeatureSource(con, source_sql(TRAINING_ROWS), features, key="transaction_id")
held_out = np.concatenate(list(src.read("val")))[:20_000]
train_sample = np.concatenate(list(src.read("train")))[:50_000]
train_sample = np.nan_to_num(train_sample, nan=np.nanmean(train_sample, axis=0))
held_out_filled = np.nan_to_num(held_out, nan=np.nanmean(train_sample, axis=0))
pca = pca_heldout_mse(train_sample, held_out_filled, 4)
print(f"PCA (k=4): held-out reconstruction MSE {pca:.4f}")
for family, m in candidates.items():
    print(f"{family} (k=4): held-out reconstruction MSE {model_heldout_mse(m, held_out):.4f}")

# %% Look: loss curves side by side, then each candidate's full report (PNG + HTML).
fig, ax = plt.subplots(figsize=(6, 3.5))
for family, m in candidates.items():
    ax.plot(m.history["train_loss"], label=f"{family} train")
    ax.plot(m.history["val_loss"], "--", label=f"{family} validation")
ax.set(xlabel="epoch", ylabel="loss", yscale="log")
ax.legend()
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "notebook_loss_curves.png", dpi=110)
log.info("wrote %s", OUT / "notebook_loss_curves.png")

# %% Register both, compare in SQL on the labelled rows, promote the winner.
refs = {family: f"{MODEL}@{registry.register(con, MODEL, m, promote=False)}"
        for family, m in candidates.items()}
udfs.register(con)
vector = vector_sql(candidates["vanilla"].preprocessor.inputs)
has_labels = "transaction_labels" in have


def auc(ref: str) -> float:
    # ROC-AUC by the rank formula, over the training window, computed in SQL over ae_score.
    return con.execute(f"""
        WITH s AS (
            SELECT ae_score('{ref}', {vector}) AS score, l.is_anomaly
            FROM {TRAINING_ROWS} f JOIN raw.transaction_labels l USING (transaction_id)),
        r AS (SELECT *, rank() OVER (ORDER BY score) AS rk FROM s)
        SELECT (sum(rk) FILTER (WHERE is_anomaly) - count(*) FILTER (WHERE is_anomaly)
                * (count(*) FILTER (WHERE is_anomaly) + 1) / 2)
               / (count(*) FILTER (WHERE is_anomaly) * count(*) FILTER (WHERE NOT is_anomaly))
        FROM r""").fetchall()[0][0]


refs["production"] = f"{MODEL}@{production['version']}"
if has_labels:
    scores = {ref: auc(ref) for ref in refs.values()}
    for name, ref in refs.items():
        print(f"{name:>10} {ref}: ROC-AUC {scores[ref]:.4f}")
    winner = max(scores, key=lambda r: scores[r])
else:  # no labels: the lower held-out reconstruction error wins
    best = min(candidates, key=lambda f: model_heldout_mse(candidates[f], held_out))
    winner = refs[best]
registry.promote(con, MODEL, int(winner.split("@")[1]))
print(f"production -> {winner}")
for ref in {refs["vanilla"], refs["denoising"]}:
    print("report:", write_report(con, ref, OUT, LABELS if has_labels else None))

# %% Score in SQL: the five most anomalous transactions under the new production version.
print(con.sql(f"""
    SELECT transaction_id, round(ae_score('{MODEL}', {vector}), 3) AS score,
           ae_is_anomaly('{MODEL}', {vector}) AS flagged
    FROM {ALL_ROWS} ORDER BY score DESC LIMIT 5"""))
con.close()
