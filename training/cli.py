"""The ``duckae`` command line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import duckdb

from training import registry
from training.refs import ModelRefError, first

log = logging.getLogger("duckae")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = os.environ.get("DUCKAE_DB", "warehouse.duckdb")


def _connect(db: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(db, read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise click.ClickException(
                f"{db} is open for writing in another process (DuckDB allows one writer per "
                f"file). Close that process (a notebook, `dbt build`, another duckae) and retry.\n"
                f"DuckDB said: {e}"
            ) from None
        raise click.ClickException(f"cannot open {db}: {e}") from None


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """duckae: autoencoders inside the DuckDB warehouse.

    \b
    Example:
      duckae demo                       # build the demo warehouse end to end
      duckae models                     # versions, aliases, thresholds
      duckae train --table main.fct_transaction_features --name transactions \\
                   --key transaction_id --exclude customer_id
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file.")
@click.option("--table", required=True, help="Table or view with the features.")
@click.option("--name", required=True, help="Registry name of the model.")
@click.option("--features", default=None, help="Comma-separated feature columns (default: every numeric column but --key/--exclude).")
@click.option("--exclude", default="", help="Comma-separated columns to leave out of the default feature list.")
@click.option("--key", default=None, help="Row key column (drives the train/validation split).")
@click.option("--family", default="vanilla", show_default=True,
              type=click.Choice(["vanilla", "denoising", "sparse", "contractive", "variational",
                                 "convolutional"]))
