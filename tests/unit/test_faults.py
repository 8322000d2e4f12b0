"""Faults and concurrency: a killed training process leaves the whole version or none of it; a
second writer gets a clear message about the lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FAST, FEATURES, load_manifold
from training import registry

CHILD = textwrap.dedent("""
    import sys, time, duckdb, torch
    torch.set_num_threads(1)
    from training import registry
    from training.api import train
    mode = sys.argv[2]
    if mode == "in_transaction":
        def pause(name, version):
            print("IN_TRANSACTION", flush=True)
            time.sleep(60)
        registry._before_commit = pause
    con = duckdb.connect(sys.argv[1])
    print("TRAINING", flush=True)
    train(con, "crash", "features", {features}, key="id", train_config={cfg}, promote=True)
    print("DONE", flush=True)
""")


def _run_and_kill(db: Path, mode: str, marker: str | None, delay: float = 0.0) -> int:
    code = CHILD.format(features=FEATURES, cfg=FAST | {"epochs": 30, "patience": 30})
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), mode], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if marker is None:
        return proc.wait(timeout=300)
    for line in proc.stdout:
        if marker in line:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


def _consistent(db: Path) -> list[int]:
    """Every registered version loads (weights match their checksum) and every alias points at
    a version that exists; returns the versions."""
    con = duckdb.connect(str(db))
    try:
        registry.ensure_schema(con)
        versions = [r["version"] for r in registry.list_versions(con, "crash")]
        for v in versions:
            registry.load(con, f"crash@{v}")
        dangling = con.execute(
            "SELECT count(*) FROM duckae.model_aliases a LEFT JOIN duckae.model_versions v "
            "USING (name, version) WHERE v.name IS NULL").fetchall()[0][0]
        assert dangling == 0
        return versions
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_leaves_the_whole_version_or_none(db_path):
    con = duckdb.connect(str(db_path))
    load_manifold(con, n=3000)
    con.close()
    # killed inside the registration transaction, just before COMMIT: no version
    assert _run_and_kill(db_path, "in_transaction", "IN_TRANSACTION") == -signal.SIGKILL
    assert _consistent(db_path) == []
    # killed while training, at two points: no version
    for delay in (0.2, 1.5):
        assert _run_and_kill(db_path, "plain", "TRAINING", delay) == -signal.SIGKILL
        assert _consistent(db_path) == []
    # left alone: the whole version, promoted
    assert _run_and_kill(db_path, "plain", None) == 0
    assert _consistent(db_path) == [1]
    con = duckdb.connect(str(db_path))
    assert registry.resolve(con, "crash") == ("crash", 1)
    con.close()


def test_a_second_writer_gets_a_clear_message(db_path, con, registered):
    exe = shutil.which("duckae", path=str(Path(sys.executable).parent)) or "duckae"
    env = dict(os.environ)
    proc = subprocess.run([exe, "train", "--db", str(db_path), "--table", "features", "--name", "x",
                           "--key", "id"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "is open for writing in another process" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([exe, "models", "--db", str(db_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 1 and "Close that process" in proc.stderr
    assert registry.resolve(con, "demo") == ("demo", 1)  # the holder is unaffected
