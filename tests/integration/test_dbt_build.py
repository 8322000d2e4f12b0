"""`duckae demo` end to end on a small generated warehouse in a temporary directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.dbt

REPO = Path(__file__).resolve().parents[2]
TRAINING_MODELS = ("transactions_autoencoder", "transactions_vae", "sensor_autoencoder",
                   "digits_conv_autoencoder", "digits_denoising_autoencoder", "digits_vae")


def _duckae(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("duckae", path=str(Path(sys.executable).parent)) or "duckae"
    env = dict(os.environ, DBT_TARGET_PATH=str(tmp / "target"), DBT_LOG_PATH=str(tmp / "logs"))
    proc = subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    db = tmp / "warehouse.duckdb"
    proc = _duckae("demo", "--db", str(db), "--rows", "8000", "--sensor-windows", "40",
                   "--epochs", "6", tmp=tmp)
    return db, proc.stdout, tmp


def test_build_writes_every_table(demo):
    db, out, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    n = con.execute("SELECT count(*) FROM raw.transactions").fetchall()[0][0]
    for table in ("fct_transaction_features", "transaction_scores", "transaction_latents"):
        assert con.execute(f"SELECT count(*) FROM main.{table}").fetchall()[0][0] == n, table
    assert con.execute(
        "SELECT count(*) FROM main.transaction_scores WHERE score IS NULL OR is_anomaly IS NULL"
    ).fetchall() == [(0,)]
    k = con.execute("SELECT max(len(latent)), min(len(latent)) FROM main.transaction_latents").fetchall()
    assert k == [(4, 4)]
    queue = con.execute("SELECT count(*), min(review_rank), bool_and(top_reason IS NOT NULL) FROM main.review_queue").fetchall()
    assert queue[0][0] > 0 and queue[0][1] == 1 and queue[0][2]
    # every score row records the version that produced it, which is the production version
    assert con.execute("SELECT DISTINCT model_version FROM main.transaction_scores").fetchall() == [(1,)]
    con.close()


def test_sensor_digit_and_generation_tables(demo):
    db, out, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    families = dict(con.execute("SELECT name, family FROM duckae.model_versions").fetchall())
    assert families == {"transactions": "vanilla", "sensors": "convolutional", "digits_conv": "convolutional",
                        "digits_denoising": "denoising", "digits_vae": "variational",
                        "transactions_pca": "pca", "transactions_vae": "variational"}
    assert con.execute("SELECT input_shape FROM duckae.model_versions WHERE name = 'sensors'").fetchall() == [([4, 64],)]
    n_windows = con.execute("SELECT count(*) FROM main.fct_sensor_windows").fetchall()[0][0]
    assert n_windows == 20 * 40
    assert con.execute("SELECT count(*), count(score) FROM main.sensor_window_scores").fetchall() == [(n_windows, n_windows)]
    faulty, normal = con.execute(
        "SELECT avg(score) FILTER (WHERE l.is_fault), avg(score) FILTER (WHERE NOT l.is_fault) "
        "FROM main.sensor_window_scores s JOIN raw.sensor_labels l USING (machine_id, window_index)"
    ).fetchall()[0]
    assert faulty > normal
    noisy, denoised = con.execute("SELECT avg(noisy_mse), avg(denoised_mse) FROM main.digits_denoised").fetchall()[0]
    assert denoised < noisy
    samples = con.execute("SELECT count(*), min(len(pixels)), count(DISTINCT pixels) FROM main.digit_samples").fetchall()
    assert samples == [(200, 64, 200)]
    assert con.execute("SELECT count(*) FROM main.digit_latents WHERE len(latent) = 10").fetchall() == [(1797,)]
    con.close()
    assert "sensor faults" in out and "closer to the clean images" in out


def test_injected_anomalies_score_higher(demo):
    db, out, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    mean_normal, mean_anomaly = con.execute(
        "SELECT avg(score) FILTER (WHERE NOT l.is_anomaly), avg(score) FILTER (WHERE l.is_anomaly) "
        "FROM main.transaction_scores s JOIN raw.transaction_labels l USING (transaction_id)"
    ).fetchall()[0]
    assert mean_anomaly > 3 * mean_normal
    auc = con.execute("SELECT roc_auc FROM main.eval_detection_quality WHERE anomaly_kind = 'all'").fetchall()[0][0]
    assert auc > 0.85
    con.close()
    assert re.search(r"ROC-AUC 0\.\d+", out)
    assert "Review queue" in out


def test_second_build_does_not_retrain(demo):
    db, _, tmp = demo
    out = _duckae("demo", "--db", str(db), "--rows", "8000", "--sensor-windows", "40",
                  "--epochs", "6", tmp=tmp).stdout
    assert "reused: data and config unchanged" in out
    con = duckdb.connect(str(db), read_only=True)
    versions = con.execute("SELECT name, count(*) FROM duckae.model_versions GROUP BY name ORDER BY name").fetchall()
    assert versions == [(n, 1) for n in ("digits_conv", "digits_denoising", "digits_vae", "sensors",
                                          "transactions", "transactions_pca", "transactions_vae")]
    for model in TRAINING_MODELS:
        assert con.execute(f"SELECT trained_this_run FROM main.{model}").fetchall() == [(False,)], model
    con.close()


def test_macro_expands_the_recorded_feature_order(demo):
    _, _, tmp = demo
    compiled = (tmp / "target" / "compiled" / "duckae_demo" / "models" / "scoring" / "transaction_scores.sql").read_text()
    assert "ae_score('transactions@1', cast([cast(\"log_amount\" as float), cast(\"amount_vs_customer\" as float)" in compiled
    assert "as FLOAT[23])" in compiled


def test_cli_train_models_promote_rollback_score(demo):
    db, _, tmp = demo
    out = _duckae("train", "--db", str(db), "--table", "main.fct_transaction_features",
                  "--name", "cli_model", "--key", "transaction_id",
                  "--exclude", "customer_id", "--epochs", "2", "--no-promote", tmp=tmp).stdout
    assert "cli_model@1 trained" in out
    listing = _duckae("models", "--db", str(db), tmp=tmp).stdout
    assert "cli_model" in listing and "transactions" in listing and "production" in listing
    assert "-> version 1" in _duckae("promote", "--db", str(db), "cli_model", tmp=tmp).stdout
    out = _duckae("score", "--db", str(db), "--model", "cli_model", "--table",
                  "main.fct_transaction_features", "--key", "transaction_id",
                  "--output", "main.cli_scores", tmp=tmp).stdout
    assert "with cli_model@1 into main.cli_scores" in out
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM main.cli_scores WHERE score IS NULL").fetchall() == [(0,)]
    con.close()
    proc = subprocess.run(
        [shutil.which("duckae", path=str(Path(sys.executable).parent)) or "duckae",
         "promote", "--db", str(db), "cli_model", "7"], capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown version 7 of model 'cli_model'" in proc.stderr


def test_notebook_job_runs_top_to_bottom(demo):
    db, _, tmp = demo
    env = dict(os.environ, DUCKAE_DB=str(db), DUCKAE_NOTEBOOK_EPOCHS="2")
    proc = subprocess.run([sys.executable, str(REPO / "training" / "notebook.py")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"production transactions@1: ROC-AUC 0\.\d+", proc.stdout)
    assert re.search(r"PCA \(k=4\): held-out reconstruction MSE \d", proc.stdout)
    assert "production -> transactions@" in proc.stdout
    assert (db.parent / "reports" / "notebook_loss_curves.png").stat().st_size > 1000


def test_cli_threshold(demo):
    db, _, tmp = demo
    out = _duckae("threshold", "--db", str(db), "transactions", "--contamination", "0.02", tmp=tmp).stdout
    assert "transactions: threshold" in out and "contamination" in out
    exe = shutil.which("duckae", path=str(Path(sys.executable).parent)) or "duckae"
    proc = subprocess.run([exe, "threshold", "--db", str(db), "transactions", "--max-f1"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "give the queue" in proc.stderr
    proc = subprocess.run([exe, "threshold", "--db", str(db), "transactions"], capture_output=True, text=True)
    assert proc.returncode == 2 and "give exactly one of" in proc.stderr


def test_docs_generate_and_every_model_and_column_is_described(demo):
    db, _, tmp = demo
    _duckae("dbt", "--db", str(db), "docs", "generate", tmp=tmp)
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp / "target" / "catalog.json").read_text())
    missing = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or node["package_name"] != "duckae_demo":
            continue
        if not node["description"]:
            missing.append(node["name"])
        described = {k.lower() for k, v in node["columns"].items() if v.get("description")}
        cols = catalog["nodes"][uid]["columns"] if uid in catalog["nodes"] else {}
        missing += [f"{node['name']}.{c}" for c in cols if c.lower() not in described]
    assert missing == []
    assert "exposure.duckae_demo.fraud_review_queue" in manifest["exposures"]


def test_demo_writes_training_reports(demo):
    db, out, _ = demo
    page = db.parent / "reports" / "transactions@1" / "index.html"
    assert page.exists() and str(page) in out
    for png in ("loss.png", "scores.png", "latent.png", "reasons.png"):
        assert (page.parent / png).stat().st_size > 5000, png
    assert "transactions@1" in (db.parent / "reports" / "index.html").read_text()


def test_reduction_denoising_generation_and_representation_workflows(demo):
    db, _, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    k, rows, ae, pca, ratio = con.execute(
        "SELECT code_size, heldout_rows, ae_mse, pca_mse, ae_to_pca_ratio FROM main.eval_reduction_vs_pca").fetchall()[0]
    assert k == 4 and rows > 100 and ae < pca and ratio < 1
    improvements = dict(con.execute("SELECT workflow, improvement FROM main.eval_denoising").fetchall())
    # the small sensors model here trains 6 epochs on 800 windows: too little to fill gaps well
    # (at demo scale the fill is 34% better than the channel mean; imputation is unit-tested)
    assert improvements["digits: gaussian noise removed"] > 0.3, improvements
    assert improvements["sensors: 10% missing readings filled"] is not None
    ks, corr, near = con.execute(
        "SELECT ks, mean_abs_corr_diff, near_copy_share FROM main.eval_synthetic_fidelity WHERE feature = '(all)'").fetchall()[0]
    assert ks < 0.3 and corr < 0.2 and near < 0.05
    synthetic = con.execute("SELECT count(*), count(DISTINCT (log_amount, amount_vs_customer, hour_sin)) FROM main.synthetic_transactions").fetchall()[0]
    assert synthetic[0] == synthetic[1] == 5000
    onehot = con.execute("SELECT bool_and(channel_chip + channel_contactless + channel_online = 1) FROM main.synthetic_transactions").fetchall()
    assert onehot == [(True,)]
    accuracy = dict(con.execute("SELECT representation, accuracy_mean FROM main.eval_representation").fetchall())
    assert len(accuracy) == 2 and all(0.5 < a <= 1 for a in accuracy.values())
    con.close()
