"""An existing dbt-duckdb project adopts duckae: the plugin line in profiles.yml, the local
package for the macros, a python model that trains, a SQL model that scores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

pytestmark = pytest.mark.dbt

REPO = Path(__file__).resolve().parents[2]

PROFILES = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{db}"
      plugins:
        - module: udfs.plugin
"""

PROJECT = """\
name: shop
version: "1.0.0"
config-version: 2
profile: shop
flags:
  send_anonymous_usage_stats: false
"""

PACKAGES = f"""\
packages:
  - local: {REPO / 'dbt_duckae'}
"""

TRAIN = '''\
def model(dbt, session):
    dbt.config(materialized="table")
    from training.dbt_job import train_model

    return train_model(
        session,
        dbt.ref("orders"),
        name=dbt.config.get("ae_name"),
        key=dbt.config.get("ae_key"),
        features=dbt.config.get("ae_features"),
        params=dbt.config.get("ae_params"),
        train_config=dbt.config.get("ae_train"),
    )
'''

TRAIN_YML = """\
version: 2
models:
  - name: orders_autoencoder
    config:
      ae_name: orders
      ae_key: order_id
      ae_features: [basket_size, total, discount]
      ae_params: {hidden: [16], latent_dim: 2}
      ae_train: {epochs: 5, seed: 0}
"""

SCORED = """\
-- a table: a view would call ae_score at read time, on connections without the functions
{{ config(materialized='table') }}
-- depends_on: {{ ref('orders_autoencoder') }}
{%- set m = duckae.ae_model('orders') %}
select
    order_id,
    {{ m.version }} as model_version,
    ae_score('{{ m.ref }}', {{ duckae.ae_features('orders') }}) as score
from {{ ref('orders') }}
"""


def test_an_existing_project_adopts_duckae(tmp_path):
    proj = tmp_path / "shop"
    for d in ("models", "seeds"):
        (proj / d).mkdir(parents=True)
    db = tmp_path / "shop.duckdb"
    (proj / "profiles.yml").write_text(PROFILES.format(db=db))
    (proj / "dbt_project.yml").write_text(PROJECT)
    (proj / "packages.yml").write_text(PACKAGES)
    (proj / "models" / "orders_autoencoder.py").write_text(TRAIN)
    (proj / "models" / "orders_autoencoder.yml").write_text(TRAIN_YML)
    (proj / "models" / "scored_orders.sql").write_text(SCORED)
    rng = np.random.default_rng(0)
    size = rng.integers(1, 10, 400)
    total = size * rng.uniform(8, 12, 400)
    lines = ["order_id,basket_size,total,discount"] + [
        f"{i},{s},{t:.2f},{0.1 * t:.2f}" for i, (s, t) in enumerate(zip(size, total, strict=True))]
    lines[5] = "4,2,900.00,0.00"  # one order breaks the pattern
    (proj / "seeds" / "orders.csv").write_text("\n".join(lines) + "\n")
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
    env = dict(os.environ, DBT_LOG_PATH=str(tmp_path / "logs"))
    for args in (["deps"], ["build"]):
        proc = subprocess.run([dbt, *args, "--project-dir", str(proj), "--profiles-dir", str(proj)],
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT order_id, score FROM main.scored_orders ORDER BY score DESC").fetchall()
    con.close()
    assert len(rows) == 400 and rows[0][0] == 4
