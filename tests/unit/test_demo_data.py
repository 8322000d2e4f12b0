import duckdb

from training import demo_data
from training.demo_data import DemoConfig, generate


def test_generator_is_seeded_and_injects_each_kind():
    cfg = DemoConfig(n_rows=5000, seed=3)
    _, tx1, labels = generate(cfg)
    _, tx2, _ = generate(cfg)
    assert tx1.equals(tx2)
    assert 0.008 < labels["is_anomaly"].mean() < 0.012
    assert set(labels["anomaly_kind"].dropna()) == {"extreme_amount", "unusual_combination",
                                                    "velocity_burst"}
    assert "kind" not in tx1.columns and "is_anomaly" not in tx1.columns  # labels stay apart
    assert tx1["transaction_id"].is_unique


def test_load_skips_when_nothing_changed(tmp_path):
    con = duckdb.connect(str(tmp_path / "d.duckdb"))
    cfg = DemoConfig(n_rows=2000)
    assert demo_data.load(con, cfg) is True
    assert demo_data.load(con, cfg) is False
    assert demo_data.load(con, DemoConfig(n_rows=2000, seed=1)) is True
    n = con.execute("SELECT count(*) FROM raw.transactions").fetchall()[0][0]
    assert n == con.execute("SELECT count(*) FROM raw.transaction_labels").fetchall()[0][0]
