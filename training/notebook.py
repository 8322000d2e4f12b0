# %% [markdown]
# # duckae notebook job: train, compare, register, score in SQL
#
# Runs top to bottom with `python training/notebook.py`, and opens as a notebook in editors that
# read the `# %%` cell format (VS Code, PyCharm, Jupytext). It works on the demo warehouse:
# run `make demo` first (or point `DUCKAE_DB` at another file with the feature table).

# %%
import logging
import os
import sys
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # write PNGs; no screen needed
import matplotlib.pyplot as plt  # noqa: E402

import udfs  # noqa: E402
from training import registry  # noqa: E402
from training.api import fit  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("notebook")

DB = Path(os.environ.get("DUCKAE_DB", "warehouse.duckdb"))
FEATURES_TABLE = "main.fct_transaction_features"
MODEL = "transactions"
OUT = DB.parent / "reports" / "notebook"
OUT.mkdir(parents=True, exist_ok=True)
EPOCHS = int(os.environ.get("DUCKAE_NOTEBOOK_EPOCHS", "10"))

# %% Load: the features live in DuckDB; only summaries come into Python.
con = duckdb.connect(str(DB))
if not con.execute(
    "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
    "AND table_name = 'fct_transaction_features'"
).fetchall()[0][0]:
    sys.exit(f"{DB} has no {FEATURES_TABLE}: run `make demo` first (or set DUCKAE_DB)")
production = registry.metadata(con, MODEL)
features = production["feature_names"]
log.info("production is %s@%d with %d features", MODEL, production["version"], len(features))
print(con.sql(f"SELECT count(*) AS rows, avg(log_amount) AS avg_log_amount FROM {FEATURES_TABLE}"))

# %% Train a challenger: a wider code than production, same data, streamed from DuckDB.
challenger = fit(
    con, FEATURES_TABLE, features, key="transaction_id", family="vanilla",
    params={"hidden": [64, 32], "latent_dim": 6}, train_config={"epochs": EPOCHS, "seed": 1},
)

# %% Look: loss curves of both versions.
fig, ax = plt.subplots(figsize=(6, 3.5))
for label, hist in (("production", production["history"]), ("challenger", challenger.history)):
    ax.plot(hist["train_loss"], label=f"{label} train")
    ax.plot(hist["val_loss"], "--", label=f"{label} validation")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "loss_curves.png", dpi=110)
log.info("wrote %s", OUT / "loss_curves.png")

# %% Compare on the held-out labels (the demo has them; real data usually does not).
version = registry.register(con, MODEL, challenger, promote=False)
udfs.register(con)
vector = "[" + ", ".join(f'"{f}"' for f in features) + f"]::FLOAT[{len(features)}]"


def auc(ref: str) -> float:
    # ROC-AUC by the rank formula, computed in SQL over ae_score.
    return con.execute(f"""
        WITH s AS (
            SELECT ae_score('{ref}', {vector}) AS score, l.is_anomaly
            FROM {FEATURES_TABLE} f JOIN raw.transaction_labels l USING (transaction_id)),
        r AS (SELECT *, rank() OVER (ORDER BY score) AS rk FROM s)
        SELECT (sum(rk) FILTER (WHERE is_anomaly) - count(*) FILTER (WHERE is_anomaly)
                * (count(*) FILTER (WHERE is_anomaly) + 1) / 2)
               / (count(*) FILTER (WHERE is_anomaly) * count(*) FILTER (WHERE NOT is_anomaly))
        FROM r""").fetchall()[0][0]


has_labels = con.execute(
    "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'transaction_labels'"
).fetchall()[0][0]
if has_labels:
    scores = {
        f"{MODEL}@{production['version']}": auc(f"{MODEL}@{production['version']}"),
        f"{MODEL}@{version}": auc(f"{MODEL}@{version}"),
    }
    for ref, value in scores.items():
        print(f"{ref}: ROC-AUC {value:.4f}")

    # %% Promote the winner (the production alias moves; `duckae rollback` moves it back).
    winner = max(scores, key=lambda r: scores[r])
    registry.promote(con, MODEL, int(winner.split("@")[1]))
    print(f"production -> {winner}")

# %% Score in SQL: the top five transactions by the production model.
print(con.sql(f"""
    SELECT transaction_id, round(ae_score('{MODEL}', {vector}), 3) AS score,
           ae_is_anomaly('{MODEL}', {vector}) AS flagged
    FROM {FEATURES_TABLE} ORDER BY score DESC LIMIT 5"""))
con.close()
