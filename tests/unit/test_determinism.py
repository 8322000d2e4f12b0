"""Same data, config and seed give identical weights and scores, across processes and across
physical layouts of the same table."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np

from tests.conftest import FAST, FEATURES, load_manifold
from training.api import fit
from udfs import kernels

SCRIPT = textwrap.dedent("""
    import hashlib, sys, duckdb, numpy as np, torch
    torch.set_num_threads(1)
    from training.api import fit
    from udfs import kernels
    con = duckdb.connect(sys.argv[1], read_only=True)
    m = fit(con, sys.argv[2], {features}, key="id", train_config={fast})
    x = np.asarray(con.execute("SELECT {cols} FROM features ORDER BY id").fetchall(), dtype=np.float32)
    print(hashlib.sha256(m.weights_bytes()).hexdigest(), hashlib.sha256(kernels.score(m, x).tobytes()).hexdigest())
""")


def test_layout_of_the_table_does_not_change_the_model(con):
    load_manifold(con, n=1200)
    con.execute("CREATE TABLE shuffled AS SELECT * FROM features ORDER BY hash(id * 7919)")
    a = fit(con, "features", FEATURES, key="id", train_config=FAST)
    b = fit(con, "shuffled", FEATURES, key="id", train_config=FAST)
    assert a.weights_bytes() == b.weights_bytes()
    x = np.asarray(con.execute(f"SELECT {', '.join(FEATURES)} FROM features").fetchall(), dtype=np.float32)
    assert np.array_equal(kernels.score(a, x), kernels.score(b, x))


def test_identical_weights_and_scores_across_processes(con, db_path):
    load_manifold(con, n=1200)
    con.execute("CREATE TABLE shuffled AS SELECT * FROM features ORDER BY hash(id * 7919)")
    con.close()
    code = SCRIPT.format(features=FEATURES, fast=FAST, cols=", ".join(FEATURES))
    outs = [subprocess.run([sys.executable, "-c", code, str(db_path), table], capture_output=True,
                           text=True, check=True).stdout.split()
            for table in ("features", "features", "shuffled")]
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0]) == 2 and all(len(h) == len(hashlib.sha256().hexdigest()) for h in outs[0])