@click.option("--params", default="{}", help='Family parameters as JSON, e.g. \'{"latent_dim": 4}\'.')
@click.option("--epochs", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--promote/--no-promote", default=True, show_default=True)
@click.option("--force", is_flag=True, help="Retrain even if the same data and config are registered.")
def train(db: str, table: str, name: str, features: str | None, exclude: str, key: str | None,
          family: str, params: str, epochs: int | None, seed: int | None, promote: bool,
          force: bool) -> None:
    """Train a model on a table and register it.

    \b
    Example:
      duckae train --db warehouse.duckdb --table main.fct_transaction_features \\
          --name transactions --key transaction_id --exclude customer_id --epochs 20
    """
    from training.api import infer_features
    from training.api import train as train_model
    from training.data import source_sql

    con = _connect(db)
    cfg: dict[str, Any] = {}
    if epochs is not None:
        cfg["epochs"] = epochs
    if seed is not None:
        cfg["seed"] = seed
    try:
        sql = source_sql(table)
        feats = [f.strip() for f in features.split(",")] if features else infer_features(
            con, sql, [c.strip() for c in exclude.split(",") if c.strip()] + ([key] if key else [])
        )
        from training.progress import TrainingProgress

        logging.getLogger("training.trainer").setLevel(logging.WARNING)  # the bar says it

        result = train_model(con, name, table, feats, family=family, params=json.loads(params),
                             train_config=cfg, key=key, promote=promote, reuse=not force,
                             callbacks=[TrainingProgress()])
    except (ValueError, LookupError, duckdb.Error) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    what = "trained" if result.trained else "reused (same data and config)"
    prod = (f"production is version {result.production_version}" if result.production_version
            else f"no production version yet (duckae promote {name} {result.version})")
    click.echo(f"{result.ref} {what}; {prod}")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.argument("name", required=False)
def models(db: str, name: str | None) -> None:
    """List registered versions, newest first, with aliases and thresholds."""
    con = _connect(db, read_only=Path(db).exists())
    try:
        rows = registry.list_versions(con, name)
    finally:
        con.close()
    for r in rows:
        m = json.loads(r.pop("metrics"))
        r["aliases"] = ",".join(r["aliases"])
        r["threshold"] = None if r["threshold"] is None else f"{r['threshold']:.4g}"
        r["val_loss"] = f"{m.get('best_val_loss', float('nan')):.4g}"
        r["created_at"] = str(r["created_at"])[:19]
    cols = ["name", "version", "aliases", "family", "n_features", "latent_dim", "threshold",
            "val_loss", "row_count", "created_at"]
    click.echo(_table(rows, cols) if rows else "no models registered yet")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.argument("name")
@click.argument("version", type=int, required=False)
def promote(db: str, name: str, version: int | None) -> None:
    """Point NAME's production alias at VERSION (default: the newest)."""
    con = _connect(db)
    try:
        v = registry.promote(con, name, version)
    except (ModelRefError, LookupError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    click.echo(f"{name}@production -> version {v}")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.argument("name")
def rollback(db: str, name: str) -> None:
    """Move NAME's production alias back to the version before its last promotion."""
    con = _connect(db)
    try:
        v = registry.rollback(con, name)
    except (ModelRefError, LookupError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    click.echo(f"{name}@production -> version {v}")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.argument("ref")
@click.option("--contamination", type=float, help="Flag this share of held-out rows (e.g. 0.01).")
@click.option("--value", type=float, help="An explicit threshold.")
@click.option("--max-f1", "max_f1", is_flag=True, help="Best F1 on the review queue's decisions.")
@click.option("--target-precision", type=float,
              help="Lowest threshold reaching this precision on the queue's decisions.")
@click.option("--queue", default=None, help="Review queue whose decisions calibrate (--max-f1, --target-precision).")
def threshold(db: str, ref: str, contamination: float | None, value: float | None, max_f1: bool,
              target_precision: float | None, queue: str | None) -> None:
    """Set REF's threshold: a contamination rate, a value, or calibrated on decisions.

    \b
    Example:
      duckae threshold transactions --contamination 0.02
      duckae threshold transactions@3 --max-f1 --queue transactions
      duckae threshold transactions --target-precision 0.9 --queue transactions
    """
    from training.api import recalibrate

    chosen = [k for k, v in {"--contamination": contamination, "--value": value,
                             "--max-f1": max_f1 or None, "--target-precision": target_precision}.items()
              if v is not None]
    if len(chosen) != 1:
        raise click.UsageError(f"give exactly one of --contamination, --value, --max-f1, "
                               f"--target-precision (got {chosen or 'none'})")
    method = {"--contamination": "contamination", "--value": "explicit", "--max-f1": "max_f1",
              "--target-precision": "target_precision"}[chosen[0]]
    con = _connect(db)
    try:
        t = recalibrate(con, ref, method, contamination=contamination, value=value,
                        review_queue=queue, target_precision=target_precision or 0.9)
    except (ModelRefError, LookupError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    click.echo(f"{ref}: threshold {t.value:.6g} ({t.method}, {json.dumps(t.params)})")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.option("--model", "ref", required=True, help="Model reference: name, name@7, name@latest.")
@click.option("--table", required=True, help="Table holding the model's feature columns.")
@click.option("--key", required=True, help="Key column copied to the output.")
@click.option("--output", required=True, help="Table to create (replaced, atomically, if it exists).")
@click.option("--batch-rows", type=int, default=65_536, show_default=True)
def score(db: str, ref: str, table: str, key: str, output: str, batch_rows: int) -> None:
    """Score TABLE into OUTPUT (key, model_name, model_version, score, percentile, is_anomaly).

    \b
    Example:
      duckae score --model transactions --table main.fct_transaction_features \
          --key transaction_id --output main.scored
    """
    from udfs.bulk import score_table

    con = _connect(db)
    t0 = time.perf_counter()
    try:
        pinned, n, flagged = score_table(con, ref, table, key, output, batch_rows)
    except (ModelRefError, LookupError, ValueError, duckdb.Error) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    click.echo(f"scored {n} rows of {table} with {pinned} into {output} in "
               f"{time.perf_counter() - t0:.1f}s; {flagged} flagged")


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.argument("ref")
@click.option("--labels-sql", default=None,
              help="SELECT returning (key, label) to colour the plots, e.g. the demo's labels.")
@click.option("--sample-rows", type=int, default=20_000, show_default=True)
@click.option("--open", "open_", is_flag=True, help="Open the page in a browser.")
def report(db: str, ref: str, labels_sql: str | None, sample_rows: int, open_: bool) -> None:
    """Write (or rewrite) REF's training report: PNG plots and an HTML page next to the DB.

    \b
    Example:
      duckae report transactions --labels-sql \
        "select transaction_id, coalesce(anomaly_kind, 'normal') from raw.transaction_labels"
    """
    from training.report import report_dir, write_report

    con = _connect(db, read_only=True)
    try:
        page = write_report(con, ref, report_dir(db), labels_sql, sample_rows)
    except (ModelRefError, LookupError, ValueError, duckdb.Error) as e:
        raise click.ClickException(str(e)) from None
    finally:
        con.close()
    click.echo(str(page))
    if open_:
        import webbrowser

        webbrowser.open(page.as_uri())


def _dbt(args: list[str], project_dir: Path, db: str) -> None:
    exe = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if exe is None:
        raise click.ClickException("dbt is not installed in this environment; run `make demo`")
    env = dict(os.environ, DUCKAE_DB=str(Path(db).resolve()))
    if args[:1] != ["deps"] and (project_dir / "packages.yml").exists() and not (
            project_dir / "dbt_packages" / "duckae").exists():
        _dbt(["deps"], project_dir, db)  # the local duckae package; no network needed
    cmd = [exe, *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    log.info("running %s", " ".join(cmd[:2] + args[1:]))
    proc = subprocess.run(cmd, env=env, cwd=project_dir)
    if proc.returncode != 0:
        raise click.ClickException(f"`dbt {' '.join(args)}` failed (exit {proc.returncode}); see its output above")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file.")
@click.option("--project-dir", type=click.Path(path_type=Path), default=REPO / "dbt_project",
              show_default=True)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(db: str, project_dir: Path, dbt_args: tuple[str, ...]) -> None:
    """Run dbt on the demo project against --db (the profile and plugin set up for you).

    \b
    Example:
      duckae dbt build --full-refresh
      duckae dbt build -s review_queue_items+
    """
    _dbt(list(dbt_args) or ["build"], project_dir, db)


@main.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file to build.")
@click.option("--rows", type=int, default=200_000, show_default=True, help="Transactions to generate.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--sensor-windows", type=int, default=200, show_default=True,
              help="Sensor windows per machine (20 machines).")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the dbt var).")
@click.option("--project-dir", type=click.Path(path_type=Path), default=REPO / "dbt_project",
              show_default=True)
def demo(db: str, rows: int, seed: int, sensor_windows: int, epochs: int | None,
         project_dir: Path) -> None:
    """Generate the demo data, run `dbt build` (training inside), show the review queue."""
    from training import demo_data

    t0 = time.perf_counter()
    con = _connect(db)
    try:
        sensors = demo_data.SensorConfig(windows_per_machine=sensor_windows)
        demo_data.load(con, demo_data.DemoConfig(n_rows=rows, seed=seed, sensors=sensors))
    finally:
        con.close()
    args = ["build"]
    if epochs is not None:
        args += ["--vars", json.dumps({"ae_epochs": epochs})]
    _dbt(args, project_dir, db)
    from training.report import report_dir, write_report

    con = _connect(db, read_only=True)
    try:
        queue = con.sql(
            "SELECT review_rank, transaction_id, round(score, 2) AS score, amount, "
            "merchant_category, channel, country, top_reason, top_reasons[1].share AS top_share "
            "FROM main.review_queue WHERE status = 'open' ORDER BY review_rank LIMIT 10"
        )
        head = [dict(zip(queue.columns, r, strict=True)) for r in queue.fetchall()]
        quality = con.sql("SELECT * FROM main.eval_detection_quality")
        qrows = [dict(zip(quality.columns, r, strict=True)) for r in quality.fetchall()]
        model = first(con.sql("SELECT model_ref, trained_this_run, threshold FROM main.transactions_autoencoder"))
        sensor_auc = first(con.sql("SELECT roc_auc FROM main.eval_sensor_detection WHERE anomaly_kind = 'all'"))
        reasons = con.sql("SELECT anomaly_kind, top_reason_hit_rate, top3_hit_rate FROM main.eval_reasons").fetchall()
        drift = first(con.sql(
            "SELECT count(*) FILTER (WHERE psi > 0.25 AND NOT after_training_window), "
            "count(*) FILTER (WHERE NOT after_training_window), "
            "count(*) FILTER (WHERE psi > 0.25 AND after_training_window), "
            "count(*) FILTER (WHERE after_training_window), "
            "max(psi) FILTER (WHERE after_training_window) FROM main.monitor_score_drift"))
        denoise = first(con.sql("SELECT avg(noisy_mse), avg(denoised_mse) FROM main.digits_denoised"))
        n_samples = first(con.sql("SELECT count(*) FROM main.digit_samples"))
        labels = {
            "transactions": "SELECT transaction_id, coalesce(anomaly_kind, 'normal') "
                            "FROM raw.transaction_labels",
            "sensors": "SELECT machine_id * 1000000 + window_index, coalesce(fault_kind, 'normal') "
                       "FROM raw.sensor_labels",
            "digits_conv": "SELECT digit_id, label FROM raw.digits",
            "digits_vae": "SELECT digit_id, label FROM raw.digits",
        }
        pages = [write_report(con, name, report_dir(db), sql) for name, sql in labels.items()]
    finally:
        con.close()
    click.echo("\nReview queue (top 10 open rows of main.review_queue):")
    click.echo(_table(head, list(head[0]) if head else ["review_rank"]))
    click.echo("\nDetection quality against the held-out labels (main.eval_detection_quality):")
    click.echo(_table(qrows, ["anomaly_kind", "n_anomalies", "roc_auc", "recall_at_threshold",
                              "precision_at_100", "precision_at_threshold", "n_flagged"]))
    overall = next((r for r in qrows if r["anomaly_kind"] == "all"), None)
    assert model is not None and sensor_auc and denoise and n_samples
    click.echo("\nReasons (main.eval_reasons): share whose top reason is a feature the kind changes: "
               + ", ".join(f"{k} {r:.2f} (top 3: {r3:.2f})" for k, r, r3 in reasons))
    if drift:
        click.echo(f"Score drift (main.monitor_score_drift): PSI > 0.25 in {drift[0]} of {drift[1]} "
                   f"weeks of the training window and {drift[2]} of {drift[3]} weeks after it "
                   f"(max {drift[4]})")
    click.echo(
        f"\nsensor faults (main.eval_sensor_detection): ROC-AUC {sensor_auc[0]}"
        f"\ndigits (main.digits_denoised): noisy MSE {denoise[0]:.4f} -> denoised "
        f"{denoise[1]:.4f} ({1 - denoise[1] / denoise[0]:.0%} closer to the clean images)"
        f"\nsynthetic digits from the VAE (main.digit_samples): {n_samples[0]} rows"
    )
    click.echo("\ntraining reports (loss curves, score histograms, latent maps, reasons):\n  "
               + "\n  ".join(str(p) for p in pages))
    click.echo(
        f"\nmodel {model[0]} ({'trained this run' if model[1] else 'reused: data and config unchanged'}); "
        f"ROC-AUC {overall['roc_auc'] if overall else 'n/a'}; {db}; {time.perf_counter() - t0:.0f}s"
    )


if __name__ == "__main__":
    main()
